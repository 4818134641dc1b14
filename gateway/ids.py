"""Ids the gateway makes (messages, tool calls, responses): unique per process start, ordered."""

from __future__ import annotations

import itertools
import os

_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_id(kind: str) -> str:
    return f"{kind}-{_ID_PREFIX}{next(_ID_COUNTER):012x}"
