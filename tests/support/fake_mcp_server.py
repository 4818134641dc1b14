"""A stdio MCP server that misbehaves on request: raw JSON-RPC, one message a line, no SDK.

Run it as `python tests/support/fake_mcp_server.py [flags]`. It speaks the initialize-handshake
protocol versions 2025-06-18 and 2025-11-25 (it answers initialize with the client's version when
it is one of those, else 2025-11-25), declares `tools: {listChanged: true}`, and answers ping,
tools/list and tools/call; any other request is JSON-RPC error -32601 (so the mcp 2.x client's
`server/discover` probe falls back to initialize). Each request is handled on a thread of its
own, so a `slow` call does not hold up the others.

Tools:
  echo {text}            text content: the text
  structured {value}     structuredContent {"value": value, "length": len(value)} and the same
                         as a JSON text block (declares an outputSchema)
  image                  one image content block (a 1x1 PNG, base64)
  fail {message}         isError: true, with the message as text
  slow {seconds}         sleeps, then text "slept <seconds>"
  crash                  the process exits with status 3 in the middle of the call, unanswered
  malformed              a result that is not a CallToolResult (`content` is a string)
  add_tool {name}        adds a tool `name` (it answers "<name> called"), sends
                         notifications/tools/list_changed, then answers "added <name>"
  env {name}             text content: the environment variable's value ("" when unset)
  pid                    structuredContent {"pid": this process, "ppid": its parent}
An unknown tool's call is JSON-RPC error -32602.

Flags:
  --hang-initialize        never answers initialize (answers everything else)
  --exit-after-initialize  exits (status 0) right after answering initialize
  --exit-after SECONDS     exits (status 0) that long after answering initialize, idle or not
  --tools a,b              start with only these tools
  --record PATH            append every message received to PATH, one JSON object a line
  --stderr TEXT            writes TEXT to stderr at start, {env:NAME} replaced as below and
                           {n} by the line's number
  --stderr-repeat N        ...as N lines (default 1)
  --initialize-error TEXT  answers initialize with JSON-RPC error -32603 and TEXT, where
                           {env:NAME} is that environment variable's value (a server quoting
                           its own configuration back)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from typing import Any

PROTOCOL_VERSIONS = ("2025-06-18", "2025-11-25")
DEFAULT_PROTOCOL_VERSION = "2025-11-25"
CRASH_STATUS = 3
EOF_GRACE = 0.5  # seconds the requests in flight get to answer once stdin closes
# A 1x1 red PNG (RGBA).
TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJ"
    "RU5ErkJggg=="
)


def _schema(**properties: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": kind} for name, kind in properties.items()},
        "required": list(properties),
    }


TOOLS: dict[str, dict[str, Any]] = {
    "echo": {"description": "Echo the text back.", "inputSchema": _schema(text="string")},
    "structured": {
        "description": "Structured content: the value and its length.",
        "inputSchema": _schema(value="string"),
        "outputSchema": _schema(value="string", length="integer"),
    },
    "image": {"description": "A tiny PNG.", "inputSchema": _schema()},
    "fail": {"description": "A tool error (isError).", "inputSchema": _schema(message="string")},
    "slow": {"description": "Sleep, then answer.", "inputSchema": _schema(seconds="number")},
    "crash": {"description": "The server exits mid-call.", "inputSchema": _schema()},
    "malformed": {"description": "An invalid CallToolResult.", "inputSchema": _schema()},
    "add_tool": {"description": "Add a tool; list_changed.", "inputSchema": _schema(name="string")},
    "env": {"description": "An environment variable.", "inputSchema": _schema(name="string")},
    "pid": {"description": "This server's process id and its parent's.", "inputSchema": _schema()},
}


def with_env(template: str) -> str:
    """`template` with each {env:NAME} replaced by that environment variable's value."""
    return re.sub(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: os.environ.get(m[1], ""), template)


def text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}], "isError": False}


class FakeServer:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.out = sys.stdout
        self.write_lock = threading.Lock()
        self.tools_lock = threading.Lock()
        names = options.tools.split(",") if options.tools is not None else list(TOOLS)
        unknown = [name for name in names if name and name not in TOOLS]
        if unknown:
            raise SystemExit(f"unknown tools: {', '.join(unknown)}")
        self.tools = {name: dict(TOOLS[name], name=name) for name in names if name}
        self.added: set[str] = set()
        self.handlers: list[threading.Thread] = []
        self.record = open(options.record, "a", encoding="utf-8") if options.record else None  # noqa: SIM115

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":"))
        with self.write_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def answer(self, request_id: Any, result: dict[str, Any]) -> None:
        self.send({"id": request_id, "result": result})

    def error(self, request_id: Any, code: int, message: str) -> None:
        self.send({"id": request_id, "error": {"code": code, "message": message}})

    def serve(self) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                self.error(None, -32700, "Parse error")
                continue
            if self.record is not None:
                self.record.write(json.dumps(message) + "\n")
                self.record.flush()
            if not isinstance(message, dict) or "method" not in message:
                continue  # a response (this server sends no requests) or junk
            if "id" not in message:
                continue  # a notification: initialized, cancelled, ...
            thread = threading.Thread(target=self.handle, args=(message,), daemon=True)
            thread.start()
            self.handlers.append(thread)
        # stdin closed: the client is gone. Let the quick answers out, not wait for slow calls.
        deadline = time.monotonic() + EOF_GRACE
        for thread in self.handlers:
            thread.join(max(0.0, deadline - time.monotonic()))
        os._exit(0)

    def handle(self, request: dict[str, Any]) -> None:
        request_id, method = request["id"], request["method"]
        params = request.get("params") or {}
        if method == "initialize":
            self.initialize(request_id, params)
        elif method == "ping":
            self.answer(request_id, {})
        elif method == "tools/list":
            with self.tools_lock:
                tools = list(self.tools.values())
            self.answer(request_id, {"tools": tools})
        elif method == "tools/call":
            self.call(request_id, params.get("name"), params.get("arguments") or {})
        else:
            self.error(request_id, -32601, f"Method not found: {method}")

    def initialize(self, request_id: Any, params: dict[str, Any]) -> None:
        if self.options.hang_initialize:
            return
        if self.options.initialize_error is not None:
            self.error(request_id, -32603, with_env(self.options.initialize_error))
            return
        wanted = params.get("protocolVersion")
        version = wanted if wanted in PROTOCOL_VERSIONS else DEFAULT_PROTOCOL_VERSION
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "fake-mcp-server", "version": "1.0.0"},
        }
        self.answer(request_id, result)
        if self.options.exit_after_initialize:
            os._exit(0)
        if self.options.exit_after is not None:
            threading.Timer(self.options.exit_after, os._exit, args=(0,)).start()

    def call(self, request_id: Any, name: Any, arguments: dict[str, Any]) -> None:
        with self.tools_lock:
            known = name in self.tools
        if not known:
            self.error(request_id, -32602, f"Unknown tool: {name}")
            return
        if name in self.added:
            self.answer(request_id, text(f"{name} called"))
        elif name == "echo":
            self.answer(request_id, text(str(arguments.get("text", ""))))
        elif name == "structured":
            value = str(arguments.get("value", ""))
            data = {"value": value, "length": len(value)}
            result = text(json.dumps(data))
            self.answer(request_id, {**result, "structuredContent": data})
        elif name == "image":
            image = {"type": "image", "data": TINY_PNG, "mimeType": "image/png"}
            self.answer(request_id, {"content": [image], "isError": False})
        elif name == "fail":
            message = str(arguments.get("message", "the tool failed"))
            self.answer(request_id, {**text(message), "isError": True})
        elif name == "slow":
            seconds = float(arguments.get("seconds", 1))
            time.sleep(seconds)
            self.answer(request_id, text(f"slept {seconds:g}"))
        elif name == "crash":
            with self.write_lock:  # nothing half-written goes out; then die unanswered
                os._exit(CRASH_STATUS)
        elif name == "malformed":
            self.answer(request_id, {"content": "this is not a list of content blocks"})
        elif name == "add_tool":
            self.add_tool(request_id, str(arguments.get("name", "")))
        elif name == "env":
            self.answer(request_id, text(os.environ.get(str(arguments.get("name", "")), "")))
        elif name == "pid":
            ids = {"pid": os.getpid(), "ppid": os.getppid()}
            self.answer(request_id, {**text(json.dumps(ids)), "structuredContent": ids})

    def add_tool(self, request_id: Any, name: str) -> None:
        if not name:
            self.answer(request_id, {**text("add_tool needs a name"), "isError": True})
            return
        with self.tools_lock:
            self.tools[name] = {
                "name": name,
                "description": f"Added by add_tool: answers '{name} called'.",
                "inputSchema": {"type": "object", "properties": {}},
            }
            self.added.add(name)
        self.send({"method": "notifications/tools/list_changed"})
        self.answer(request_id, text(f"added {name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hang-initialize", action="store_true")
    parser.add_argument("--exit-after-initialize", action="store_true")
    parser.add_argument("--exit-after", type=float, metavar="SECONDS")
    parser.add_argument("--tools", help="comma-separated: start with only these tools")
    parser.add_argument("--record", help="append every received message to this file")
    parser.add_argument("--initialize-error", metavar="TEXT")
    parser.add_argument("--stderr", metavar="TEXT")
    parser.add_argument("--stderr-repeat", type=int, default=1, metavar="N")
    options = parser.parse_args()
    if options.stderr is not None:
        line = with_env(options.stderr)
        sys.stderr.writelines(
            line.replace("{n}", str(n)) + "\n" for n in range(1, options.stderr_repeat + 1)
        )
        sys.stderr.flush()
    FakeServer(options).serve()


if __name__ == "__main__":
    main()
