"""What a model call costs in money, for spend budgets and the spend metric.

A deployment's price per token is, in this order: the one its `model_list` entry sets
(`input_cost_per_token` / `output_cost_per_token` in `litellm_params` or `model_info`, as LiteLLM
Proxy users write custom prices), or the one LiteLLM's local cost map has for its provider model.
A deployment with neither is free to the budgets; that is logged once per deployment, because
a budget that cannot see a cost is not enforcing anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import PRICE_FIELDS, Deployment, GatewayConfig
from gateway.events import Usage

log = logging.getLogger("gateway.pricing")


@dataclass(frozen=True)
class Price:
    """US dollars per token."""

    input_per_token: float
    output_per_token: float
    source: str  # "model_list entry" or "LiteLLM cost map", for check-config and logs

    def of(self, usage: Usage) -> float:
        return (
            usage.prompt_tokens * self.input_per_token
            + usage.completion_tokens * self.output_per_token
        )


def entry_price(values: Mapping[str, Any]) -> Price | None:
    """The price an entry's `litellm_params` or `model_info` sets, if it sets one."""
    if not any(name in values for name in PRICE_FIELDS):
        return None
    return Price(
        float(values.get("input_cost_per_token") or 0.0),
        float(values.get("output_cost_per_token") or 0.0),
        "model_list entry",
    )


def deployment_price(deployment: Deployment) -> Price | None:
    own = entry_price(deployment.params) or entry_price(deployment.model_info)
    if own is not None:
        return own
    provider_model = deployment.provider_model
    _, _, bare = provider_model.partition("/")
    for name in (provider_model, bare):
        if name and name in _COST_MAP:
            input_price, output_price = _COST_MAP[name]
            return Price(input_price, output_price, "LiteLLM cost map")
    return None


def _read_cost_map() -> dict[str, tuple[float, float]]:
    """LiteLLM's local cost map as it ships, read once when this module is imported.

    Read before any Router exists: every Router writes its deployments into
    `litellm.model_cost` (a model the map does not know gets an entry priced 0), so a later read
    would take an unpriced deployment for a free one.
    """
    import litellm

    prices = {}
    for name, entry in litellm.model_cost.items():
        if not isinstance(entry, dict):
            continue
        found = [entry.get(field) for field in PRICE_FIELDS]
        if any(isinstance(value, int | float) for value in found):
            prices[name] = (float(found[0] or 0.0), float(found[1] or 0.0))
    return prices


_COST_MAP = _read_cost_map()


class PriceList:
    """The prices of one config snapshot's deployments, by Router id (`<model ID>#<index>`)."""

    def __init__(self, config: GatewayConfig) -> None:
        self._by_deployment: dict[str, Price | None] = {}
        # A model ID's first callable deployment prices what cannot be traced to one.
        self._by_model: dict[str, str] = {}
        # What a call may cost before it is known which deployment answers: the highest.
        self._highest: dict[str, Price] = {}
        for deployment in config.deployments:
            router_id = f"{deployment.model_id}#{deployment.index}"
            price = self._by_deployment[router_id] = deployment_price(deployment)
            if not deployment.missing_env:
                self._by_model.setdefault(deployment.model_id, router_id)
            if price is not None:
                known = self._highest.get(deployment.model_id, price)
                self._highest[deployment.model_id] = Price(
                    max(known.input_per_token, price.input_per_token),
                    max(known.output_per_token, price.output_per_token),
                    "the model ID's highest",
                )
        self._unpriced_reported: set[str] = set()

    def price(self, model_id: str, deployment: str | None) -> Price | None:
        router_id = deployment if deployment in self._by_deployment else None
        router_id = router_id or self._by_model.get(model_id)
        if router_id is None:
            return None
        found = self._by_deployment[router_id]
        if found is None and router_id not in self._unpriced_reported:
            self._unpriced_reported.add(router_id)
            log.warning(
                "deployment %s has no price (set input_cost_per_token/output_cost_per_token in "
                "its model_list entry): spend budgets count its calls as free",
                router_id,
            )
        return found

    def highest(self, model_id: str) -> Price | None:
        """The highest price per token among `model_id`'s deployments (input and output each):
        before a call, any of them may answer it. None when none is priced."""
        return self._highest.get(model_id)

    def cost(self, model_id: str, deployment: str | None, usage: Usage) -> float:
        """US dollars for `usage` on `deployment` (0 when unpriced). Whether a call is billed at
        all (a cache hit is not) is the caller's to decide."""
        if not usage.total_tokens:
            return 0.0
        found = self.price(model_id, deployment)
        return found.of(usage) if found is not None else 0.0
