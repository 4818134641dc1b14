"""Real MCP servers nobody here wrote, and the fault-injecting fake, as plain launch data.

- mcp-server-time (PyPI), in tests/support/.mcp-venv (scripts/mcp-test-servers installs it from
  tests/support/mcp_servers.lock), over stdio with a fixed --local-timezone.
- @modelcontextprotocol/server-everything (npm, pinned in tests/support/node), over stdio, or
  over HTTP (`node dist/index.js streamableHttp|sse`, port from the PORT environment variable;
  streamable HTTP at /mcp, SSE at GET /sse with messages POSTed to /message?sessionId=...).
- tests/support/fake_mcp_server.py over stdio (see its docstring for its tools and flags).

Each stdio server is a `StdioServer` (command, args, env: what a gateway config names), and
`.parameters()` turns it into the mcp SDK's StdioServerParameters.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tests.support.ai_sdk import NODE_DIR, ensure_node_packages
from tests.support.processes import CHECKOUT, free_port

if TYPE_CHECKING:
    from mcp.client.stdio import StdioServerParameters

SUPPORT = Path(__file__).resolve().parent
MCP_VENV = SUPPORT / ".mcp-venv"  # in .gitignore; made by scripts/mcp-test-servers
INSTALL_SCRIPT = CHECKOUT / "scripts" / "mcp-test-servers"
FAKE_SERVER = SUPPORT / "fake_mcp_server.py"
EVERYTHING = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything"
EVERYTHING_MAIN = EVERYTHING / "dist" / "index.js"
# The time server answers in this zone for "local" times: fixed, so answers are deterministic.
TIME_ZONE = "Europe/Berlin"
START_TIMEOUT = 30.0  # seconds for server-everything to listen

Transport = Literal["streamable-http", "sse"]
_install_lock = threading.Lock()
_installed: list[bool] = []  # once per test process: the script checks the version itself


@dataclass(frozen=True)
class StdioServer:
    command: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def parameters(self) -> StdioServerParameters:
        from mcp.client.stdio import StdioServerParameters

        return StdioServerParameters(
            command=self.command, args=list(self.args), env=dict(self.env) or None, cwd=self.cwd
        )


@dataclass(frozen=True)
class HttpServer:
    transport: Transport
    url: str  # the MCP endpoint: .../mcp (streamable HTTP) or .../sse (SSE)
    port: int
    log: Path  # the server's stdout and stderr
    pid: int  # node's, for a test that kills the server


def ensure_time_server() -> Path:
    """tests/support/.mcp-venv with the pinned mcp-server-time (installs it on first use)."""
    with _install_lock:
        if _installed:
            return MCP_VENV / "bin" / "mcp-server-time"
        done = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{INSTALL_SCRIPT} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        _installed.append(True)
    return MCP_VENV / "bin" / "mcp-server-time"


def time_server_params(time_zone: str = TIME_ZONE) -> StdioServer:
    """mcp-server-time over stdio; "local" time is `time_zone`. Tools: get_current_time
    {timezone}, convert_time {source_timezone, time "HH:MM", target_timezone}."""
    return StdioServer(str(ensure_time_server()), ["--local-timezone", time_zone])


def _node() -> str:
    ensure_node_packages()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed; server-everything needs it")
    return node


def everything_stdio_params() -> StdioServer:
    """server-everything over stdio (`node dist/index.js stdio`)."""
    return StdioServer(_node(), [str(EVERYTHING_MAIN), "stdio"], cwd=str(NODE_DIR))


def fake_server_params(*flags: str) -> StdioServer:
    """tests/support/fake_mcp_server.py over stdio, with its flags (e.g. "--tools", "echo")."""
    return StdioServer(sys.executable, [str(FAKE_SERVER), *flags])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def everything_http(transport: Transport) -> Iterator[HttpServer]:
    """server-everything over streamable HTTP or SSE on a free port, stopped afterwards.

    It listens on every interface (the package takes only PORT); the tests reach it on
    127.0.0.1.
    """
    mode = {"streamable-http": "streamableHttp", "sse": "sse"}[transport]
    path = {"streamable-http": "/mcp", "sse": "/sse"}[transport]
    node = _node()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mcp-everything-") as home:
        log = Path(home) / "server.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [node, str(EVERYTHING_MAIN), mode],
                cwd=NODE_DIR,
                env={**os.environ, "PORT": str(port)},
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _listening(port):
                output = log.read_text(errors="replace")
                if process.poll() is not None:
                    raise RuntimeError(f"server-everything exited {process.returncode}:\n{output}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server-everything did not listen on {port}:\n{output}")
                time.sleep(0.05)
            yield HttpServer(transport, f"http://127.0.0.1:{port}{path}", port, log, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
