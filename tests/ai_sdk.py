"""Run the real AI SDK parsers (npm packages, under Node) against a live URL, or piped bytes.

`tests/node/` pins `ai@4` (as `ai4`) and the current `ai` side by side; its scripts POST a body
(or read a stream from stdin), parse the response with the SDK's own code and print what the
client rebuilt as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"
_install_lock = threading.Lock()


def ensure_node_packages() -> None:
    """`npm ci` once, if the pinned packages are not installed yet."""
    with _install_lock:
        if (NODE_DIR / "node_modules" / "ai4").is_dir() and (
            NODE_DIR / "node_modules" / "ai"
        ).is_dir():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "npm is not installed; the AI SDK conformance tests need Node and npm"
            )
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci failed in {NODE_DIR}:\n{done.stderr[-2000:]}")


def _run(script: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
    ensure_node_packages()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed; the AI SDK conformance tests need it")
    done = subprocess.run(
        [node, str(NODE_DIR / script), url],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} exited {done.returncode}:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_data_stream_client(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """ai@4: parseDataStreamPart on every line, processDataStream over the whole stream."""
    return _run("data_stream_client.mjs", url, body)


def run_ui_message_stream_client(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Current ai: parseJsonEventStream + uiMessageChunkSchema, then readUIMessageStream."""
    return _run("ui_message_stream_client.mjs", url, body)


def read_ui_message_stream_bytes(sse: bytes) -> dict[str, Any]:
    """Current ai: the same parsers as run_ui_message_stream_client, over bytes piped to stdin.

    Returns {"chunks", "invalidChunks", "errors", "messages" (how many readUIMessageStream
    yielded), "message" (the last one, or None), "thrown"}.
    """
    ensure_node_packages()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed; the AI SDK conformance tests need it")
    script = "ui_message_from_stdin.mjs"
    done = subprocess.run(
        [node, str(NODE_DIR / script)],
        input=sse,
        capture_output=True,
        timeout=60,
        cwd=NODE_DIR,
    )
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        raise RuntimeError(f"{script} exited {done.returncode}:\n{stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
