"""deploy/grafana/dashboards/llm-gateway.json queries only what the gateway exports.

Every PromQL expression of the dashboard (panel targets and template variables) is taken apart
by a small reader (`read_promql`): the metric names it selects, the labels it matches on, the
labels it groups by and the functions it calls. A real gateway then answers a few requests (a
stream, a plain answer, a chat by id, a cache hit, a rate-limit refusal, a provider failure, a
reload) so its labelled series exist, and its /metrics, parsed by prometheus-client's own
parser, must carry every one of those series with those labels. Only `up` and the target labels
`instance` and `job` come from Prometheus instead; `job` must be the one deploy/prometheus.yml
names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.configs import config_for, model_entry
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway
from tests.support.mcp_servers import fake_server_params
from tests.support.polling import ready, wait_until

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "llm-gateway.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"

# Labels Prometheus attaches to every series it scrapes, and the series it makes per target.
TARGET_LABELS = frozenset({"instance", "job"})
PROMETHEUS_SERIES = {"up": TARGET_LABELS}

AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk"}
    | {"topk", "quantile", "limitk", "limit_ratio"}
)
FUNCTIONS = frozenset(
    {"abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min"}
    | {"day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp"}
    | {"floor", "histogram_quantile", "histogram_count", "histogram_sum", "histogram_fraction"}
    | {"holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace"}
    | {"ln", "log2", "log10", "minute", "month", "predict_linear", "rate", "resets", "round"}
    | {"scalar", "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year"}
    | {"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time"}
    | {"quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time"}
    | {"present_over_time"}
)
# Words that are part of PromQL's grammar, not series: binary operators and modifiers.
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"and", "or", "unless", "atan2", "inf", "nan"}
)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_MATCHER = re.compile(rf"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*(?:,|$)")
_TOKEN = re.compile(
    rf"(?P<string>{_STRING})"
    r"|(?P<range>\[[^\]]*\])"
    r"|(?P<braces>\{[^{}]*\})"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?)"
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)"
    r"|(?P<space>\s+)"
    r"|(?P<other>[-+*/%^()<>=!,])"
)


@dataclass
class Selector:
    metric: str
    # (label, operator, value) of each matcher inside {...}
    matchers: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Query:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # labels of by/without/on/ignoring/...
    by: set[str] = field(default_factory=set)  # what `by (...)` keeps: the result's labels
    calls: set[str] = field(default_factory=set)


def read_promql(expr: str) -> Query:
    """The series, labels and functions of one PromQL expression (Grafana variables allowed)."""
    query = Query()
    for clause, labels in _GROUPING.findall(expr):
        names = {name.strip() for name in labels.split(",") if name.strip()}
        for name in names:
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), f"bad label {name!r} in {expr}"
        query.grouping |= names
        if clause == "by":
            query.by |= names
    # The label lists are read: blank them so their names are not taken for series.
    text = _GROUPING.sub(lambda m: f"{m[1]} ()", expr)
    tokens = [
        (m.lastgroup, m[0]) for m in _TOKEN.finditer(text) if m.lastgroup not in ("space", None)
    ]
    assert _covers(text), f"unreadable PromQL: {expr}"
    for index, (kind, token) in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else (None, "")
        if kind == "braces":
            previous = tokens[index - 1] if index else (None, "")
            if previous[0] != "name" or previous[1] in KEYWORDS | AGGREGATIONS | FUNCTIONS:
                raise AssertionError(f"a selector without a metric name in {expr}")
            continue
        if kind != "name":
            continue
        if token in KEYWORDS:
            continue
        if token in AGGREGATIONS:
            query.calls.add(token)
        elif following[1] == "(":
            assert token in FUNCTIONS, f"unknown PromQL function {token!r} in {expr}"
            query.calls.add(token)
        else:
            selector = Selector(token)
            if following[0] == "braces":
                selector.matchers = _matchers(following[1][1:-1], expr)
            query.selectors.append(selector)
    return query


def _covers(text: str) -> bool:
    """Every non-space character of `text` is part of some token (nothing skipped)."""
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() != position:
            return False
        position = match.end()
    return position == len(text)


def _matchers(inside: str, expr: str) -> list[tuple[str, str, str]]:
    found, position = [], 0
    while position < len(inside.rstrip()):
        match = _MATCHER.match(inside, position)
        assert match, f"unreadable label matchers {{{inside}}} in {expr}"
        label, operator, value = match.groups()
        found.append((label, operator, value[1:-1]))
        position = match.end()
    return found


# --- checking a query against an exposition ------------------------------------------------------


Exported = dict[str, dict[str, set[str]]]  # series name -> label -> values seen


def exported_series(text: str) -> Exported:
    """Every sample name in Prometheus text, with the labels (and their values) it carries."""
    series: Exported = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = series.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                labels.setdefault(label, set()).add(value)
    return series


def problems(expr: str, exported: Exported, job: str) -> list[str]:
    """Why `expr` would show nothing (or something else) on a gateway exporting `exported`."""
    query = read_promql(expr)
    found: list[str] = []
    if not query.selectors:
        found.append(f"no series in {expr}")
    for selector in query.selectors:
        if selector.metric in PROMETHEUS_SERIES:
            labels: dict[str, set[str]] = {key: set() for key in PROMETHEUS_SERIES[selector.metric]}
        elif selector.metric in exported:
            labels = exported[selector.metric]
        else:
            found.append(f"{selector.metric} is not exported by the gateway")
            continue
        known = set(labels) | TARGET_LABELS
        # The values the gateway was seen to give each label (none known for target labels).
        seen = {label: values for label, values in labels.items() if values}
        for label, operator, value in selector.matchers:
            if label not in known:
                found.append(f"{selector.metric} has no label {label!r}")
            elif label == "job" and operator == "=" and value != job:
                found.append(f'job="{value}" but deploy/prometheus.yml names job {job!r}')
            elif operator == "=" and "$" not in value and value not in seen.get(label, {value}):
                found.append(f"{selector.metric}{{{label}={value!r}}} never seen")
        for label in query.grouping - known:
            found.append(f"{selector.metric} has no label {label!r} to group by")
    return found


# --- the dashboard -------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target)
        for panel in all_panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable, PromQL, label) of each `label_values(expr, label)` template variable."""
    found = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", text)
        assert match, f"variable {variable['name']}: only label_values(expr, label) is checked"
        found.append((variable["name"], match[1], match[2]))
    return found


def prometheus_job() -> str:
    (job,) = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))["scrape_configs"]
    return str(job["job_name"])


def provisioned_uid() -> str:
    (source,) = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    assert source["type"] == "prometheus"
    return str(source["uid"])


# --- the reader itself ---------------------------------------------------------------------------


def test_the_reader_finds_series_labels_and_functions() -> None:
    query = read_promql(
        'histogram_quantile(0.95, sum by (le, model) (rate(a_bucket{model=~"$model",x="1"}[5m])))'
        " / on (model) group_left sum without (route) (b_total offset 1h) * 2e3 > bool 0.5"
    )
    assert [s.metric for s in query.selectors] == ["a_bucket", "b_total"]
    assert query.selectors[0].matchers == [("model", "=~", "$model"), ("x", "=", "1")]
    assert query.grouping == {"le", "model", "route"} and query.by == {"le", "model"}
    assert query.calls == {"histogram_quantile", "sum", "rate"}


EXPORTED: Exported = {
    "gateway_requests_total": {"route": {"/api/chat"}, "model": {"m"}, "status": {"200"}},
    "gateway_cache_lookups_total": {"model": {"m"}, "result": {"hit", "miss"}},
}


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("sum(rate(gateway_request_total[5m]))", "gateway_request_total is not exported"),
        ("sum(rate(gateway_requests[5m]))", "gateway_requests is not exported"),
        ("sum by (door) (rate(gateway_requests_total[5m]))", "no label 'door' to group by"),
        ('sum(rate(gateway_requests_total{door="x"}[5m]))', "has no label 'door'"),
        ('rate(gateway_cache_lookups_total{result="hits"}[5m])', "result='hits'} never seen"),
        ('sum(up{job="gateway"})', "names job 'llm-gateway'"),
        ("rated(gateway_requests_total[5m])", "unknown PromQL function 'rated'"),
        ('sum(rate({__name__="gateway_requests_total"}[5m]))', "without a metric name"),
    ],
)
def test_a_query_for_what_the_gateway_does_not_export_is_caught(expr: str, why: str) -> None:
    try:
        found = problems(expr, EXPORTED, job="llm-gateway")
    except AssertionError as error:
        found = [str(error)]
    assert any(why in problem for problem in found), found
    assert problems("sum by (model) (rate(gateway_requests_total[5m]))", EXPORTED, "j") == []


# --- the dashboard against a real gateway --------------------------------------------------------

ADMIN_KEY = "admin-dashboard-0123456789"


@pytest.fixture
def exported(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Exported:
    """/metrics of a gateway that has just answered one request of every kind the panels show."""
    config = config_for(upstream)
    # Priced, so answers add to gateway_spend_dollars_total.
    config["model_list"][0]["litellm_params"]["input_cost_per_token"] = 0.000001
    # An MCP server whose tool a model of its own calls once, for the gateway_mcp_* series.
    config["model_list"].append(model_entry("tool-model", upstream))
    fake = fake_server_params("--tools", "echo")
    config["mcp_servers"] = {"fake": {"command": fake.command, "args": list(fake.args)}}
    config["gateway"] = {
        "cache": {"ttl": 60, "models": ["title-model"]},
        "rate_limit": {"models": {"chat-model": "3/minute"}},
        "tools": ["mcp__fake__echo"],
    }
    gateway = start_gateway(config, admin_key=ADMIN_KEY)
    client = gateway.client
    upstream.default = Reply(chunks=["ok", " then"], prompt_tokens=5, completion_tokens=3)
    hi = [{"role": "user", "content": "hi"}]
    wait_until(lambda: ready(gateway)["status"] == "ready", 30)  # the MCP server is up
    echo = FakeToolCall("mcp__fake__echo", json.dumps({"text": "hi"}))
    upstream.script(Reply(tool_calls=[echo]), Reply(chunks=["echoed"]))
    called = client.post("/api/chat", json={"model": "tool-model", "messages": hi})
    assert '"result":"hi"' in called.text, called.text
    # chat-model, three times: a stream, a chat by id (its answer ends: done), a plain answer.
    streamed = client.post(
        "/api/chat?protocol=data-stream", json={"model": "chat-model", "messages": hi}
    )
    assert streamed.status_code == 200, streamed.text
    by_id = {
        "id": "dashboard-chat",
        "message": {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]},
        "selectedChatModel": "chat-model",
    }
    chat = client.post("/api/chat?protocol=ui-message-stream", json=by_id)
    assert chat.status_code == 200, chat.text
    plain = client.post("/v1/chat/completions", json={"model": "chat-model", "messages": hi})
    assert plain.status_code == 200, plain.text
    # ...and a fourth: over its 3/minute.
    refused = client.post("/v1/chat/completions", json={"model": "chat-model", "messages": hi})
    assert refused.status_code == 429, refused.text
    # title-model is cached: a miss, then a hit; then a provider failure.
    title = [{"role": "user", "content": "a title for the dashboard test"}]
    caches = [gateway.chat(model="title-model", messages=title).headers["x-cache"] for _ in "12"]
    assert caches == ["miss", "hit"]
    upstream.script(Fault(500))
    assert gateway.chat(model="title-model").status_code == 502
    reload = client.post("/admin/reload", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert reload.status_code == 200, reload.text
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    return exported_series(metrics.text)


def test_every_dashboard_query_is_exported_by_the_gateway(exported: Exported) -> None:
    job = prometheus_job()
    found = []
    for title, target in targets():
        found += [f"{title}: {problem}" for problem in problems(target["expr"], exported, job)]
    for name, expr, label in variable_queries():
        found += [f"${name}: {problem}" for problem in problems(expr, exported, job)]
        for selector in read_promql(expr).selectors:
            if label not in exported.get(selector.metric, {}):
                found.append(f"${name}: {selector.metric} has no label {label!r}")
    assert found == []


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    queried = {s.metric for _, t in targets() for s in read_promql(t["expr"]).selectors}
    asked = {
        "requests and errors by model and door": "gateway_requests_total",
        "provider errors": "gateway_upstream_errors_total",
        "latency percentiles": "gateway_request_duration_seconds_bucket",
        "time-to-first-token percentiles": "gateway_time_to_first_token_seconds_bucket",
        "tokens": "gateway_tokens_total",
        "cache hit ratio": "gateway_cache_lookups_total",
        "rate-limit refusals": "gateway_rate_limit_refusals_total",
        "reloads": "gateway_config_reloads_total",
        "requests in flight": "gateway_requests_in_flight",
        "streams (chat answers) in flight": "gateway_chat_answers_running",
        "background tasks alive (a leak shows as a kind that never falls)": (
            "gateway_background_tasks"
        ),
        "MCP servers up": "gateway_mcp_server_up",
        "MCP tools offered": "gateway_mcp_tools",
        "MCP restarts": "gateway_mcp_restarts_total",
        "MCP tool calls": "gateway_mcp_tool_calls_total",
        "the gateway's own time per request": "gateway_own_time_seconds_bucket",
        "provider time to first byte": "gateway_provider_ttfb_seconds_bucket",
    }
    assert {item for item, metric in asked.items() if metric not in queried} == set()
    # The cost per request: the gateway's own time per door, the provider's per model.
    for metric, label in (
        ("gateway_own_time_seconds_bucket", "route"),
        ("gateway_provider_ttfb_seconds_bucket", "model"),
    ):
        by = [read_promql(t["expr"]).by for _, t in targets() if metric in t["expr"]]
        assert by and all(label in kept for kept in by), (metric, by)
    # Each MCP metric is shown per server; tool calls per server and outcome.
    grouped = {
        s.metric: read_promql(t["expr"]).by
        for _, t in targets()
        for s in read_promql(t["expr"]).selectors
        if s.metric.startswith("gateway_mcp_")
    }
    assert all("server" in by for by in grouped.values()), grouped
    assert any(
        {"server", "outcome"} <= read_promql(t["expr"]).by
        for _, t in targets()
        if "gateway_mcp_tool_calls_total" in t["expr"]
    )
    quantiles = [
        t["expr"] for _, t in targets() if "histogram_quantile" in read_promql(t["expr"]).calls
    ]
    for expr in quantiles:
        # Buckets summed over replicas must keep `le`, or the quantile is meaningless.
        assert "le" in read_promql(expr).by, expr
        assert all(s.metric.endswith("_bucket") for s in read_promql(expr).selectors), expr


def test_legends_name_labels_the_query_keeps() -> None:
    for title, target in targets():
        shown = set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", target["legendFormat"]))
        assert shown <= read_promql(target["expr"]).by, f"{title}: {target['legendFormat']}"


def test_panels_use_the_provisioned_data_source_and_have_unique_ids() -> None:
    uid = provisioned_uid()
    board = dashboard()
    panels = list(all_panels(board["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']} queries nothing"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    # No two panels (rows included) share a grid cell, or Grafana shifts one of them.
    taken: dict[tuple[int, int], dict[str, Any]] = {}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = taken.setdefault((x, y), panel)
                assert other is panel, f"{panel['title']} overlaps {other['title']}"
    for variable in board["templating"]["list"]:
        assert variable["datasource"] == {"type": "prometheus", "uid": uid}, variable["name"]
    assert board["uid"] and board["schemaVersion"] >= 36
