"""Which stream protocol a request reads: `?protocol=`, else `x-stream-protocol`, else a default."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from gateway.doors.common.encoder_base import StreamEncoder
from gateway.doors.frontend.stream_protocols import DEFAULT_PROTOCOL, STREAM_PROTOCOLS
from gateway.doors.frontend.ui_message_stream_encoder import UIMessageStreamEncoder
from gateway.errors import UnknownProtocol


def choose_encoder(request: Request) -> tuple[str, StreamEncoder]:
    """`?protocol=` wins over the `x-stream-protocol` header; the line format is the default."""
    name = choose_protocol(request, DEFAULT_PROTOCOL)
    return name, STREAM_PROTOCOLS[name]()


def choose_protocol(request: Request, default: str) -> str:
    name = request.query_params.get("protocol") or request.headers.get("x-stream-protocol")
    name = (name or default).strip().lower()
    if name not in STREAM_PROTOCOLS:
        raise UnknownProtocol(f"unknown protocol {name!r}; valid: {', '.join(STREAM_PROTOCOLS)}")
    return name


def make_encoder(name: str, start_metadata: dict[str, Any] | None) -> StreamEncoder:
    """An encoder for protocol `name`; the UI message stream also carries `start_metadata`."""
    if name == "ui-message-stream":
        return UIMessageStreamEncoder(start_metadata)
    return STREAM_PROTOCOLS[name]()
