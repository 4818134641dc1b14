"""`gateway serve --workers 2` with a stdio MCP server: what each worker owns.

Each worker process starts its own copy of the server (a child of that worker, not of the
supervisor), a call is answered by the copy of the worker that holds the request's connection
(found in /proc), and every copy ends when the gateway stops.
"""

from __future__ import annotations

import http.client
import json
import signal
from pathlib import Path
from typing import Any

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.mcp_servers import fake_server_params
from tests.support.polling import wait_until
from tests.support.processes import GatewayProcess, child_pids, serve_config, worker_serving

CALLS = 12  # on fresh connections, so the kernel spreads them over both workers
EXIT_TIMEOUT = 60.0


def processes_naming(marker: str) -> dict[int, int]:
    """pid -> parent pid of the live processes whose command line holds `marker` (Linux /proc)."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker not in (proc / "cmdline").read_text(errors="replace"):
                continue
            # The parent is the 2nd field after the command name, which may hold spaces.
            found[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue  # gone meanwhile
    return found


def post_on_a_new_connection(server: GatewayProcess, body: dict[str, Any]) -> tuple[int, Any]:
    """POST /api/chat on a connection of its own: the worker that holds it, and the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.connect()
        assert connection.sock is not None
        client_port = connection.sock.getsockname()[1]
        connection.request(
            "POST", "/api/chat", json.dumps(body), {"content-type": "application/json"}
        )
        response = connection.getresponse()
        assert response.status == 200
        answer = json.loads(response.read())
        # Still open (keep-alive), so the worker that answered still holds it.
        return worker_serving(server.process.pid, client_port, server.port), answer
    finally:
        connection.close()


def received(record: Path, method: str) -> int:
    """How many `method` messages the server copies have received, together."""
    if not record.exists():
        return 0
    lines = record.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if json.loads(line).get("method") == method)


def test_each_worker_runs_and_calls_its_own_stdio_server_and_both_end_with_it(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    # The record file is unique to this test: it marks the server copies' command lines.
    record = tmp_path / "fake-server-record.jsonl"
    fake = fake_server_params("--tools", "pid", "--record", str(record))
    config = config_for(upstream)
    config["mcp_servers"] = {"fake": {"command": fake.command, "args": list(fake.args)}}
    config["gateway"] = {"tools": ["mcp__fake__pid"]}
    server = serve_config(config, tmp_path, "--workers", "2")
    try:
        # Both workers have listed their copy's tools (/health/ready is one worker's view).
        wait_until(lambda: received(record, "tools/list") >= 2, 30)
        copies = processes_naming(str(record))
        workers = set(child_pids(server.process.pid))
        assert len(copies) == 2, copies
        assert len(set(copies.values())) == 2, f"one parent for both copies: {copies}"
        assert set(copies.values()) <= workers, f"not the workers' children: {copies} {workers}"
        assert received(record, "initialize") == 2  # each copy was started by its own worker

        answered: set[int] = set()
        for _ in range(CALLS):
            upstream.script(
                Reply(tool_calls=[FakeToolCall("mcp__fake__pid", "{}")]), Reply(chunks=["ok"])
            )
            body = {
                "model": "chat-model",
                "stream": False,
                "messages": [{"role": "user", "content": "which process?"}],
            }
            worker, answer = post_on_a_new_connection(server, body)
            (result,) = answer["toolResults"]
            assert result["isError"] is False, result
            ids = result["result"]
            # The copy that answered is the child of the worker that holds this connection.
            assert ids["pid"] in copies and ids["ppid"] == worker, (ids, worker, copies)
            answered.add(ids["pid"])
        assert answered == set(copies), f"one worker served every call: {answered}"
        assert received(record, "tools/call") == CALLS
    finally:
        server.signal(signal.SIGTERM)
        code = server.wait_exit(EXIT_TIMEOUT)
        server.stop()
    assert code == 0, server.output()
    assert processes_naming(str(record)) == {}, "a server copy outlived the gateway"
