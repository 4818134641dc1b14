"""The engine's tool round, with approvals: the calls of a model step that may run, run (all at
once, gateway/tools/runner.py); each call of a tool that asks first is not run but asked about
(a ToolApprovalRequest, remembered in the ledger), and then the answer pauses. The next request
brings the decisions: an approved call whose request the gateway issued runs, if its tool is
still offered to the call; a denied one is answered as denied; a decision the gateway cannot
match to a request it issued is answered with an error. The model reads all three.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from gateway.approvals.decisions import ToolDecision, denied_result
from gateway.approvals.issued import IssuedApprovals
from gateway.cache.stores import StoreFailed
from gateway.config.options import GatewayOptions
from gateway.events import ToolApprovalRequest, ToolCall, ToolResult
from gateway.tools import ServerTool, ToolContext
from gateway.tools.runner import run_tool_calls

log = logging.getLogger("gateway.approvals")


@dataclass
class ToolRound:
    """What one round did: the results of the calls that ran (or failed), in the calls' order,
    and the approval requests of those that wait (when any do, the answer pauses)."""

    results: list[ToolResult] = field(default_factory=list)
    requests: list[ToolApprovalRequest] = field(default_factory=list)

    @property
    def paused(self) -> bool:
        return bool(self.requests)


class ToolRounds:
    """One engine's way of running tools: their shared HTTP client, their options, the
    approvals it issued."""

    def __init__(self, options: GatewayOptions, approvals: IssuedApprovals) -> None:
        self._options = options
        self.approvals = approvals
        self._http: httpx.AsyncClient | None = None

    def context(self, tool: ServerTool) -> ToolContext:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._options.tool_timeout)
        return ToolContext(self._http, self._options.tool_options.get(tool.name, {}))

    async def aclose(self) -> None:
        client, self._http = self._http, None
        if client is not None:
            await client.aclose()

    @staticmethod
    def asks(calls: Sequence[ToolCall], asking: frozenset[str]) -> bool:
        """Will a round of `calls` pause for approval? (A call whose arguments are not JSON is
        not asked about: it fails as it would anyway.)"""
        return any(call.tool_name in asking and call.args is not None for call in calls)

    async def run(
        self,
        calls: Sequence[ToolCall],
        tools: Mapping[str, ServerTool],
        asking: frozenset[str],
        tenant: str,
    ) -> ToolRound:
        done = ToolRound()
        waiting = [c for c in calls if c.tool_name in asking and c.args is not None]
        ready = [c for c in calls if c not in waiting]
        ran = await self._run(ready, tools)
        results = {result.tool_call_id: result for result in ran}
        for call in waiting:
            try:
                approval_id = await self.approvals.issue(tenant, call)
            except StoreFailed as exc:
                log.warning("approval for %s not stored: %s", call.tool_name, exc)
                message = "its approval request could not be stored; the tool was not run"
                results[call.tool_call_id] = _failed(call, message)
                continue
            done.requests.append(
                ToolApprovalRequest(approval_id, call.tool_call_id, call.tool_name, call.args or {})
            )
        done.results = [results[c.tool_call_id] for c in calls if c.tool_call_id in results]
        return done

    async def decided(
        self, decisions: Sequence[ToolDecision], tools: Mapping[str, ServerTool], tenant: str
    ) -> list[ToolResult]:
        """The results of a paused answer's decided calls, in the decisions' order."""
        results: dict[str, ToolResult] = {}
        approved: list[ToolCall] = []
        for decision in decisions:
            call = decision.call
            try:
                problem = await self.approvals.redeem(tenant, decision)
            except StoreFailed as exc:
                log.warning("approval %s not checked: %s", decision.approval_id, exc)
                problem = "the approval could not be checked (the store is unavailable)"
            if not decision.approved:
                results[call.tool_call_id] = denied_result(decision)  # run or not, it is not
            elif problem is not None:
                results[call.tool_call_id] = _failed(call, problem)
            else:
                approved.append(call)
        # The runner checks each approved tool is still offered to this call.
        for result in await self._run(approved, tools):
            results[result.tool_call_id] = result
        return [results[d.call.tool_call_id] for d in decisions]

    async def _run(
        self, calls: Sequence[ToolCall], tools: Mapping[str, ServerTool]
    ) -> list[ToolResult]:
        if not calls:
            return []
        return await run_tool_calls(calls, tools, self.context, self._options.tool_timeout)


def _failed(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call.tool_call_id, call.tool_name, {"error": message}, is_error=True)
