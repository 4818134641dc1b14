"""Run the real AI SDK parsers (npm packages, under Node) against a live URL, or piped bytes.

`tests/support/node/` pins `ai@4` (as `ai4`), `ai@6` (as `ai6`) and the current `ai` side by
side, and `@ai-sdk/openai` (the OpenAI provider, which speaks the Responses API); its scripts
POST a body (or read a stream from stdin), parse the response with the SDK's own code and print
what the client rebuilt as JSON. `chat_transport_client.mjs` is a whole chat client: ai@6's
DefaultChatTransport as the resume-streams recipe configures it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

NODE_DIR = Path(__file__).resolve().parent / "node"
_install_lock = threading.Lock()


def ensure_node_packages() -> None:
    """`npm ci` once, if the pinned packages are not installed yet."""
    with _install_lock:
        modules = NODE_DIR / "node_modules"
        wanted = (
            "ai",
            "ai4",
            "ai6",
            "@ai-sdk/openai",
            "zod",
            "@modelcontextprotocol/server-everything",
        )
        if all((modules / name).is_dir() for name in wanted):
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


def run_openai_provider_client(base_url: str, options: dict[str, Any]) -> dict[str, Any]:
    """@ai-sdk/openai's default model form (OpenAI's Responses API) with the current `ai`:
    streamText, generateText, generateObject or a two-turn conversation against `base_url`.

    Returns {"mode", "paths" (every path the provider requested), "thrown", ...what the mode
    read: "text", "parts", "finishReason", "usage", "object", "texts"}.
    """
    return _run("ai_sdk_openai_client.mjs", base_url, options)


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


class ChatTransportClient:
    """chat_transport_client.mjs running in the background: ai@6's DefaultChatTransport against
    a gateway, in `options["mode"]` "send" or "reconnect" (see the script for its options).

    `wait_for_chunks` lets a test act once the client is following; `result` is its JSON."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        ensure_node_packages()
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed; the AI SDK conformance tests need it")
        self._script = "chat_transport_client.mjs"
        # With progress on, the script writes a line per chunk to stderr as it arrives.
        self._process = subprocess.Popen(
            [node, str(NODE_DIR / self._script), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=NODE_DIR,
        )
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._chunks_seen = 0
        self._changed = threading.Condition()
        assert self._process.stdout is not None and self._process.stderr is not None
        # Both pipes are drained by threads, so a long result cannot block the script.
        self._readers = [
            threading.Thread(target=self._stdout.extend, args=(self._process.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(options))
        self._process.stdin.close()

    def __enter__(self) -> ChatTransportClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the client if it still runs: a test that failed first leaves none behind."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self._stderr.append(line)
                if line.startswith("chunk "):
                    self._chunks_seen += 1
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_chunks(self, count: int, timeout: float = 30.0) -> None:
        """Until the client has read `count` chunks (it needs `progress: true`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._chunks_seen < count:
                if self._process.poll() is not None and not self._readers[1].is_alive():
                    raise RuntimeError(
                        f"{self._script} ended after {self._chunks_seen} chunks:\n"
                        + "".join(self._stderr)[-2000:]
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._script} read {self._chunks_seen} of {count} chunks")
                self._changed.wait(min(left, 0.2))

    def result(self, timeout: float = 60.0) -> dict[str, Any]:
        try:
            self._process.wait(timeout)
        finally:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
        for reader in self._readers:
            reader.join(5)
        if self._process.returncode != 0:
            stderr = "".join(self._stderr)[-2000:]
            raise RuntimeError(f"{self._script} exited {self._process.returncode}:\n{stderr}")
        result: dict[str, Any] = json.loads("".join(self._stdout))
        return result


def run_chat_transport_client(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """ai@6's DefaultChatTransport (resume-streams recipe) against the gateway at `url`: one
    sendMessages or reconnectToStream, read with readUIMessageStream.

    Returns {"mode", "status" ("finished", "ended", "aborted", "null" for a 204, "thrown"),
    "chunks", "errors", "message" (the last readUIMessageStream yielded, or None), "thrown"}.
    """
    return ChatTransportClient(url, options).result()


def run_approval_chat(options: dict[str, Any]) -> dict[str, Any]:
    """The SDK's own chat (AbstractChat, `options["sdk"]` "ai" or "ai6") through an approval:
    sendMessage, addToolApprovalResponse per request, the automatic send of the decisions
    (see approval_chat_client.mjs for the options).

    Returns {"requests" (each body sent), "statuses", "chunks" (chunk types per response),
    "messages" (the chat's at the end), "errors", "status"}.
    """
    ensure_node_packages()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed; the AI SDK conformance tests need it")
    script = "approval_chat_client.mjs"
    done = subprocess.run(
        [node, str(NODE_DIR / script)],
        input=json.dumps(options),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=NODE_DIR,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} exited {done.returncode}:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
