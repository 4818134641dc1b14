"""Tools that only the tests enable (through `gateway.tool_modules`)."""

from __future__ import annotations

import asyncio

from gateway.tools import tool

CALLS: dict[str, int] = {"never_enabled": 0, "add": 0, "delete_note": 0}
DELETED: list[str] = []


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    CALLS["add"] += 1
    return a + b


@tool
def explode() -> str:
    """Always fails, with a secret in its traceback."""
    raise RuntimeError("secret-internal-detail /srv/app/db.py password=hunter2")


@tool
async def slow(seconds: float = 5.0) -> str:
    """Sleeps longer than any test's tool timeout."""
    await asyncio.sleep(seconds)
    return "done"


@tool
def never_enabled() -> str:
    """A tool no test config enables; counting calls proves it never runs."""
    CALLS["never_enabled"] += 1
    return "this must never run"


@tool(needs_approval=True)
def delete_note(title: str) -> dict[str, str]:
    """Delete a note: a person approves each call first."""
    CALLS["delete_note"] += 1
    DELETED.append(title)
    return {"deleted": title}
