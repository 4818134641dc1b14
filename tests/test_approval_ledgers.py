"""The ledger of issued approval requests (gateway/approvals/), in memory and in a real
redis-server: a decision is accepted once, for the client it was issued to, for the same tool,
call and arguments, before it expires; each client keeps at most `max_pending`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.approvals import ApprovalLedger, IssuedApprovals, ToolDecision
from gateway.approvals import ledgers as ledger_module
from gateway.chats.store import MemoryChatStore, RedisChatStore
from gateway.events import ToolCall
from tests.support.redis_server import RedisServer

DELETE = ToolCall("call_1", "delete_note", {"title": "groceries", "n": 2.0})
Check = Callable[[IssuedApprovals, list[float]], Awaitable[None]]


def approve(call: ToolCall, approval_id: str, **changes: Any) -> ToolDecision:
    fields = {"tool_call_id": call.tool_call_id, "tool_name": call.tool_name, "args": call.args}
    return ToolDecision(ToolCall(**{**fields, **changes}), approval_id, approved=True)


class Scoped:
    """A ledger whose tenants are this test's own (the session's redis-server is shared)."""

    def __init__(self, ledger: ApprovalLedger) -> None:
        self._ledger = ledger
        self._prefix = uuid.uuid4().hex

    async def remember(self, tenant: str, *args: Any) -> None:
        await self._ledger.remember(f"{self._prefix}-{tenant}", *args)

    async def claim(self, tenant: str, approval_id: str) -> str | None:
        return await self._ledger.claim(f"{self._prefix}-{tenant}", approval_id)


@pytest.fixture(params=["memory", "redis"])
def run_with_ledger(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Check], None]:
    """Run a check against a fresh ledger; `clock[0]` is the time it reads, in seconds."""

    def run(check: Check) -> None:
        clock = [1_000_000.0]

        async def main() -> None:
            if request.param == "memory":
                store: Any = MemoryChatStore(100, now=lambda: clock[0])
            else:
                server: RedisServer = request.getfixturevalue("redis_server")
                monkeypatch.setattr(ledger_module, "_now_ms", lambda: int(clock[0] * 1000))
                store = RedisChatStore(server.url, 2.0)
            try:
                ledger = Scoped(store.approvals)
                await check(IssuedApprovals(ledger, ttl=60, max_pending=3), clock)
            finally:
                await store.aclose()

        asyncio.run(main())

    return run


def test_a_decision_is_accepted_once(run_with_ledger: Callable[[Check], None]) -> None:
    async def check(issued: IssuedApprovals, clock: list[float]) -> None:
        approval = await issued.issue("alice", DELETE)
        # A JSON round trip through JavaScript writes 2.0 back as 2: the same arguments.
        assert (
            await issued.redeem(
                "alice", approve(DELETE, approval, args={"n": 2, "title": "groceries"})
            )
            is None
        )
        assert "was already used" in (await issued.redeem("alice", approve(DELETE, approval)) or "")

    run_with_ledger(check)


def test_only_the_call_it_was_issued_for(run_with_ledger: Callable[[Check], None]) -> None:
    async def check(issued: IssuedApprovals, clock: list[float]) -> None:
        for changes in (
            {"args": {"title": "everything"}},
            {"tool_name": "drop_db"},
            {"tool_call_id": "call_9"},
        ):
            approval = await issued.issue("alice", DELETE)
            problem = await issued.redeem("alice", approve(DELETE, approval, **changes))
            assert problem is not None and "was issued for another tool call" in problem
            # The forged try used it up: the real one is refused too, and must be asked again.
            assert "was already used" in (
                await issued.redeem("alice", approve(DELETE, approval)) or ""
            )

    run_with_ledger(check)


def test_only_for_the_client_it_was_issued_to(run_with_ledger: Callable[[Check], None]) -> None:
    async def check(issued: IssuedApprovals, clock: list[float]) -> None:
        approval = await issued.issue("alice", DELETE)
        assert "is unknown" in (await issued.redeem("bob", approve(DELETE, approval)) or "")
        assert await issued.redeem("alice", approve(DELETE, approval)) is None

    run_with_ledger(check)


def test_not_after_it_expired(run_with_ledger: Callable[[Check], None]) -> None:
    async def check(issued: IssuedApprovals, clock: list[float]) -> None:
        kept = await issued.issue("alice", DELETE)
        clock[0] += 59
        assert await issued.redeem("alice", approve(DELETE, kept)) is None
        late = await issued.issue("alice", DELETE)
        clock[0] += 61
        assert "is unknown or has expired" in (
            await issued.redeem("alice", approve(DELETE, late)) or ""
        )

    run_with_ledger(check)


def test_each_client_keeps_its_newest_requests(run_with_ledger: Callable[[Check], None]) -> None:
    async def check(issued: IssuedApprovals, clock: list[float]) -> None:
        bobs = await issued.issue("bob", DELETE)
        ids = []
        for _ in range(4):
            clock[0] += 1
            ids.append(await issued.issue("alice", DELETE))
        assert "is unknown" in (await issued.redeem("alice", approve(DELETE, ids[0])) or "")
        for approval in ids[1:]:
            assert await issued.redeem("alice", approve(DELETE, approval)) is None
        assert await issued.redeem("bob", approve(DELETE, bobs)) is None  # alice's cap is hers

    run_with_ledger(check)


def test_the_yaml_names_what_requires_approval(tmp_path: Path) -> None:
    from gateway.catalog import GATEWAY_CATALOG
    from gateway.config import ConfigError, parse_config

    text = (
        "model_list:\n  - model_name: chat-model\n    litellm_params: {model: demo/echo}\n"
        "gateway:\n  require_approval: [get_weather, 'mcp__nope__*', get_wether]\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, tmp_path / "models.yaml", GATEWAY_CATALOG)
    found = [p.render(Path("models.yaml")) for p in caught.value.problems]
    assert found == [
        "models.yaml:5: gateway.require_approval[1]: no MCP server 'nope' in mcp_servers",
        "models.yaml:5: gateway.require_approval[2]: unknown tool 'get_wether'; did you mean "
        "'get_weather'?",
    ]
