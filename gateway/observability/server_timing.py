"""Where a request's time went, as operators read it: the standard `Server-Timing` response
header (https://www.w3.org/TR/server-timing/), the same split in the request log and in metrics.

- `gateway`: the gateway's own time up to the response's first byte, i.e. everything but the
  waits on providers and tools: for a stream, until its headers went out (the first model
  call's wait for the provider's first byte taken off); for a JSON answer, the whole request
  less its model calls and tool rounds.
- `provider`: the first model call's time to the provider's first byte (its response headers
  for a stream, its whole answer for a JSON call).
- `tools`: the tool rounds before the first byte (JSON answers that ran tools).

A request with no model call (a refusal, /v1/models, /mcp) has `gateway` only.
"""

from __future__ import annotations

from gateway.observability.outcome import CallOutcome


def server_timing(outcome: CallOutcome | None, started: float, now: float) -> str:
    parts = [_metric("gateway", gateway_seconds(outcome, started, now))]
    if outcome is not None and outcome.provider_ttfb is not None:
        parts.append(_metric("provider", outcome.provider_ttfb, "provider time to first byte"))
    if outcome is not None and outcome.tool_seconds:
        parts.append(_metric("tools", outcome.tool_seconds))
    return ", ".join(parts)


def gateway_seconds(outcome: CallOutcome | None, started: float, now: float) -> float:
    waited = outcome.waited(now) if outcome is not None else 0.0
    return max(0.0, now - started - waited)


def _metric(name: str, seconds: float, description: str | None = None) -> str:
    text = f"{name};dur={seconds * 1000:.2f}"
    return f'{text};desc="{description}"' if description else text
