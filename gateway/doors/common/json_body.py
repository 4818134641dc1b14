"""Request bodies read once, strictly, the same way for every door, before any schema sees them.

Python's JSON parser is lenient where a gateway must not be: it keeps the last of two equal keys
(the schema checks one value, a proxy in front may have read the other), reads NaN and Infinity,
turns "\\ud800" into a lone surrogate no encoder can send on, builds integers of any size, and
fails without saying where on deep nesting, huge numbers or bytes that are not UTF-8. Here a
body is a JSON object in UTF-8 with unique keys, at most MAX_DEPTH levels deep, finite numbers,
64-bit integers and valid Unicode text, or a 4xx that names the field (`body` for the whole).

The common case stays fast: the C parser builds the objects (a pairs hook only counts keys), one
loop checks every value, and the path to a problem is worked out only once there is one.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Callable
from typing import Any

from gateway.errors import InvalidRequest, UnsupportedMediaType

# Deep enough for any real JSON Schema or tool output; shallow enough that nothing downstream
# (pydantic, LiteLLM, the stores) comes near Python's recursion limit.
MAX_DEPTH = 128
# What JSON carries between systems that read integers as 64 bits (signed, or unsigned).
INT_MIN, INT_END = -(2**63), 2**64
# A path is shown with at most this many parts (deep nesting would make it thousands long).
_SHOWN_PARTS = 12
_SHOWN_KEY_CHARS = 64

Path = tuple[str | int, ...]


def field_path(parts: Path | list[str | int]) -> str:
    """`messages[0].content`, from ("messages", 0, "content"); `body` for the whole body."""
    where = ""
    for part in parts[:_SHOWN_PARTS]:
        if isinstance(part, int):
            where += f"[{part}]"
        else:
            # The error's own text must be sendable too, and short.
            name = part.encode("utf-8", "backslashreplace").decode("utf-8")
            if len(name) > _SHOWN_KEY_CHARS:
                name = name[:_SHOWN_KEY_CHARS] + "…"
            where += f".{name}" if where else name
    if len(parts) > _SHOWN_PARTS:
        where += "…"
    return where or "body"


def _refused(parts: Path | list[str | int], problem: str) -> InvalidRequest:
    """The client's mistake at `parts` (the whole body for none), naming the field."""
    where = field_path(parts)
    return InvalidRequest(f"{where}: {problem}", param=where)


def check_content_type(content_type: str | None) -> None:
    """A body is JSON: application/json, or any application/*+json."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    given = f"it was sent as {media_type!r}" if media_type else "it was sent without one"
    raise UnsupportedMediaType(
        f"body: must be JSON, sent with Content-Type: application/json ({given})", param="body"
    )


def read_object(raw: bytes) -> dict[str, Any]:
    """The body as a dict, or InvalidRequest naming what is wrong and where."""
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8")
        raise _refused(
            _path_at(before), f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    start = _FIRST_CHARACTER.match(text)
    if start is None:
        raise _refused((), "field required: the request body must be a JSON object")
    if start.group(1) == "[":  # said before parsing: an array may be too deep to parse
        raise _refused((), "must be a JSON object, not an array")
    try:
        body = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        where = _path_at(text[: exc.pos])
        inside = f" (in {field_path(where)})" if where else ""
        raise _refused(
            (), f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{inside}"
        ) from None
    except RecursionError:  # deeper than the C parser goes: far past MAX_DEPTH
        raise _refused(_path_where(text, _too_deep)[:MAX_DEPTH], _TOO_DEEP) from None
    except ValueError:  # an integer of more digits than Python converts (sys.int_max_str_digits)
        raise _refused(_path_where(text, _huge_number), _OUT_OF_RANGE) from None
    if not isinstance(body, dict):
        raise _refused((), f"must be a JSON object, not {_json_type(body)}")
    _check_values(body, may_hold_surrogates=_SURROGATE_ESCAPE.search(text) is not None)
    return body


_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
_OUT_OF_RANGE = "Input should be an integer that fits in 64 bits"
_FIRST_CHARACTER = re.compile(r"\s*(\S)")
# A lone surrogate can only arrive as an escape: UTF-8 cannot encode one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _DuplicateKeys(dict[str, Any]):
    """An object whose text held a key twice; the check of values names it, with its path."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                self.duplicate = key
                break
            seen.add(key)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    return body if len(body) == len(pairs) else _DuplicateKeys(pairs)


def _check_values(body: dict[str, Any], *, may_hold_surrogates: bool) -> None:
    """One loop over every value; a container's path is a linked pair, built once per container."""
    stack: list[tuple[Any, Any, int]] = [(body, None, 1)]
    while stack:
        container, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _refused(_unlink(path), _TOO_DEEP)
        kind = type(container)
        if kind is _DuplicateKeys:
            raise _refused(
                (*_unlink(path), container.duplicate), "the key appears twice in its object"
            )
        if kind is list and container and not may_hold_surrogates:
            kinds = set(map(type, container))
            if kinds == {int} and min(container) >= INT_MIN and max(container) < INT_END:
                continue  # a token array: checked whole, in C
            if kinds == {str}:
                continue
        items = container.items() if kind is not list else enumerate(container)
        for key, value in items:
            if may_hold_surrogates and kind is not list:
                _check_text(path, key, key, "the key")
            value_kind = type(value)
            if value_kind is dict or value_kind is list or value_kind is _DuplicateKeys:
                stack.append((value, (path, key), depth + 1))
            elif value_kind is str:
                if may_hold_surrogates:
                    _check_text(path, key, value, "Input")
            elif value_kind is int:
                if not INT_MIN <= value < INT_END:
                    raise _refused((*_unlink(path), key), _OUT_OF_RANGE)
            elif value_kind is float and not math.isfinite(value):
                raise _refused(
                    (*_unlink(path), key),
                    f"Input should be a finite number, not {json.dumps(value)}",
                )


def _check_text(path: Any, key: str | int, text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start].encode("utf-8", "backslashreplace").decode("ascii")
        raise _refused(
            (*_unlink(path), key),
            f"{what} should be valid Unicode text: it holds a lone surrogate ({bad})",
        ) from None


def _unlink(path: Any) -> Path:
    parts: list[str | int] = []
    while path is not None:
        path, part = path
        parts.append(part)
    return tuple(reversed(parts))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


# --- where a problem the parser cannot place is --------------------------------------------------

# Strings (with a trailing colon: an object's key; unclosed: the text ends in one), numbers and
# structure; whitespace and literals between them are skipped.
_TOKENS = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*(?:"(?:\s*:)?|\Z)|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[\[\]{},]'
)


def _path_at(text: str) -> Path:
    """The path of the value being written where `text` (a prefix of the body) ends."""
    return _path_where(text, lambda token, depth: False)


def _path_where(text: str, stop: Callable[[str, int], bool]) -> Path:
    """The path of the value where `stop(token, depth)` first holds, or at the end of `text`."""
    frames: list[str | int | None] = []  # per open container: its key (None before one) or index
    for match in _TOKENS.finditer(text):
        token = match.group()
        first = token[0]
        if first == "{" or first == "[":
            frames.append(None if first == "{" else 0)
        elif first == "}" or first == "]":
            if frames:
                frames.pop()
        elif first == "," and frames and isinstance(frames[-1], int):
            frames[-1] += 1
        elif first == '"' and token.endswith(":") and frames:
            frames[-1] = _key(token)
        if stop(token, len(frames)):
            break
    return tuple(part for part in frames if part is not None)


def _key(token: str) -> str:
    quoted = token[:-1].rstrip()
    try:
        return str(json.loads(quoted))
    except ValueError:  # an escape JSON does not have: the key as written
        return quoted[1:-1]


def _too_deep(token: str, depth: int) -> bool:
    return depth > MAX_DEPTH


def _huge_number(token: str, depth: int) -> bool:
    digits = token.removeprefix("-")
    return digits.isdigit() and (len(digits) > 20 or not INT_MIN <= int(token) < INT_END)
