"""The process around the app: reload triggers, and a clean stop for streams in flight.

On SIGTERM (or SIGINT) uvicorn stops accepting connections and waits for the open ones; the
Drain gives streams in flight `grace` seconds to finish on their own, then ends each with an
error part and a finish part, so no client is left with a stream that just stops. SIGHUP reloads
the YAML. Signals can only be handled in the main thread; elsewhere (tests serving the app from
a thread) these handlers are simply not installed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("gateway.lifecycle")

SHUTDOWN_MESSAGE = "the gateway is shutting down; this answer was cut short"


class Drain:
    """Streams in progress, and the deadline after which a stopping process cuts them."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.draining = False
        self._streams: set[asyncio.Task[Any]] = set()
        self._cut: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def track(self) -> asyncio.Task[Any] | None:
        """Register the task running the current stream (None outside a task)."""
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        return task

    def untrack(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._streams.discard(task)
            self._cut.discard(task)

    def was_cut(self, task: asyncio.Task[Any] | None) -> bool:
        """Was `task` cancelled by this drain (not by a client leaving)?"""
        return task is not None and task in self._cut

    def begin(self) -> None:
        """Start the grace period (idempotent). Runs on the event loop."""
        if self.draining:
            return
        self.draining = True
        log.info(
            "shutting down: %d stream(s) in flight get %.0f s to finish",
            len(self._streams),
            self.grace_seconds,
        )
        self._timer = asyncio.get_running_loop().call_later(self.grace_seconds, self.cut_all)

    def cut_all(self) -> None:
        if self._streams:
            log.warning("grace period over: ending %d stream(s) with an error", len(self._streams))
        for task in list(self._streams):
            self._cut.add(task)
            task.cancel(SHUTDOWN_MESSAGE)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def install_signal_handlers(drain: Drain, reload: Callable[[], None]) -> None:
    """SIGTERM/SIGINT also start the drain (uvicorn's own handling still runs); SIGHUP reloads.

    Called from the app's startup, after uvicorn installed its handlers; uvicorn puts the
    originals back when it exits, which removes these too.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _chained(sig, lambda: loop.call_soon_threadsafe(drain.begin)))
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda sig, frame: loop.call_soon_threadsafe(reload))


def _chained(
    sig: signal.Signals, first: Callable[[], object]
) -> Callable[[int, FrameType | None], None]:
    previous = signal.getsignal(sig)

    def handler(number: int, frame: FrameType | None) -> None:
        first()
        if callable(previous):
            previous(number, frame)

    return handler
