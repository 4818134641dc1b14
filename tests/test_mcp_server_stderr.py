"""A stdio MCP server's stderr in the gateway's log: each line a `gateway.mcp.server` record
naming the server, its secrets scrubbed, long lines cut and a flood bounded with a note.

One `gateway serve` runs three fakes that write to stderr as they start; the log is read after
the gateway has stopped (the flood's count is said when its pipe ends)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator

import pytest

from gateway.mcp.server_stderr import MAX_LINE_CHARS, MAX_LINES
from tests.support.mcp_servers import fake_server_params
from tests.support.polling import wait_until
from tests.support.processes import serve_config

SECRET = "tok-stderr-check-0123456789"
FLOOD = 1000


def entry(*flags: str, **extra: object) -> dict[str, object]:
    server = fake_server_params("--tools", "echo", *flags)
    return {"command": server.command, "args": list(server.args), **extra}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    home = tmp_path_factory.mktemp("stderr")
    config = {
        "model_list": [{"model_name": "chat-model", "litellm_params": {"model": "demo/chat"}}],
        "mcp_servers": {
            "quoting": entry(
                "--stderr",
                "starting with token {env:SERVICE_TOKEN} (line {n})",
                "--stderr-repeat",
                "3",
                env={"SERVICE_TOKEN": "os.environ/SERVICE_TOKEN"},
            ),
            "wordy": entry("--stderr", "x" * (3 * MAX_LINE_CHARS)),
            "flooding": entry("--stderr", "flood {n}", "--stderr-repeat", str(FLOOD)),
        },
    }
    server = serve_config(config, home, SERVICE_TOKEN=SECRET)
    try:
        wait_until(lambda: server.output().count("MCP server flooding stderr: flood") > 0, 30)
        wait_until(lambda: "MCP server quoting stderr" in server.output(), 30)
    finally:
        server.signal(signal.SIGTERM)
        server.wait_exit(60)
        server.stop()
    yield server.output().splitlines()


def test_each_line_is_a_record_naming_its_server_with_secrets_scrubbed(log: list[str]) -> None:
    quoted = [line for line in log if "starting with token" in line]
    assert len(quoted) == 3, quoted
    for number, line in enumerate(quoted, 1):
        # The redactor's mask (it may keep a key's prefix, never the key).
        said = r"gateway\.mcp\.server: MCP server quoting stderr: starting with token \S*\*\*\*"
        assert re.search(rf"{said} \(line {number}\)$", line), line
    assert not any(SECRET in line for line in log)


def test_a_long_line_is_cut(log: list[str]) -> None:
    (wordy,) = [line for line in log if "MCP server wordy stderr:" in line]
    shown = wordy.split("MCP server wordy stderr: ", 1)[1]
    assert shown == "x" * (MAX_LINE_CHARS - 1) + "…"


def test_a_flood_is_bounded_and_said(log: list[str]) -> None:
    flood = [line for line in log if "MCP server flooding stderr: flood" in line]
    assert len(flood) == MAX_LINES
    assert flood[-1].endswith(f"flood {MAX_LINES}")
    assert any(f"MCP server flooding: more than {MAX_LINES} stderr lines" in line for line in log)
    assert any(
        f"MCP server flooding: {FLOOD - MAX_LINES} stderr lines dropped" in line for line in log
    )


def test_nothing_a_server_writes_reaches_the_log_unmarked(log: list[str]) -> None:
    written = ("starting with token", "xxxxxxxxxx", "flood ")
    unmarked = [
        line for line in log if any(w in line for w in written) and "MCP server " not in line
    ]
    assert unmarked == []
