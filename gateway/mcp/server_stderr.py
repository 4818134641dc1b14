"""A stdio MCP server's stderr, read into the gateway's log instead of passed through unmarked.

Each line becomes one record on the `gateway.mcp.server` logger, named by the server, with the
server's secrets scrubbed (the log formatter then scrubs every secret of the config too), cut
to `MAX_LINE_CHARS`. A server that floods is bounded: after `MAX_LINES` lines in one
`WINDOW_SECONDS`, the rest of that window is dropped, said once when it starts and counted when
it ends. The server writes into a pipe the gateway reads in its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import TextIO

from gateway import tasks
from gateway.redaction import Redactor

log = logging.getLogger("gateway.mcp.server")

MAX_LINE_CHARS = 2000
MAX_LINES = 100  # per window, per server process
WINDOW_SECONDS = 10.0
READ_CHUNK = 65536
DRAIN_SECONDS = 2.0  # after the process ended, for the last lines to be read


class _LineLog:
    """Lines of one server process to the log, bounded in length and in rate."""

    def __init__(self, server: str, redactor: Redactor) -> None:
        self.server = server
        self.redactor = redactor
        self.window_started = time.monotonic()
        self.in_window = 0
        self.dropped = 0

    def line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text.strip():
            return
        now = time.monotonic()
        if now - self.window_started >= WINDOW_SECONDS:
            self.end_window()
            self.window_started, self.in_window = now, 0
        self.in_window += 1
        if self.in_window > MAX_LINES:
            if self.dropped == 0:
                log.warning(
                    "MCP server %s: more than %d stderr lines in %g s; dropping the rest for now",
                    self.server,
                    MAX_LINES,
                    WINDOW_SECONDS,
                )
            self.dropped += 1
            return
        if len(text) > MAX_LINE_CHARS:
            text = text[: MAX_LINE_CHARS - 1] + "…"
        log.info("MCP server %s stderr: %s", self.server, self.redactor.scrub_secrets(text))

    def end_window(self) -> None:
        if self.dropped:
            log.warning("MCP server %s: %d stderr lines dropped", self.server, self.dropped)
            self.dropped = 0


async def _read(reader: asyncio.StreamReader, lines: _LineLog) -> None:
    pending = b""
    skipping = False  # inside a line already cut: its rest is dropped
    while chunk := await reader.read(READ_CHUNK):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            if not skipping:
                lines.line(raw)
            skipping = False
        # Bytes, not characters: a UTF-8 line of MAX_LINE_CHARS is at most 4x as long.
        if len(pending) > 4 * MAX_LINE_CHARS:
            if not skipping:
                lines.line(pending)
            pending, skipping = b"", True
    if pending and not skipping:
        lines.line(pending)
    lines.end_window()


@contextlib.asynccontextmanager
async def server_stderr(server: str, redactor: Redactor) -> AsyncIterator[TextIO]:
    """A file to give a stdio server as its stderr, read into the log until the server's end."""
    read_fd, write_fd = os.pipe()
    # fdopen, not open: a pipe's end opens at once, and the child's stderr is a copy of it.
    writer = os.fdopen(write_fd, "w", encoding="utf-8")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    reading = tasks.spawn(
        _read(reader, _LineLog(server, redactor)), "mcp_stderr", f"mcp-{server}-stderr"
    )
    try:
        yield writer
    finally:
        # The process has ended (the transport stops it first): with this copy closed too,
        # the pipe ends, once what is left in it has been read.
        writer.close()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_SECONDS):
                    await asyncio.shield(reading)
        finally:
            await tasks.end(reading)
            transport.close()
