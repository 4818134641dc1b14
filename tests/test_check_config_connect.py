"""`gateway check-config --connect`: every configured MCP server started (or reached) once, by
the gateway's own connection, its tools printed as offered, or its error (secrets scrubbed); a
server that never answers initialize is given up on after --connect-timeout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.mcp_gateways import stdio_entry
from tests.support.mcp_servers import fake_server_params, time_server_params
from tests.support.processes import CHECKOUT, clean_env

SECRET = "tok-connect-check-0123456789"


def check(
    tmp_path: Path, servers: dict[str, Any], *flags: str, **env: str
) -> subprocess.CompletedProcess[str]:
    config = {
        "model_list": [{"model_name": "chat-model", "litellm_params": {"model": "demo/chat"}}],
        "mcp_servers": servers,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", "--connect", *flags, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=CHECKOUT,
        env=clean_env(**env),
    )


def server_lines(stdout: str) -> dict[str, list[str]]:
    """Each server's report: its line, then its tools' lines."""
    found: dict[str, list[str]] = {}
    name = None
    _, heading, rest = stdout.partition("MCP servers (each given")
    assert heading, stdout
    for line in rest.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("    ") and ": " in line:
            name = line.strip().split(":", 1)[0]
            found[name] = [line.strip()]
        elif line.startswith("    ") and name is not None:
            found[name].append(line.strip())
    return found


def test_good_hung_and_crashing_servers_each_said_and_the_check_fails(tmp_path: Path) -> None:
    servers = {
        "good": stdio_entry(fake_server_params("--tools", "echo,structured")),
        "hung": stdio_entry(fake_server_params("--hang-initialize")),
        "crashing": stdio_entry(fake_server_params("--exit-after-initialize")),
    }
    done = check(tmp_path, servers, "--connect-timeout", "3")

    assert done.returncode == 1, done.stdout + done.stderr
    report = server_lines(done.stdout)
    good = report["good"]
    assert good[0].startswith("good: ready, 2 tools (stdio: ")
    assert good[1:] == [
        "mcp__good__echo        Echo the text back.",
        "mcp__good__structured  Structured content: the value and its length.",
    ]
    assert report["hung"][0].startswith(
        "hung: failed: TimeoutError: no answer within 3 s (initialize, tools/list)"
    )
    assert report["crashing"][0].startswith("crashing: failed: MCPError: Connection closed")
    assert "2 MCP server(s) not reached" in done.stderr
    assert "OK" not in done.stdout


def test_a_real_server_lists_its_tools_and_the_check_passes(tmp_path: Path) -> None:
    done = check(tmp_path, {"time": stdio_entry(time_server_params())})

    assert done.returncode == 0, done.stdout + done.stderr
    (time,) = server_lines(done.stdout).values()
    assert time[0].startswith("time: ready, 2 tools (stdio: ")
    assert [line.split()[0] for line in time[1:]] == [
        "mcp__time__convert_time",
        "mcp__time__get_current_time",
    ]
    assert all(len(line.split(None, 1)) == 2 for line in time[1:])  # each with its description
    assert done.stdout.rstrip().endswith(": OK")


def test_an_error_quoting_a_secret_is_printed_scrubbed(tmp_path: Path) -> None:
    quoting = fake_server_params(
        "--initialize-error",
        "bad token {env:SERVICE_TOKEN}, refusing",
        *("--stderr", "config: token={env:SERVICE_TOKEN}"),
    )
    servers = {"quoting": stdio_entry(quoting, env={"SERVICE_TOKEN": "os.environ/SERVICE_TOKEN"})}
    done = check(tmp_path, servers, SERVICE_TOKEN=SECRET)

    assert done.returncode == 1
    (line,) = server_lines(done.stdout)["quoting"]
    assert line.startswith("quoting: failed: MCPError: bad token ***, refusing")
    # What the server wrote to stderr is shown too, named and scrubbed.
    assert "gateway.mcp.server: MCP server quoting stderr: config: token=" in done.stderr
    assert SECRET not in done.stdout + done.stderr


def processes_naming(marker: str) -> list[int]:
    """The live processes whose command line holds `marker` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_text(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue  # gone meanwhile
    return found


def test_the_check_leaves_no_server_process_behind(tmp_path: Path) -> None:
    # A hung server is stopped too: nothing the check started outlives it. Its --record file,
    # unique to this test, marks its command line.
    record = tmp_path / "hung-server-record.jsonl"
    hung = fake_server_params("--hang-initialize", "--record", str(record))
    done = check(tmp_path, {"hung": stdio_entry(hung)}, "--connect-timeout", "1")

    assert done.returncode == 1
    assert '"method": "initialize"' in record.read_text(encoding="utf-8")  # it was started
    assert processes_naming(str(record)) == []
