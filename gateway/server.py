"""Running the app under uvicorn: workers, logging, metrics directory, and a clean exit.

Uvicorn handles SIGTERM by stopping gracefully, then raises the signal again with the handler
that was there before it started, which by default kills the process (exit -15). A no-op handler
installed first makes a graceful stop end with status 0, as supervisors expect.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

from gateway.logs import configure_logging, logging_config
from gateway.settings import Settings

# Beyond the drain's grace period, uvicorn's own last resort before it cancels what is left.
UVICORN_EXTRA_SECONDS = 5.0


def run(settings: Settings, workers: int = 1, reload: bool = False) -> int:
    import uvicorn

    configure_logging(settings.log_level, settings.log_format)
    if workers > 1:
        _prepare_multiprocess_metrics()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: None)
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        reload=reload,
        log_config=logging_config(settings.log_level, settings.log_format),
        log_level=settings.log_level,
        access_log=False,  # the gateway's request log says more, and never prints headers
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds + UVICORN_EXTRA_SECONDS),
        # The gateway decides whose X-Forwarded-For to believe (gateway.rate_limit.
        # trusted_proxies); uvicorn's own rewrite would trust 127.0.0.1 behind its back.
        proxy_headers=False,
    )
    return 0


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
