"""Running the app under uvicorn: workers, logging, metrics directory, limits, and a clean exit.

Uvicorn handles SIGTERM by stopping gracefully, then raises the signal again with the handler
that was there before it started, which by default kills the process (exit -15). A no-op handler
installed first makes a graceful stop end with status 0, as supervisors expect.

The gateway must be safe on a public port, so it serves with gateway.serving.http_server's protocol
(head cap, head and body read timeouts, caps per client address) and uvicorn's
`limit_concurrency` as its connection cap, with room for health probes above it.

With `--workers N` uvicorn's own supervisor runs the workers, subclassed for one thing: when a
worker is gone (killed, crashed, replaced on SIGHUP), its live gauges are removed from the
metrics directory, or `gateway_requests_in_flight` would count its requests forever.

With GATEWAY_METRICS_PORT, /metrics leaves the app and gets a listener of its own in this
process (gateway.doors.ops.metrics_routes.MetricsListener): the supervisor outlives every worker
and reads the metrics directory they all write to, so one scrape sums them all, whichever
workers come and go. It is bound before any worker starts (a taken port stops the start) and
closed after the last worker has exited. With one worker and no --reload the worker is this
process, and the listener reads its registry directly.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uvicorn.supervisors.multiprocess import Multiprocess

from gateway.observability.logs import configure_logging, logging_config
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.doors.ops.metrics_routes import MetricsListener

log = logging.getLogger("gateway")

APP = "gateway.app:create_app"
HTTP_PROTOCOL = "gateway.serving.http_server:GatewayHttpProtocol"  # by name: workers import it
# Beyond the drain's grace period, uvicorn's own last resort before it cancels what is left.
UVICORN_EXTRA_SECONDS = 5.0
# File descriptors a worker needs besides its connections (listening socket, Redis, logs, …).
SPARE_FILE_DESCRIPTORS = 256


def run(settings: Settings, workers: int = 1, reload: bool = False) -> int:
    import uvicorn

    configure_logging(settings.log_level, settings.log_format)
    if workers > 1 or (reload and settings.metrics_port is not None):
        # The workers are other processes: what they count must reach this one's listener.
        _prepare_multiprocess_metrics()
    connections = settings.max_connections + settings.probe_connections
    _raise_file_limit(2 * connections + SPARE_FILE_DESCRIPTORS)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: None)
    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": workers,
        "log_config": logging_config(settings.log_level, settings.log_format),
        "log_level": settings.log_level,
        "access_log": False,  # the gateway's request log says more, and never prints headers
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds + UVICORN_EXTRA_SECONDS),
        # The gateway decides whose X-Forwarded-For to believe (gateway.rate_limit.
        # trusted_proxies); uvicorn's own rewrite would trust 127.0.0.1 behind its back.
        "proxy_headers": False,
        "http": HTTP_PROTOCOL,
        "loop": "auto",  # uvloop wherever it is installed (every Linux install)
        # uvicorn refuses when the open connections, this one included, reach the limit; the
        # protocol refuses all but health probes beyond GATEWAY_MAX_CONNECTIONS already.
        "limit_concurrency": settings.max_connections + settings.probe_connections + 1,
    }
    listener = None
    if settings.metrics_port is not None:
        listener = _start_metrics_listener(settings.metrics_listen_host, settings.metrics_port)
        if listener is None:
            return 1
    try:
        if workers > 1 and not reload:
            config = uvicorn.Config(APP, **options)
            _WorkerSupervisor(config, sockets=[config.bind_socket()]).run()
        else:
            uvicorn.run(APP, reload=reload, **options)
    finally:
        if listener is not None:
            listener.close()
    return 0


def _start_metrics_listener(host: str, port: int) -> MetricsListener | None:
    from gateway.doors.ops.metrics_routes import MetricsListener

    try:
        return MetricsListener(host, port)
    except OSError as exc:
        log.error(
            "GATEWAY_METRICS_PORT: cannot listen on %s port %d for /metrics: %s", host, port, exc
        )
        return None


class _WorkerSupervisor(Multiprocess):
    """uvicorn's multiprocess supervisor that tells prometheus_client when a worker is gone."""

    def keep_subprocess_alive(self) -> None:
        with self._forgetting_departed_workers():
            super().keep_subprocess_alive()

    def handle_signals(self) -> None:  # SIGHUP replaces every worker, SIGTTOU retires one
        with self._forgetting_departed_workers():
            super().handle_signals()

    @contextmanager
    def _forgetting_departed_workers(self) -> Iterator[None]:
        before = {process.pid for process in self.processes}
        yield
        after = {process.pid for process in self.processes}
        from prometheus_client import multiprocess

        for pid in before - after:
            if pid is not None:
                # Removes its livesum/liveall gauge files; its counters still count.
                multiprocess.mark_process_dead(pid)
                log.info("worker %d is gone: its in-flight requests are no longer counted", pid)


def _raise_file_limit(wanted: int) -> None:
    """Let each worker hold its connections and their upstream connections, as far as the
    hard limit allows (a soft limit of 1024 is common and would fail accept() first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning(
            "open file limit %d is below the %d that GATEWAY_MAX_CONNECTIONS needs; "
            "lower GATEWAY_MAX_CONNECTIONS or raise the limit (ulimit -n)",
            target,
            wanted,
        )


def _prepare_multiprocess_metrics() -> None:
    """Give the workers one empty directory to write their metrics to (inherited via env)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # Files left by an earlier run would be summed into this one's counts.
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        import atexit

        atexit.register(shutil.rmtree, directory, True)
