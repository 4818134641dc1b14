"""Spend budgets in money per API key: `max_budget` US dollars per `budget_duration`.

What an answer cost (see gateway/upstream/pricing.py) is counted where the rate limits are counted:
in Redis when REDIS_URL is set, so every replica sees one total, else in the process. The
count is kept in nano-dollars, integers the store adds exactly (a $10 budget is 10^10 units).
A window starts with the key's first spend and lasts `budget_duration`; then the count starts
again from zero.

What a call may cost (gateway/limits/spend_estimate.py) is reserved as the budget is checked,
and replaced by its real cost when it has run (gateway/limits/spend_ledger.py): a request is
refused with 429 `budget_exceeded` once what was spent and reserved reaches the budget.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

UNITS_PER_DOLLAR = 1_000_000_000
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def check_duration(text: str) -> str:
    """`text` if it is a duration like `30s`, `15m`, `12h`, `1d`, `30d`; else ValueError."""
    found = _DURATION.match(text)
    if found is None or int(found.group(1)) < 1:
        raise ValueError(f"{text!r} is not a duration like '1d', '30d', '12h' or '15m'")
    return text.strip()


@dataclass(frozen=True)
class SpendBudget:
    max_budget: float  # US dollars
    duration: str  # e.g. "30d"

    @property
    def units(self) -> int:
        return to_units(self.max_budget)

    @property
    def seconds(self) -> int:
        found = _DURATION.match(self.duration)
        assert found is not None, "checked when the key was loaded"
        return int(found.group(1)) * _SECONDS[found.group(2)]


def to_units(dollars: float) -> int:
    return round(dollars * UNITS_PER_DOLLAR)


@dataclass(frozen=True)
class BudgetState:
    """Where a key stands against its budget: what the headers and the refusal say."""

    budget: SpendBudget
    remaining_units: int
    # When the window ends; None before the window's first spend (it starts with that spend).
    reset_at: float | None

    @property
    def allowed(self) -> bool:
        return self.remaining_units > 0

    @property
    def remaining_dollars(self) -> float:
        return max(0, self.remaining_units) / UNITS_PER_DOLLAR

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Budget-Limit": _dollars(self.budget.max_budget),
            "X-Budget-Remaining": _dollars(self.remaining_dollars),
        }
        if self.reset_at is not None:
            headers["X-Budget-Reset"] = str(math.ceil(self.reset_at))
            if not self.allowed:
                headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers

    def refusal(self) -> str:
        resets = self.headers().get("Retry-After")
        when = f"; it starts again in {resets} s" if resets else ""
        return (
            f"spend budget used up: {_dollars(self.budget.max_budget)} USD per "
            f"{self.budget.duration}{when}"
        )


def _dollars(amount: float) -> str:
    # Six decimals: a cheap model's answer costs millionths of a dollar.
    return f"{amount:.6f}"
