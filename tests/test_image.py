"""The Dockerfile built and run for real, with podman (issue 20).

tests/test_container_command.py runs the Dockerfile's CMD and HEALTHCHECK as host processes; this
builds the image and runs it as Kubernetes would (deploy/kubernetes/deployment.yaml): uid 10001,
a read-only root filesystem with only /tmp writable. No Docker engine and no registry are here,
so the base image is the stand-in `scripts/container-standins` builds (Debian 12, Python 3.11,
pip 24.0, as python:3.11-slim); where it or podman is missing, these tests skip and say so.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.utils import canonicalize_name

from tests.support.configs import UPSTREAM_KEY, config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.locks import read_lock
from tests.support.podman import PYTHON_BASE, ROOT, podman, require_images
from tests.support.polling import wait_until
from tests.support.processes import free_port
from tests.support.wire import parse_lines

pytestmark = pytest.mark.container

IMAGE = "localhost/llm-gateway:test"
START_TIMEOUT = 90.0
# The Dockerfile's WORKDIR and where its CMD reads the model map (GATEWAY_CONFIG).
CONFIG_IN_IMAGE = "/app/litellm_config.yaml"


@pytest.fixture(scope="module")
def image() -> str:
    require_images(PYTHON_BASE)
    # --format docker keeps HEALTHCHECK (the OCI format has no such field); --pull=never: the
    # base is the local stand-in, and no registry is reachable anyway.
    podman("build", "--pull=never", "--format", "docker", "-t", IMAGE, str(ROOT), timeout=1200)
    return IMAGE


class Container:
    """One `podman run -d` of the image, removed when the test ends."""

    def __init__(
        self, image: str, *options: str, command: tuple[str, ...] = (), port: int | None = None
    ) -> None:
        self.name = f"gateway-test-{uuid.uuid4().hex[:10]}"
        self.port = port or free_port()
        publish = [] if "--network=host" in options else ["-p", f"127.0.0.1:{self.port}:8000"]
        podman(
            "run", "-d", "--name", self.name,
            # As deploy/kubernetes/deployment.yaml runs it: read-only root, an emptyDir on /tmp.
            "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp",
            *publish, *options, image, *command,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).stdout.strip()

    def exec(self, *argv: str) -> Any:
        return podman("exec", self.name, *argv, check=False)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.inspect("{{.State.Running}}") != "true":
                pytest.fail(f"the container exited:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"/health never answered within {START_TIMEOUT:.0f} s:\n{self.logs()}")

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


@pytest.fixture(scope="module")
def demo(image: str) -> Iterator[Container]:
    """The image as shipped: embedded demo models, no Redis, no keys."""
    container = Container(image)
    try:
        container.wait_healthy()
        yield container
    finally:
        container.remove()


def test_health_answers(demo: Container) -> None:
    response = httpx.get(f"{demo.url}/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_streamed_answer_arrives_whole(demo: Container) -> None:
    body = {
        "model": "chat-model",
        "messages": [{"role": "user", "content": "你好"}],
        "stream": True,
    }
    response = httpx.post(f"{demo.url}/api/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    parts = parse_lines(response.text)
    assert parts[-1][0] == "d" and parts[-1][1]["finishReason"] == "stop", parts[-1]
    text = "".join(payload["textDelta"] for code, payload in parts if code == "0")
    assert "你好" in text  # the demo model echoes the question, non-ASCII intact


def test_the_shipped_demo_mcp_server_runs_in_the_image(demo: Container) -> None:
    """The shipped config's `command: python` finds the image's interpreter, offline."""

    def demo_server() -> dict[str, Any]:
        ready = httpx.get(f"{demo.url}/health/ready", timeout=5).json()
        (server,) = [s for s in ready["mcp_servers"] if s["name"] == "demo"]
        return server

    wait_until(lambda: demo_server()["state"] != "starting", 30)
    server = demo_server()
    assert server["state"] == "ready" and server["tools"] == 3, server
    ask = 'call mcp__demo__roll_dice with {"sides": 6, "count": 3, "seed": 42}'
    body = {"model": "chat-model", "stream": False, "messages": [{"role": "user", "content": ask}]}
    answer = httpx.post(f"{demo.url}/api/chat", json=body, timeout=30).json()
    (result,) = answer["toolResults"]
    assert result["isError"] is False and result["result"]["total"] == sum(
        result["result"]["rolls"]
    )


def test_runs_as_uid_10001_on_a_read_only_root(demo: Container) -> None:
    status = demo.exec("cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert set(uids) == {"10001"}, status  # real, effective, saved and filesystem uid
    assert demo.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
    for path in ("/app/written", "/home/gateway/written", "/var/tmp/written"):
        assert demo.exec("touch", path).returncode != 0, f"{path} is writable"
    assert demo.exec("touch", "/tmp/written").returncode == 0  # the emptyDir stand-in


def test_the_images_healthcheck_passes(image: str, demo: Container) -> None:
    configured = json.loads(
        podman("image", "inspect", "--format", "{{json .HealthCheck}}", image).stdout
    )
    assert configured and configured["Test"][0] == "CMD", configured
    # No systemd here to run it on a timer: run it the way the engine would, once.
    result = podman("healthcheck", "run", demo.name, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert demo.inspect("{{.State.Health.Status}}") == "healthy"


def test_the_healthcheck_fails_when_nothing_answers(image: str) -> None:
    # The same image with its command replaced: running, but no server on the port.
    idle = Container(image, command=("sleep", "600"))
    try:
        result = podman("healthcheck", "run", idle.name, check=False, timeout=60)
        assert result.returncode != 0, result.stdout
        # Still inside the HEALTHCHECK's start period, so a failure reads "starting", not yet
        # "unhealthy"; either way, never "healthy".
        assert idle.inspect("{{.State.Health.Status}}") in ("starting", "unhealthy")
    finally:
        idle.remove()


def test_the_image_carries_only_the_runtime_lock(image: str) -> None:
    listed = podman("run", "--rm", image, "pip", "list", "--format", "json").stdout
    installed = {canonicalize_name(item["name"]): item["version"] for item in json.loads(listed)}
    runtime = read_lock((ROOT / "requirements.lock").read_text(encoding="utf-8")).pins
    dev = read_lock((ROOT / "requirements-dev.lock").read_text(encoding="utf-8")).pins
    assert {name: str(version) for name, version in runtime.items()} == {
        name: installed.get(name) for name in runtime
    }
    test_only = set(dev) - set(runtime)
    assert {"pytest", "ruff", "schemathesis", "anthropic"} <= test_only
    assert test_only & set(installed) == set()
    # What is left is the gateway itself and the base image's own packaging tools.
    assert set(installed) - set(runtime) <= {"llm-gateway", "pip", "setuptools", "wheel"}
    files = podman("run", "--rm", image, "ls", "-A", "/app").stdout.split()
    assert not {"tests", "bench", ".git", ".venv", "requirements-dev.lock"} & set(files), files


def test_sigterm_lets_a_stream_in_progress_finish(
    image: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """`podman stop` sends SIGTERM; the answer being streamed ends whole and the exit code is 0."""
    chunks = [f"part{i} " for i in range(20)]
    upstream.script(Reply(chunks=chunks, chunk_delay=0.1))  # about 2 s
    config = tmp_path / "litellm_config.yaml"
    config.write_text(yaml.safe_dump(config_for(upstream)), encoding="utf-8")
    config.chmod(0o644)
    port = free_port()
    # Host networking: the fake upstream listens on this machine's loopback.
    container = Container(
        image,
        "--network=host",
        "-e", f"GATEWAY_PORT={port}",
        "-e", f"FAKE_UPSTREAM_KEY={UPSTREAM_KEY}",
        "-v", f"{config}:{CONFIG_IN_IMAGE}:ro",
        port=port,
    )  # fmt: skip
    try:
        container.wait_healthy()
        result: dict[str, Any] = {}

        def stream() -> None:
            body = {"model": "chat-model", "messages": [{"role": "user", "content": "slowly"}]}
            result["response"] = httpx.post(f"{container.url}/api/chat", json=body, timeout=60)

        reader = threading.Thread(target=stream)
        reader.start()
        deadline = time.monotonic() + 15
        while not upstream.requests:
            assert time.monotonic() < deadline, "the stream never reached the upstream"
            time.sleep(0.05)
        time.sleep(0.3)  # a few chunks are out

        stopped = podman("stop", "--time", "30", container.name, check=False, timeout=60)
        reader.join(30)
        assert stopped.returncode == 0, stopped.stderr
        assert container.inspect("{{.State.ExitCode}}") == "0", container.logs()
        response = result["response"]
        assert response.status_code == 200
        parts = parse_lines(response.text)
        assert "".join(p["textDelta"] for code, p in parts if code == "0") == "".join(chunks)
        assert parts[-1] == ("d", parts[-1][1]) and parts[-1][1]["finishReason"] == "stop"
    finally:
        container.remove()
