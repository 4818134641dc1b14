"""Shared by bench/proxy_compare.py, bench/profile.py and bench/soak.py: the requests, what a
complete answer is, CPU time from /proc, and a load driver that measures a fixed window (the
servers under test are bench/_targets.py's).

Why a load driver of its own (the connection and request helpers are stream_throughput.py's):
stream_throughput.py counts the requests started in its window and waits for them, which is
fine for 20-chunk answers of a few ms, but a 200-chunk stream through LiteLLM takes seconds
under load, and then the requests in flight at either end of a few-second window skew both
req/s and CPU per request by tens of percent. Here every request counts for the share of its own
duration that falls inside the window (half inside: half a request), CPU is read at the window's
two ends, and requests in flight when it closes are finished (and checked) but count only for
their share. In steady state that is unbiased whatever the window's length. Latency is taken
from the requests sent inside the window, each followed to its last byte.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from _lean_upstream import reply_text
from stream_throughput import API_KEY, HOST, BadResponse, Connection, http_post

if TYPE_CHECKING:
    from _targets import Served

REQUEST_TIMEOUT = 60.0  # seconds for one whole answer


# --- CPU time ------------------------------------------------------------------------------------


def tree_cpu_seconds(root: int) -> float | None:
    """User plus system CPU time of a process and all its descendants (Linux /proc), or None
    if the process is gone. Threads are included in their process's figures."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    if root not in cpu:
        return None
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


# --- requests and what a complete answer is -----------------------------------------------------

CONTENT_CHUNK = re.compile(rb'"content": ?"word\d+ "')


def chat_request(served: Served, chunks: int, stream: bool) -> bytes:
    payload: dict[str, object] = {
        "model": served.model,
        "messages": [{"role": "user", "content": f"chunks={chunks}"}],
        "stream": stream,
    }
    if stream:
        payload["stream_options"] = {"include_usage": True}
    headers = {"authorization": f"Bearer {API_KEY}", **dict(served.headers)}
    return http_post(served.port, "/v1/chat/completions", payload, headers)


def answer_check(chunks: int, stream: bool) -> Callable[[bytes], bool]:
    """Does a body hold the whole answer? Streams: every text chunk, the usage chunk, [DONE];
    JSON: the whole text and the usage."""
    if stream:

        def complete_stream(body: bytes) -> bool:
            return (
                body.endswith(b"data: [DONE]\n\n")
                and len(CONTENT_CHUNK.findall(body)) == chunks
                and b'"prompt_tokens":' in body
            )

        return complete_stream
    text = json.dumps("".join(reply_text(chunks))).encode()

    def complete_json(body: bytes) -> bool:
        return text in body and b'"prompt_tokens":' in body

    return complete_json


# --- the load driver -----------------------------------------------------------------------------


@dataclass
class Window:
    seconds: float = 0.0  # length of the measured window
    share: float = 0.0  # requests: each counts for the share of its duration inside the window
    # Of the answers to requests sent inside the window (each followed to its end, so long
    # streams are not left out for outlasting the window).
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in the window, per name
    completed: int = 0  # complete answers, warm-up and drain included
    failures: int = 0  # incomplete answers and errors, warm-up and drain included
    first_failure: str | None = None


async def drive(
    port: int,
    request: bytes,
    complete: Callable[[bytes], bool],
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    cpu_snapshot: Callable[[], dict[str, float | None]],
) -> Window:
    """Closed-loop load: `concurrency` keep-alive connections, one request at a time each, for
    `warmup` seconds unmeasured, then `seconds` measured, then until the last answer is in."""
    loop = asyncio.get_running_loop()
    clock = time.perf_counter  # not loop.time(): uvloop's clock ticks in whole milliseconds
    result = Window()
    spans: list[tuple[float, float]] = []
    opened: list[float] = []
    closed: list[float] = []
    before: dict[str, float | None] = {}
    after: dict[str, float | None] = {}

    def open_window() -> None:
        before.update(cpu_snapshot())
        opened.append(clock())

    def close_window() -> None:
        closed.append(clock())
        after.update(cpu_snapshot())

    loop.call_later(warmup, open_window)
    loop.call_later(warmup + seconds, close_window)

    async def worker() -> None:
        connection = Connection(HOST, port)
        try:
            while not closed:
                start = clock()
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        body = await connection.exchange(request)
                    if not complete(body):
                        raise BadResponse(f"incomplete answer: ...{body[-300:]!r}")
                except (OSError, ValueError, asyncio.IncompleteReadError, BadResponse) as exc:
                    connection.close()
                    result.failures += 1
                    result.first_failure = result.first_failure or f"{type(exc).__name__}: {exc}"
                    await asyncio.sleep(0.05)
                    continue
                spans.append((start, clock()))
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    t0, t1 = opened[0], closed[0]
    result.seconds = t1 - t0
    result.completed = len(spans)
    for start, end in spans:
        inside = min(end, t1) - max(start, t0)
        if inside > 0:
            result.share += inside / (end - start)
        if t0 <= start < t1:
            result.latencies.append(end - start)
    for name, end_cpu in after.items():
        start_cpu = before.get(name)
        if start_cpu is not None and end_cpu is not None:
            result.cpu[name] = end_cpu - start_cpu
    return result


def snapshot_of(processes: Mapping[str, int]) -> Callable[[], dict[str, float | None]]:
    """A CPU snapshot function: each named process tree's CPU seconds, and this client's."""

    def snapshot() -> dict[str, float | None]:
        found: dict[str, float | None] = {n: tree_cpu_seconds(p) for n, p in processes.items()}
        found["client"] = time.process_time()
        return found

    return snapshot
