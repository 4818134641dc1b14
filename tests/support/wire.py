"""Parsers of what the gateway streams: the frontend line format and SSE, read strictly."""

from __future__ import annotations

import json
from typing import Any

import httpx


def parse_lines(body: str) -> list[tuple[str, Any]]:
    """The frontend line format, `CODE:JSON` per line, parsed strictly."""
    parts = []
    for line in body.split("\n"):
        if not line:
            continue
        code, _, payload = line.partition(":")
        parts.append((code, json.loads(payload)))
    return parts


def parse_data_stream(body: str) -> list[tuple[str, Any]]:
    return parse_lines(body)


def parse_sse(body: str) -> list[Any]:
    events = [block.removeprefix("data: ") for block in body.split("\n\n") if block]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def summary_of(protocol: str, body: str) -> dict[str, Any]:
    """Text, tool calls and results, read from one /api/chat protocol's bytes."""
    text, calls, results = [], [], []
    if protocol == "typed":
        for code, part in parse_lines(body):
            if code == "0":
                text.append(part["textDelta"])
            elif code == "9":
                calls.append((part["toolCallId"], part["toolName"], part["args"]))
            elif code == "a":
                results.append((part["toolCallId"], part["result"]))
    elif protocol == "data-stream":
        for code, part in parse_data_stream(body):
            if code == "0":
                text.append(part)
            elif code == "9":
                calls.append((part["toolCallId"], part["toolName"], part["args"]))
            elif code == "a":
                results.append((part["toolCallId"], part["result"]))
    else:
        for chunk in parse_sse(body):
            if chunk["type"] == "text-delta":
                text.append(chunk["delta"])
            elif chunk["type"] == "tool-input-available":
                calls.append((chunk["toolCallId"], chunk["toolName"], chunk["input"]))
            elif chunk["type"] == "tool-output-available":
                results.append((chunk["toolCallId"], chunk["output"]))
    return {"text": "".join(text), "calls": calls, "results": results}


def answer_text(response: httpx.Response) -> str:
    """The text of a line-format (/api/chat's default protocol) answer."""
    return "".join(part["textDelta"] for code, part in parse_lines(response.text) if code == "0")
