"""The approval requests the gateway issued, and a decision checked against them.

A client answers an approval request by sending back the call and its decision. Only the
gateway's own record makes that safe: without it a client could "approve" a call the model
never made, with arguments of its choosing. So each request issued is remembered in a ledger
every replica shares (the chat store's: Redis, or this process's memory), under the client it
was issued to, with the tool's name, the call's id and a digest of its arguments. A decision
runs its call only if its approval id names such a record, for this client, not yet used, not
expired, and for the same tool, call and arguments; it uses the record up. (A decision that
names its call by the approval id alone, as the Responses API's do, is checked for the same
tool and arguments: the approval id, unguessable and used once, is what names the call.)
"""

from __future__ import annotations

import json
import secrets
from typing import Protocol

from gateway.approvals.decisions import ToolDecision, args_digest
from gateway.events import ToolCall

# What a ledger's claim gives for a record that was claimed before.
USED = ""


class ApprovalLedger(Protocol):
    async def remember(
        self, tenant: str, approval_id: str, record: str, ttl: int, max_pending: int
    ) -> None:
        """Keep `record` for `ttl` seconds; past `max_pending` of the tenant's, the oldest goes.
        Raises StoreFailed."""
        ...

    async def claim(self, tenant: str, approval_id: str) -> str | None:
        """The record, now marked used, atomically (of two claims one gets it); USED if it was
        claimed before; None if there is none (never issued to `tenant`, expired, pushed out).
        Raises StoreFailed."""
        ...


class IssuedApprovals:
    def __init__(self, ledger: ApprovalLedger, ttl: int, max_pending: int) -> None:
        self.ledger = ledger
        self.ttl = ttl
        self.max_pending = max_pending

    async def issue(self, tenant: str, call: ToolCall) -> str:
        """A new approval id for `call`, remembered for `tenant`. Raises StoreFailed."""
        # Not guessable: an id is only ever useful to the client it was issued to, but
        # nothing is gained by making ids that can be counted.
        approval_id = f"approval-{secrets.token_urlsafe(18)}"
        await self.ledger.remember(tenant, approval_id, _record(call), self.ttl, self.max_pending)
        return approval_id

    async def redeem(self, tenant: str, decision: ToolDecision) -> str | None:
        """Use up the approval `decision` answers: None if it may run, else why not (for the
        model and the client). Raises StoreFailed."""
        found = await self.ledger.claim(tenant, decision.approval_id)
        name = f"approval {decision.approval_id!r}"
        if found is None:
            return f"{name} is unknown or has expired; the tool was not run"
        if found == USED:
            return f"{name} was already used; the tool was not run"
        if not _same_call(found, decision):
            return (
                f"{name} was issued for another tool call (its tool, call id or arguments "
                "differ); the tool was not run"
            )
        return None


def _same_call(found: str, decision: ToolDecision) -> bool:
    if not decision.by_approval_id:
        return found == _record(decision.call)
    try:
        tool_name, _, digest = json.loads(found)
    except (TypeError, ValueError):
        return False
    return [tool_name, digest] == [decision.call.tool_name, args_digest(decision.call.args)]


def _record(call: ToolCall) -> str:
    return json.dumps(
        [call.tool_name, call.tool_call_id, args_digest(call.args)], separators=(",", ":")
    )
