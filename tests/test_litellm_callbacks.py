"""LiteLLM logging callbacks listed under litellm_settings: validated by name at load, passed to
LiteLLM so they really fire (streamed and plain answers, failures), gone after a reload drops
them, and read through LiteLLM's stream wrapper (which is what runs them for streams).

Two real callbacks, both offline: a CustomLogger instance named by dotted path
(tests/support/callbacks_for_tests.py), and LiteLLM's own `datadog` integration posting its logs
to a small HTTP receiver on loopback standing in for a Datadog agent
(LITELLM_DD_AGENT_HOST/PORT)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import litellm
import pytest
import yaml

from gateway.catalog import GATEWAY_CATALOG
from gateway.config import ConfigError, parse_config
from gateway.upstream.litellm_callbacks import CallbackPlan, install_process_callbacks
from tests.support.callbacks_for_tests import other_recorder, recorder
from tests.support.configs import config_for, model_entry
from tests.support.fake_upstream import FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway
from tests.support.wire import parse_lines

ADMIN_KEY = "admin-key-0123456789abcdef"
RECORDER = "tests.support.callbacks_for_tests.recorder"
OTHER_RECORDER = "tests.support.callbacks_for_tests.other_recorder"
USER = [{"role": "user", "content": "hi"}]
DEADLINE = 10.0  # seconds a callback may take to be run after its answer (a bound, not a timing)


class LogReceiver:
    """A stand-in Datadog agent: LiteLLM's datadog callback posts a gzipped JSON list of log
    items, each carrying LiteLLM's standard logging payload as its `message`."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        lock = self.lock = threading.Lock()
        payloads = self.payloads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                items = json.loads(body)
                with lock:
                    payloads.extend(json.loads(item["message"]) for item in items)
                self.send_response(202)  # what the Datadog intake answers
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def statuses(self) -> list[str]:
        with self.lock:
            return [str(p.get("status")) for p in self.payloads]

    def clear(self) -> None:
        with self.lock:
            self.payloads.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def _receiver() -> Iterator[LogReceiver]:
    # LiteLLM makes one datadog logger per process, reading where to send and its batch size
    # when first used: both are set before any test of this module calls a model.
    receiver = LogReceiver()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LITELLM_DD_AGENT_HOST", "127.0.0.1")
        patch.setenv("LITELLM_DD_AGENT_PORT", str(receiver.port))
        patch.setenv("DD_BATCH_SIZE", "1")  # post each log at once
        yield receiver
    receiver.close()


@pytest.fixture
def receiver(_receiver: LogReceiver) -> Iterator[LogReceiver]:
    _receiver.clear()
    recorder.clear()
    other_recorder.clear()
    yield _receiver
    install_process_callbacks(CallbackPlan())  # leave LiteLLM's lists as other modules expect


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds (LiteLLM runs callbacks after the answer is sent)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE} s"
        time.sleep(0.02)


def with_callbacks(upstream: FakeUpstream, **settings: Any) -> dict[str, Any]:
    return config_for(upstream, litellm_settings=settings)


def successes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "success"]


def answer_text(body: str) -> str:
    return "".join(part["textDelta"] for code, part in parse_lines(body) if code == "0")


def test_success_callbacks_fire_for_streamed_and_plain_answers_on_both_doors(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, receiver: LogReceiver
) -> None:
    gateway = start_gateway(
        with_callbacks(upstream, success_callback=["datadog"], callbacks=[RECORDER])
    )
    upstream.script(
        Reply(chunks=["streamed", " answer"]),
        Reply(chunks=["plain", " answer"]),
        Reply(chunks=["openai", " stream"]),
        Reply(chunks=["openai", " plain"]),
    )

    streamed = gateway.chat(messages=USER)
    assert streamed.status_code == 200 and answer_text(streamed.text) == "streamed answer"
    plain = gateway.chat(messages=USER, stream=False)
    assert plain.status_code == 200
    body = {"model": "chat-model", "messages": USER}
    openai_stream = gateway.client.post("/v1/chat/completions", json={**body, "stream": True})
    assert openai_stream.status_code == 200 and "[DONE]" in openai_stream.text
    openai_plain = gateway.client.post("/v1/chat/completions", json=body)
    assert openai_plain.json()["choices"][0]["message"]["content"] == "openai plain"

    wait_for(lambda: len(successes(recorder.events)) >= 4, "the CustomLogger's successes")
    wait_for(lambda: receiver.statuses().count("success") >= 4, "datadog's success logs")
    events = successes(recorder.events)
    assert len(events) == 4  # once per answer, a stream's too (not once per chunk)
    assert sorted((e["stream"], e["text"]) for e in events) == [
        (False, "openai plain"),
        (False, "plain answer"),
        (True, "openai stream"),
        (True, "streamed answer"),
    ]
    assert {e["model_group"] for e in events} == {"chat-model"}
    assert receiver.statuses() == ["success"] * 4
    assert not [e for e in recorder.events if e["event"] == "failure"]


def test_embedding_calls_are_logged_too(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, receiver: LogReceiver
) -> None:
    config = with_callbacks(upstream, success_callback=["datadog", RECORDER])
    entry = model_entry("embed-model", upstream, model="openai/text-embedding-3-small")
    entry["model_info"] = {"mode": "embedding"}
    config["model_list"].append(entry)
    gateway = start_gateway(config)

    body = {"model": "embed-model", "input": "a question"}
    assert gateway.client.post("/v1/embeddings", json=body).status_code == 200
    wait_for(lambda: receiver.statuses() == ["success"], "datadog's log of the embedding")
    wait_for(lambda: len(recorder.events) == 1, "the recorder")
    assert recorder.events[0]["model_group"] == "embed-model"


def test_failure_callbacks_fire_when_the_upstream_fails(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, receiver: LogReceiver
) -> None:
    # The success callback is only a marker: once it has seen an answer, a success reported to
    # datadog (run per call, before any process-wide callback) would have been posted too.
    gateway = start_gateway(
        with_callbacks(
            upstream, failure_callback=["datadog", RECORDER], success_callback=[OTHER_RECORDER]
        )
    )
    upstream.script(Fault(500, "database on fire"), Reply())

    assert gateway.chat(messages=USER).status_code == 502
    wait_for(lambda: receiver.statuses() == ["failure"], "datadog's failure log")
    wait_for(lambda: [e["event"] for e in recorder.events] == ["failure"], "the recorder")
    assert recorder.events[0]["model_group"] == "chat-model"
    assert other_recorder.events == []  # a failure is not reported to success callbacks

    # Failure callbacks only: successes are not reported to them.
    assert gateway.chat(messages=USER).status_code == 200
    assert gateway.chat(messages=USER, stream=False).status_code == 200
    body = {"model": "chat-model", "messages": USER, "stream": True}
    assert gateway.client.post("/v1/chat/completions", json=body).status_code == 200
    wait_for(lambda: len(other_recorder.events) == 3, "the marker callback")
    assert [e["event"] for e in other_recorder.events] == ["success"] * 3
    assert [e["event"] for e in recorder.events] == ["failure"]
    assert receiver.statuses() == ["failure"]


def test_a_reload_that_drops_callbacks_stops_them(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, receiver: LogReceiver
) -> None:
    gateway = start_gateway(
        with_callbacks(upstream, success_callback=["datadog", RECORDER]),
        config_poll_seconds=0,
        admin_key=ADMIN_KEY,
    )
    assert gateway.chat(messages=USER).status_code == 200
    wait_for(lambda: len(recorder.events) == 1, "the recorder before the reload")
    wait_for(lambda: receiver.statuses() == ["success"], "datadog before the reload")

    # The new file swaps both for another CustomLogger, the marker that a call was logged.
    text = yaml.safe_dump(with_callbacks(upstream, callbacks=[OTHER_RECORDER]))
    gateway.config_path.write_text(text, encoding="utf-8")
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    assert gateway.client.post("/admin/reload", headers=headers).json()["status"] == "applied"
    assert all(cb is not recorder for cb in litellm._async_success_callback)

    assert gateway.chat(messages=USER).status_code == 200
    assert gateway.chat(messages=USER, stream=False).status_code == 200
    wait_for(lambda: len(other_recorder.events) == 2, "the new callback")
    assert len(recorder.events) == 1
    assert receiver.statuses() == ["success"]

    # And a file with no callbacks at all leaves none behind.
    gateway.config_path.write_text(yaml.safe_dump(config_for(upstream)), encoding="utf-8")
    assert gateway.client.post("/admin/reload", headers=headers).json()["status"] == "applied"
    assert all(cb is not other_recorder for cb in litellm._async_success_callback)
    assert all(cb is not other_recorder for cb in litellm._async_failure_callback)


def test_callbacks_send_every_deployment_through_litellms_stream_reader(
    upstream: FakeUpstream,
) -> None:
    def loaded(config: dict[str, Any]) -> Any:
        return parse_config(yaml.safe_dump(config), Path("models.yaml"), GATEWAY_CATALOG)

    lean_entry = {**model_entry("lean-model", upstream), "stream_reader": "lean"}
    plain = config_for(upstream)
    plain["model_list"].append(lean_entry)
    assert {loaded(plain).stream_reader_of(d)[0] for d in loaded(plain).deployments} == {"lean"}

    for settings in (
        {"success_callback": ["datadog"]},
        {"failure_callback": ["langfuse"]},
        {"callbacks": [RECORDER]},
    ):
        config = loaded({**plain, "litellm_settings": settings})
        for deployment in config.deployments:
            assert config.stream_reader_of(deployment) == (
                "litellm",
                "litellm_settings callbacks run in LiteLLM's stream wrapper",
            )
        assert not config.lean_deployment_ids() and not config.lean_model_ids()

    # Names ride with every deployment's calls; CustomLogger instances do not (process-wide).
    config = loaded(
        {
            **plain,
            "litellm_settings": {
                "success_callback": ["datadog", RECORDER],
                "callbacks": ["langfuse"],
                "drop_params": True,
            },
        }
    )
    for entry in config.router_model_list():
        params = entry["litellm_params"]
        assert params["success_callback"] == ["datadog", "langfuse"]
        assert params["failure_callback"] == ["langfuse"]
        assert params["drop_params"] is True
    assert config.callback_plan.success_objects == (RECORDER,)
    assert config.callback_plan.failure_objects == ()


def test_callbacks_are_streamed_through_litellm_when_the_gateway_serves(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, receiver: LogReceiver
) -> None:
    gateway = start_gateway(with_callbacks(upstream, callbacks=[RECORDER]))
    readers = gateway.client.get("/health/ready").json()
    assert "litellm_settings callbacks" in json.dumps(readers)


BAD = """\
model_list:
  - model_name: chat-model
    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-literal-0123456789}
litellm_settings:
  success_callback:
    - langfuse
    - langfsue
  failure_callback:
    - datadgo
    - tests.support.callbacks_for_tests.not_a_logger
    - tests.support.callbacks_for_tests.Recorder
    - tests.no_such_module.handler
    - tests.support.callbacks_for_tests.nothing_here
  callbacks: langfuse
  success_callbacks: [langfuse]
"""


def test_unknown_callbacks_are_refused_at_load_with_place_and_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BAD, Path("models.yaml"), GATEWAY_CATALOG)
    problems = [p.render(Path("models.yaml")) for p in caught.value.problems]
    assert problems[0] == (
        "models.yaml:7: litellm_settings.success_callback[1]: unknown LiteLLM callback "
        "'langfsue'; did you mean 'langfuse'? (a name from LiteLLM's integrations, or "
        "module.attribute naming a CustomLogger instance)"
    )
    assert problems[1].startswith(
        "models.yaml:9: litellm_settings.failure_callback[0]: unknown LiteLLM callback "
        "'datadgo'; did you mean 'datadog'?"
    )
    assert problems[2] == (
        "models.yaml:10: litellm_settings.failure_callback[1]: "
        "'tests.support.callbacks_for_tests.not_a_logger' is a object, not a "
        "litellm.integrations.custom_logger.CustomLogger instance"
    )
    assert problems[3].startswith(
        "models.yaml:11: litellm_settings.failure_callback[2]: "
        "'tests.support.callbacks_for_tests.Recorder' is a CustomLogger class; name an instance"
    )
    assert problems[4].startswith(
        "models.yaml:12: litellm_settings.failure_callback[3]: cannot import "
        "'tests.no_such_module.handler'"
    )
    assert problems[5] == (
        "models.yaml:13: litellm_settings.failure_callback[4]: module "
        "'tests.support.callbacks_for_tests' has no attribute 'nothing_here'"
    )
    assert problems[6] == (
        "models.yaml:14: litellm_settings.callbacks: must be a list of callback names, "
        "e.g. [langfuse]"
    )
    assert problems[7].startswith(
        "models.yaml:15: litellm_settings.success_callbacks: not supported; "
        "did you mean 'success_callback'?"
    )
    assert len(problems) == 8


def test_the_names_come_from_litellms_own_list() -> None:
    from gateway.upstream.litellm_callbacks import known_callback_names

    assert known_callback_names() == frozenset(litellm._known_custom_logger_compatible_callbacks)
    assert {"langfuse", "datadog", "generic_api", "s3_v2", "otel"} <= known_callback_names()


def test_an_integration_litellm_would_run_as_a_no_op_is_refused() -> None:
    """generic_api lives in litellm-enterprise; without it LiteLLM runs a bare CustomLogger."""
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.litellm_core_utils import litellm_logging

    text = BAD.split("litellm_settings:")[0] + "litellm_settings:\n  callbacks: [generic_api]\n"
    if litellm_logging.GenericAPILogger is not CustomLogger:  # litellm-enterprise is installed
        assert parse_config(text, Path("models.yaml"), GATEWAY_CATALOG).callback_plan.success_names
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("models.yaml"), GATEWAY_CATALOG)
    assert [p.render(Path("models.yaml")) for p in caught.value.problems] == [
        "models.yaml:5: litellm_settings.callbacks[0]: LiteLLM's 'generic_api' callback needs "
        "the litellm-enterprise package, which is not installed (LiteLLM would run a logger "
        "that does nothing)"
    ]
