"""The MCP server the shipped config starts offline (gateway/mcp/demo_server.py): its tools through
the official mcp SDK's client, and the README's first command on the embedded defaults, where the
demo model calls them through the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from gateway.mcp.stdio_launch import find_command
from tests.support.polling import wait_until
from tests.support.processes import CHECKOUT, clean_env, free_port, wait_healthy
from tests.support.wire import parse_lines

DEMO_TOOLS = {"roll_dice", "convert_units", "word_count"}
# What a fresh shell has: no virtualenv activated.
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


def demo_call(name: str, arguments: dict[str, Any]) -> Any:
    """Call one tool of a freshly started demo server, as any MCP client would."""

    async def run() -> Any:
        target = StdioServerParameters(
            command=sys.executable, args=["-m", "gateway.mcp.demo_server"], cwd=str(CHECKOUT)
        )
        async with Client(target) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            assert listed == DEMO_TOOLS
            return await client.call_tool(name, arguments)

    return asyncio.run(run())


def test_dice_with_a_seed_roll_the_same_every_time_as_structured_content() -> None:
    first = demo_call("roll_dice", {"sides": 20, "count": 4, "seed": 7})
    again = demo_call("roll_dice", {"sides": 20, "count": 4, "seed": 7})
    assert not first.is_error
    rolls = first.structured_content["rolls"]
    assert first.structured_content == again.structured_content
    assert len(rolls) == 4 and all(1 <= roll <= 20 for roll in rolls)
    assert first.structured_content["total"] == sum(rolls)
    other = demo_call("roll_dice", {"sides": 20, "count": 4, "seed": 8})
    assert other.structured_content["rolls"] != rolls


def test_units_convert_and_an_impossible_conversion_is_a_tool_error() -> None:
    boiling = demo_call("convert_units", {"value": 100, "from_unit": "C", "to_unit": "F"})
    assert boiling.structured_content["result"] == 212.0
    mile = demo_call("convert_units", {"value": 1, "from_unit": "mi", "to_unit": "km"})
    assert mile.structured_content["result"] == 1.609344
    wrong = demo_call("convert_units", {"value": 1, "from_unit": "kg", "to_unit": "m"})
    assert wrong.is_error
    assert "cannot convert 'kg' to 'm'" in wrong.content[0].text


def test_word_count_answers_in_text() -> None:
    counted = demo_call("word_count", {"text": "one two three\nfour"})
    assert counted.structured_content is None
    assert counted.content[0].text == "4 words, 18 characters, 2 lines"


def test_a_bare_command_is_found_beside_the_gateways_python_before_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", BARE_PATH)
    beside = Path(sys.executable).parent / "python"
    assert beside.is_file()  # a virtualenv's bin/ always has one
    assert find_command("python") == str(beside)
    assert find_command("sh") == "/bin/sh" or find_command("sh") == "/usr/bin/sh"
    assert find_command("./server.py") == "./server.py"  # a path is used as written
    assert find_command("no-such-mcp-server") == "no-such-mcp-server"  # for the spawn to name


@pytest.fixture(scope="module")
def readme_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The README's first command: the virtualenv's `gateway serve` from the checkout, on the
    embedded defaults, with no virtualenv on PATH."""
    port = free_port()
    log = tmp_path_factory.mktemp("readme") / "gateway.log"
    env = clean_env(PATH=BARE_PATH, GATEWAY_PORT=str(port))
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gateway"), "serve"],
            cwd=CHECKOUT,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, lambda: log.read_text(errors="replace"))
        yield url
    finally:
        process.terminate()
        process.wait(30)


def test_the_readme_first_command_serves_the_demo_tools_to_the_demo_model(
    readme_gateway: str,
) -> None:
    def report() -> dict[str, Any]:
        return dict(httpx.get(f"{readme_gateway}/health/ready", timeout=5).json())

    wait_until(lambda: report()["status"] == "ready", 30)
    (demo,) = report()["mcp_servers"]
    assert (demo["name"], demo["state"], demo["tools"]) == ("demo", "ready", 3)

    # The README's curl: a JSON answer (`"stream": false`) from /api/chat, the door whose tools
    # the gateway runs.
    question = 'call mcp__demo__roll_dice with {"sides": 6, "count": 3, "seed": 42}'
    answer = httpx.post(
        f"{readme_gateway}/api/chat",
        json={
            "model": "chat-model",
            "stream": False,
            "messages": [{"role": "user", "content": question}],
        },
        timeout=30,
    ).json()
    rolled = demo_call("roll_dice", {"sides": 6, "count": 3, "seed": 42}).structured_content
    assert [call["toolName"] for call in answer["toolCalls"]] == ["mcp__demo__roll_dice"]
    (result,) = answer["toolResults"]
    assert (result["result"], result["isError"]) == (rolled, False)
    assert answer["text"] == f"The tools returned: {json.dumps(rolled)}"


def test_the_demo_tools_result_streams_to_the_frontend(readme_gateway: str) -> None:
    wait_until(
        lambda: httpx.get(f"{readme_gateway}/health/ready", timeout=5).status_code == 200, 30
    )
    question = 'call mcp__demo__convert_units with {"value": 5, "from_unit": "km", "to_unit": "mi"}'
    response = httpx.post(
        f"{readme_gateway}/api/chat",
        json={"model": "chat-model", "messages": [{"role": "user", "content": question}]},
        timeout=30,
    )
    parts = parse_lines(response.text)
    (call,) = [part for code, part in parts if code == "9"]
    (result,) = [part for code, part in parts if code == "a"]
    assert call["toolName"] == "mcp__demo__convert_units"
    assert call["args"] == {"value": 5, "from_unit": "km", "to_unit": "mi"}
    assert result["result"] == {
        "value": 5.0,
        "from_unit": "km",
        "to_unit": "mi",
        "result": 3.106856,
    }
    assert parts[-1][0] == "d"


def test_the_demo_server_needs_nothing_but_the_gateways_python() -> None:
    # `python -m gateway.mcp.demo_server` as the shipped config runs it, the environment the mcp
    # SDK gives a stdio server (no PYTHONPATH, no virtualenv on PATH): it must still start.
    env = {"PATH": BARE_PATH, "HOME": os.environ.get("HOME", "/tmp")}
    done = subprocess.run(
        [find_command("python"), "-c", "import gateway.mcp.demo_server"],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
