"""One MCP server, run like a real dependency: started (or connected to), watched, restarted.

A supervisor task owns the connection: the SDK's client is entered and left in that one task
(its transports are anyio task groups, which must end in the task that began them). It lists
the server's tools, refreshes them on `notifications/tools/list_changed`, pings the server while
idle so a dead or hung one is noticed, and when the connection fails or the process dies it
connects again after a pause that doubles from `FIRST_RETRY_SECONDS` to `LONGEST_RETRY_SECONDS`
(reset once a connection has lasted `STEADY_SECONDS`). Tool calls come from request tasks and
share the one client; a call on a connection that breaks is a tool failure, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import mcp_types
from mcp.client.client import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from gateway import tasks
from gateway.config.mcp_servers import McpServerSpec
from gateway.mcp.naming import offered_names
from gateway.mcp.server_stderr import server_stderr
from gateway.mcp.stdio_launch import find_command
from gateway.observability import metrics
from gateway.redaction import Redactor
from gateway.tools.registry import ToolFailure

log = logging.getLogger("gateway.mcp")

State = Literal["starting", "ready", "failed", "missing_env", "stopped"]

CONNECT_TIMEOUT_SECONDS = 30.0  # to start or reach a server and list its tools
PING_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 30.0
STEADY_SECONDS = 60.0
MAX_TOOL_PAGES = 100  # a server whose tools/list never ends cannot hang the gateway
STOP_WAIT_SECONDS = 5.0
CONNECTION_CLOSED = -32000  # the SDK's MCPError code for a connection that ended


class ServerUnavailable(ToolFailure):
    """The server is not connected, or its connection broke during the call."""


class ServerConnection:
    def __init__(
        self,
        spec: McpServerSpec,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        restart: bool = True,
    ) -> None:
        self.spec = spec
        self.connect_timeout = connect_timeout
        self.restart = restart  # False: one attempt only (`check-config --connect`)
        self.state: State = "missing_env" if spec.missing_env else "starting"
        self.error: str | None = (
            f"environment variable {', '.join(spec.missing_env)} is not set"
            if spec.missing_env
            else None
        )
        self.restarts = 0
        self.connected_at: float | None = None
        self.protocol_version: str | None = None
        # Offered name -> the server's own tool, for the tools the spec lets through.
        self.tools: dict[str, mcp_types.Tool] = {}
        self.calls_in_flight = 0
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # a tools/list_changed, or a call that found it broken
        self._relist = False
        self._tried = asyncio.Event()  # the first attempt ended, either way

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self) -> None:
        metrics.MCP_RESTARTS.labels(self.name)  # exported at 0 from the start, so rate() works
        if self._task is None and self.state != "missing_env":
            self._task = tasks.spawn(self._supervise(), "mcp_server", f"mcp-{self.name}")
        elif self.state == "missing_env":
            self._tried.set()
            log.warning("MCP server %s not started: %s", self.name, self.error)
        self._publish()

    async def first_attempt(self) -> None:
        """Return once the first connection attempt has ended, connected or not."""
        await self._tried.wait()

    async def stop(self) -> None:
        """Close the connection (a stdio server's process ends with it)."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_WAIT_SECONDS):
                    await asyncio.shield(self._task)
            await tasks.end(self._task)
        self.state = "stopped"
        self.tools = {}
        self._publish()

    # --- calls, from request tasks ---------------------------------------------------------

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> mcp_types.CallToolResult:
        client = self._client
        if client is None or self.state != "ready":
            raise ServerUnavailable(
                f"the MCP server {self.name!r} is not connected ({self.error or self.state})"
            )
        self.calls_in_flight += 1
        try:
            return await client.call_tool(tool, dict(arguments))
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:  # the process died, or the stream ended
                self._broken(exc)
                raise ServerUnavailable(
                    f"the MCP server {self.name!r} went away during the call"
                ) from None
            # The server refused the call (unknown tool, bad arguments): its own words.
            raise ToolFailure(f"the MCP server {self.name!r} refused the call: {exc}") from None
        except ValidationError:
            raise ToolFailure(
                f"the MCP server {self.name!r} answered with a malformed tool result"
            ) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this call's own answer was cancelled (its client left, a timeout)
            # A remote server's transport that died cancels the calls waiting on it.
            self._broken(ConnectionError("the connection was lost"))
            raise ServerUnavailable(
                f"the MCP server {self.name!r} went away during the call"
            ) from None
        except TimeoutError:
            raise
        except Exception as exc:
            self._broken(exc)
            raise ServerUnavailable(
                f"the MCP server {self.name!r} went away during the call ({_reason(exc)})"
            ) from None
        finally:
            self.calls_in_flight -= 1

    def _broken(self, exc: BaseException) -> None:
        if self._client is not None:
            log.warning("MCP server %s: connection broken (%s)", self.name, _reason(exc))
            self.error = _reason(exc)
            self._wake.set()

    # --- the supervisor --------------------------------------------------------------------

    async def _supervise(self) -> None:
        pause = FIRST_RETRY_SECONDS
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                await self._connect_and_watch()
            except Exception as exc:
                self.error = _reason(exc)
                log.warning("MCP server %s: %s", self.name, self.error)
            finally:
                self._client = None
                self.tools = {}
                self._tried.set()
            if self._stop.is_set():
                return
            self.state = "failed"
            self._publish()
            if not self.restart:
                return
            if time.monotonic() - began >= STEADY_SECONDS:
                pause = FIRST_RETRY_SECONDS
            self.restarts += 1
            metrics.MCP_RESTARTS.labels(self.name).inc()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._stop.wait()
            pause = min(2 * pause, LONGEST_RETRY_SECONDS)

    async def _connect_and_watch(self) -> None:
        self._wake.clear()
        async with contextlib.AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    client = await stack.enter_async_context(await self._client_for(stack))
                    await self._list_tools(client)
            except TimeoutError:
                raise TimeoutError(
                    f"no answer within {self.connect_timeout:g} s (initialize, tools/list)"
                ) from None
            self._client = client
            self.protocol_version = client.protocol_version
            self.state, self.error, self.connected_at = "ready", None, time.time()
            self._tried.set()
            self._publish()
            log.info(
                "MCP server %s connected (%s, protocol %s): %d tools",
                self.name,
                self.spec.transport,
                self.protocol_version,
                len(self.tools),
            )
            await self._watch(client)

    async def _watch(self, client: Client) -> None:
        """Until stopped: ping while idle, list again when told; raise when the server is gone."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.spec.ping_interval):
                    await self._wake.wait()
            if self._stop.is_set():
                return
            if self._wake.is_set():
                self._wake.clear()
                if self.error is not None:  # a call found the connection broken
                    raise ConnectionError(self.error)
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                if self._relist or client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    # From 2026-07-28 there is no ping, and a tools/list_changed comes only to
                    # a client that listens for it: listing the tools again is both.
                    self._relist = False
                    before = set(self.tools)
                    await self._list_tools(client)
                    self._publish()
                    if set(self.tools) != before:
                        log.info("MCP server %s: tools changed: %d", self.name, len(self.tools))
                else:
                    with warnings.catch_warnings():  # said of 2026-07-28 sessions, not this one
                        warnings.simplefilter("ignore", MCPDeprecationWarning)
                        await client.send_ping()

    async def _list_tools(self, client: Client) -> None:
        listed: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(MAX_TOOL_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            listed.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        kept = {tool.name: tool for tool in listed if self.spec.offers(tool.name)}
        names = offered_names(self.name, kept)
        self.tools = {offered: kept[own] for offered, own in names.items()}

    async def _on_message(self, message: Any) -> None:
        notification = getattr(message, "root", message)
        if getattr(notification, "method", None) == "notifications/tools/list_changed":
            self._relist = True
            self._wake.set()

    async def _client_for(self, stack: contextlib.AsyncExitStack) -> Client:
        spec = self.spec
        target: Any
        if spec.transport == "stdio":
            parameters = StdioServerParameters(
                command=find_command(spec.command or ""),
                args=list(spec.args),
                env=dict(spec.env),
                cwd=spec.cwd,
            )
            # Entered before the client, so left after it: the process has ended by then.
            errlog = await stack.enter_async_context(
                server_stderr(self.name, Redactor(spec.secret_values))
            )
            target = stdio_client(parameters, errlog=errlog)
        elif spec.transport == "sse":
            target = sse_client(spec.url or "", headers=dict(spec.headers))
        else:
            # The SDK leaves a client it was given open: this connection closes it.
            http = await stack.enter_async_context(_http_client(spec))
            target = streamable_http_client(spec.url or "", http_client=http)
        return Client(target, message_handler=self._on_message, cache=None)

    def _publish(self) -> None:
        metrics.MCP_SERVER_UP.labels(self.name).set(1 if self.state == "ready" else 0)
        metrics.MCP_TOOLS.labels(self.name).set(len(self.tools))

    def report(self) -> dict[str, Any]:
        """What /health/ready says of this server."""
        return {
            "name": self.name,
            "transport": self.spec.transport,
            "target": self.spec.describe(),
            "state": self.state,
            "tools": len(self.tools),
            "error": self.error,
            "restarts": self.restarts,
            "protocol_version": self.protocol_version,
            "calls_in_flight": self.calls_in_flight,
        }


def _http_client(spec: McpServerSpec) -> Any:
    import httpx2  # the SDK's own HTTP client; only remote servers need it

    return httpx2.AsyncClient(
        headers=dict(spec.headers),
        timeout=httpx2.Timeout(CONNECT_TIMEOUT_SECONDS, read=300.0),
        follow_redirects=False,
    )


def _reason(exc: BaseException) -> str:
    """What went wrong, in a line (an exception group says its first cause)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
