"""Prometheus metrics: defined once here, incremented where things happen, served at /metrics.

Across several worker processes (uvicorn --workers N) prometheus-client's multiprocess mode
sums what every worker counted: `gateway serve` sets PROMETHEUS_MULTIPROC_DIR for that before
any worker starts, and /metrics then reads the whole directory.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

IN_FLIGHT = Gauge(
    "gateway_requests_in_flight",
    "Requests being answered now (streams included), summed over workers.",
    multiprocess_mode="livesum",
)
REQUESTS = Counter(
    "gateway_requests",
    "Requests answered, by route, model ID, protocol and HTTP status.",
    ["route", "model", "protocol", "status"],
)
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "Time from request to the last byte of the response.",
    ["route", "model", "protocol"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "gateway_time_to_first_token_seconds",
    "Time from request to the answer's first text, reasoning or tool-call part.",
    ["model", "protocol"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
OWN_TIME = Histogram(
    "gateway_own_time_seconds",
    "The gateway's own time per request: the whole request less its waits on providers and "
    "tools (the Server-Timing header's gateway part, over the whole answer).",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
PROVIDER_TTFB = Histogram(
    "gateway_provider_ttfb_seconds",
    "The first model call's time to the provider's first byte (its response headers, or its "
    "whole answer for a JSON call).",
    ["model"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
TOKENS = Counter(
    "gateway_tokens",
    "Tokens reported in answers: direction is prompt or completion; cached says whether the "
    "answer came from the response cache.",
    ["model", "direction", "cached"],
)
CACHE_LOOKUPS = Counter(
    "gateway_cache_lookups", "Response cache results per model call.", ["model", "result"]
)
RATE_LIMIT_REFUSALS = Counter(
    "gateway_rate_limit_refusals",
    "Requests refused with 429: kind is requests, tokens or budget (money).",
    ["model", "kind"],
)
SPEND = Counter(
    "gateway_spend_dollars",
    "What providers' answers cost in US dollars, priced per deployment (the model_list "
    "entry's price or LiteLLM's cost map); cache hits cost nothing.",
    ["model"],
)
UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors",
    "Provider failures by error type.",
    ["model", "kind"],
)
CHAT_ANSWERS_RUNNING = Gauge(
    "gateway_chat_answers_running",
    "Chat answers being produced now, with or without a reader, summed over workers.",
    multiprocess_mode="livesum",
)
CHAT_ANSWERS = Counter(
    "gateway_chat_answers",
    "Chat answers ended, by how: done, stopped or failed.",
    ["state"],
)
CONNECTIONS_REFUSED = Counter(
    "gateway_connections_refused",
    "Connections refused by a cap: client_connections and incomplete_heads (per client "
    "address, closed unanswered), connection_cap (GATEWAY_MAX_CONNECTIONS, answered 503).",
    ["reason"],
)
BACKGROUND_TASKS = Gauge(
    "gateway_background_tasks",
    "Background tasks alive now, by kind (gateway/tasks.py), summed over workers: a kind that "
    "keeps rising while its work does not is a leak.",
    ["kind"],
    multiprocess_mode="livesum",
)
CONFIG_RELOADS = Counter(
    "gateway_config_reloads", "YAML reloads: applied, unchanged or refused.", ["result"]
)
# Every worker runs its own MCP connections: up only if every worker's is up.
MCP_SERVER_UP = Gauge(
    "gateway_mcp_server_up",
    "1 when the MCP server is connected and its tools are offered (in every worker), else 0.",
    ["server"],
    multiprocess_mode="livemin",
)
MCP_TOOLS = Gauge(
    "gateway_mcp_tools",
    "Tools the MCP server offers now (after allowed_tools), the fewest any worker sees.",
    ["server"],
    multiprocess_mode="livemin",
)
MCP_RESTARTS = Counter(
    "gateway_mcp_restarts",
    "Times an MCP server's connection was started again after it failed or died.",
    ["server"],
)
MCP_TOOL_CALLS = Counter(
    "gateway_mcp_tool_calls",
    "MCP tool calls, by server and outcome (ok, error: the tool said so, failed: the server "
    "was away or broke, timeout).",
    ["server", "outcome"],
)


def exposition() -> tuple[bytes, str]:
    """The text /metrics serves: this process's metrics, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
