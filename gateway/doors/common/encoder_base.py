"""What every wire encoder provides, and the one JSON dump they all share."""

from __future__ import annotations

import json
from typing import ClassVar, Protocol

from gateway.events import Event

# One encoder object, reused: json.dumps(..., ensure_ascii=False) would build a new one per call.
# ensure_ascii=False keeps non-ASCII text (the frontend's Chinese) byte-for-byte as UTF-8.
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class StreamEncoder(Protocol):
    """Turns one answer's events into bytes for one wire protocol. One instance per response."""

    media_type: ClassVar[str]
    headers: ClassVar[dict[str, str]]

    def encode(self, event: Event) -> bytes:
        """The bytes for `event`; b"" when the protocol has nothing to say about it."""
        ...

    def close(self) -> bytes:
        """Bytes that end the stream after the last event (b"" when there are none)."""
        ...


NO_BUFFERING = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
