"""`gateway serve` as a real child process: for signals, worker processes and exit codes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.configs import UPSTREAM_KEY, config_for
from tests.support.fake_upstream import FakeUpstream
from tests.support.serving import free_socket

START_TIMEOUT = 60.0
EXIT_TIMEOUT = 60.0


def free_port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


# The checkout these tests belong to: a child imports its `gateway`, not whichever one the
# virtualenv's editable install points at (another worktree's, say).
CHECKOUT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the host's gateway settings, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GATEWAY_") and key not in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def wait_healthy(url: str, process: subprocess.Popen[bytes], output: Callable[[], str]) -> None:
    """Wait until `url`/health answers 200; fail with the server's output if it exits or hangs."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{output()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"/health did not answer within {START_TIMEOUT:.0f} s:\n{output()}")


class GatewayProcess:
    def __init__(
        self, config: Path, home: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.log = home / f"gateway-{self.port}.log"
        self._log_file = self.log.open("wb")
        self.config_path = config
        command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
        command += ["--port", str(self.port), *args]
        self.process = subprocess.Popen(
            command, cwd=home, env=env or clean_env(), stdout=self._log_file, stderr=self._log_file
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> GatewayProcess:
        wait_healthy(self.url, self.process, self.output)
        return self

    def signal(self, number: signal.Signals) -> None:
        self.process.send_signal(number)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the gateway did not exit within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_file.close()


def serve_config(config: dict[str, Any], home: Path, *args: str, **env: str) -> GatewayProcess:
    """Write `config` to home/config.yaml and serve it (the fake upstream's key set), ready."""
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    environment = clean_env(FAKE_UPSTREAM_KEY=UPSTREAM_KEY, **env)
    return GatewayProcess(path, home, *args, env=environment).wait_ready()


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def worker_serving(parent: int, client_port: int, server_port: int) -> int:
    """The worker process of `gateway serve --workers N` (pid `parent`) that holds the
    connection from the loopback client port `client_port` (Linux /proc)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        if local == server_port and remote == client_port:
            inode = fields[9]
    assert inode is not None, f"no server socket for client port {client_port}"
    for pid in child_pids(parent):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
    pytest.fail(f"no worker of {parent} holds the connection from port {client_port}")


def write_config(upstream: FakeUpstream, home: Path) -> Path:
    """config_for(upstream) as home/config.yaml."""
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(config_for(upstream)), encoding="utf-8")
    return path


def serve_to_exit(home: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run a `gateway serve *args` that should stop by itself: its exit code and output."""
    command = [sys.executable, "-m", "gateway", "serve", *args]
    try:
        done = subprocess.run(
            command, cwd=home, env=env, capture_output=True, timeout=EXIT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`gateway serve` did not stop within {EXIT_TIMEOUT} s: {exc.output!r}")
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", errors="replace")


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False
