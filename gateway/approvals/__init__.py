"""Tools that ask first: a call of a tool that needs approval is not run when the model makes
it; the answer pauses with an approval request, and the next request carries the decision.

- `decisions.py`: a decided call (ToolDecision) and what the model reads for a denied one.
- `issued.py`: every approval request the gateway issued, remembered per client in a shared
  ledger (any replica can check a decision), and a decision checked against it.
- `ledgers.py`: that ledger in process memory or in Redis: bounded per client, expiring.
- `tool_rounds.py`: the engine's tool round: the calls that may run, run; the others asked;
  and the decided calls of a paused answer, run or answered as denied.
"""

from gateway.approvals.decisions import ToolDecision
from gateway.approvals.issued import ApprovalLedger, IssuedApprovals
from gateway.approvals.ledgers import MemoryApprovalLedger, RedisApprovalLedger
from gateway.approvals.tool_rounds import ToolRound, ToolRounds

__all__ = [
    "ApprovalLedger",
    "IssuedApprovals",
    "MemoryApprovalLedger",
    "RedisApprovalLedger",
    "ToolDecision",
    "ToolRound",
    "ToolRounds",
]
