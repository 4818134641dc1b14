"""Editing the YAML of a running gateway: new requests move, streams in flight stay, bad edits
are refused and shown, and every trigger (file watch, SIGHUP, POST /admin/reload) works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.configs import UPSTREAM_KEY, config_for, model_entry
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.polling import SWITCH_DEADLINE, ready, wait_until
from tests.support.processes import clean_env, serve_config
from tests.support.prometheus import sample
from tests.support.wire import answer_text, parse_lines

ADMIN_KEY = "admin-key-0123456789abcdef"


def write_atomically(path: Path, config: dict[str, Any] | str) -> None:
    """How deploy tools and careful operators edit: a new file renamed over the old one."""
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def reloads(gateway: Gateway, result: str) -> float:
    return sample(
        gateway.client.get("/metrics").text, "gateway_config_reloads_total", result=result
    )


def test_an_edit_moves_new_requests_and_spares_the_stream_in_flight(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream))
    slow = Reply(chunks=[f"old{i} " for i in range(30)], chunk_delay=0.1)  # about 3 s
    upstream.script(slow)
    in_flight: dict[str, Any] = {}

    def stream_slowly() -> None:
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            in_flight["response"] = client.post(
                "/api/chat",
                json={"model": "chat-model", "messages": [{"role": "user", "content": "x"}]},
            )

    streamer = threading.Thread(target=stream_slowly)
    streamer.start()
    wait_until(lambda: len(upstream.requests) == 1, 5)  # the slow stream has begun

    write_atomically(gateway.config_path, config_for(upstream_b))
    statuses: list[int] = []

    def moved() -> bool:
        response = gateway.chat()
        statuses.append(response.status_code)
        return answer_text(response) == "Hello from upstream-b"

    wait_until(moved, SWITCH_DEADLINE)
    streamer.join(15)

    assert set(statuses) == {200}  # no request failed while the config changed
    finished = in_flight["response"]
    assert finished.status_code == 200
    assert answer_text(finished) == slow.text  # every chunk, from the first upstream
    assert parse_lines(finished.text)[-1][1]["finishReason"] == "stop"
    assert ready(gateway)["config"]["generation"] == 2


def test_a_broken_edit_is_refused_shown_and_replaced_by_a_good_one(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream))
    refused_before = reloads(gateway, "refused")
    broken = config_for(upstream_b)
    broken["model_list"][0]["litellm_params"]["model"] = "gpt-4o"  # no provider
    write_atomically(gateway.config_path, broken)

    wait_until(lambda: "refused_edit" in ready(gateway)["config"], SWITCH_DEADLINE)

    report = ready(gateway)
    assert report["status"] == "ready" and report["config"]["generation"] == 1
    (problem,) = report["config"]["refused_edit"]["problems"]
    assert problem["where"] == "model_list[0] (chat-model): litellm_params.model"
    assert problem["line"] is not None and "names no provider" in problem["message"]
    assert answer_text(gateway.chat()) == "Hello from upstream-a"  # the old mapping serves
    assert reloads(gateway, "refused") == refused_before + 1

    write_atomically(gateway.config_path, config_for(upstream_b))
    wait_until(lambda: "refused_edit" not in ready(gateway)["config"], SWITCH_DEADLINE)
    assert answer_text(gateway.chat()) == "Hello from upstream-b"


def test_an_edit_in_place_that_is_not_yaml_is_refused_too(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream))
    gateway.config_path.write_text("model_list:\n  - model_name: [unclosed\n", encoding="utf-8")
    wait_until(lambda: "refused_edit" in ready(gateway)["config"], SWITCH_DEADLINE)
    assert gateway.chat().status_code == 200


def test_models_list_shows_what_is_live(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream))

    def listed() -> list[str]:
        return [m["id"] for m in gateway.client.get("/v1/models").json()["data"]]  # type: ignore[union-attr]

    bigger = config_for(upstream)
    bigger["model_list"].append(model_entry("summary-model", upstream))
    write_atomically(gateway.config_path, bigger)
    wait_until(lambda: "summary-model" in listed(), SWITCH_DEADLINE)
    assert gateway.chat(model="summary-model").status_code == 200


def test_admin_reload_needs_the_admin_key_and_reports_the_result(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    closed = start_gateway(config_for(upstream), config_poll_seconds=0)
    assert closed.client.post("/admin/reload").status_code == 403

    gateway = start_gateway(config_for(upstream), config_poll_seconds=0, admin_key=ADMIN_KEY)

    def reload(key: str = ADMIN_KEY) -> httpx.Response:
        return gateway.client.post("/admin/reload", headers={"authorization": f"Bearer {key}"})  # type: ignore[union-attr]

    assert reload("not-the-admin-key-at-all").status_code == 401
    assert reload().json()["status"] == "unchanged"
    write_atomically(gateway.config_path, config_for(upstream_b))
    time.sleep(0.3)
    assert answer_text(gateway.chat()) == "Hello from upstream-a"  # no watch: nothing moved yet
    applied = reload()
    assert applied.status_code == 200
    assert applied.json() == {
        "status": "applied",
        "generation": 2,
        "models": ["chat-model", "title-model"],
    }
    assert answer_text(gateway.chat()) == "Hello from upstream-b"

    write_atomically(gateway.config_path, "model_list: 7\n")
    refused = reload()
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["type"] == "config_invalid" and "still serving generation 2" in error["message"]
    assert any("model_list" in problem for problem in error["problems"])
    assert UPSTREAM_KEY not in refused.text


def test_sighup_reloads_a_running_server_and_gateway_models_shows_the_live_map(
    upstream: FakeUpstream, upstream_b: FakeUpstream, tmp_path: Path
) -> None:
    server = serve_config(config_for(upstream), tmp_path, GATEWAY_CONFIG_POLL_SECONDS="0")
    path = server.config_path
    env = clean_env(FAKE_UPSTREAM_KEY=UPSTREAM_KEY)
    try:
        bigger = config_for(upstream_b)
        bigger["model_list"].append(model_entry("summary-model", upstream_b))
        write_atomically(path, bigger)
        time.sleep(0.3)
        assert httpx.get(f"{server.url}/health/ready").json()["config"]["generation"] == 1

        server.signal(signal.SIGHUP)

        wait_until(
            lambda: httpx.get(f"{server.url}/health/ready").json()["config"]["generation"] == 2,
            SWITCH_DEADLINE,
        )
        write_atomically(path, "model_list: [\n")  # broken on disk; the server keeps generation 2
        listing = subprocess.run(
            [sys.executable, "-m", "gateway", "models", "--url", server.url],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert listing.returncode == 0, listing.stderr
        assert "summary-model" in listing.stdout and "generation 2" in listing.stdout
    finally:
        server.stop()
