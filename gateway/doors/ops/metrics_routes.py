"""GET /metrics: Prometheus text format, summed over worker processes.

Served by the app on GATEWAY_PORT, or, when GATEWAY_METRICS_PORT is set, only by MetricsListener:
a small threaded HTTP server that `gateway serve` runs in its own (supervising) process. That
process outlives every worker, so one scrape reads the multiprocess directory that all workers
write to (or, with a single worker in the same process, this process's registry).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.observability.metrics import exposition

log = logging.getLogger("gateway")

router = APIRouter()

PATH = "/metrics"
# A scrape's request arrives in one packet; a connection that stalls longer is dropped.
SOCKET_TIMEOUT_SECONDS = 10.0


@router.get(PATH, include_in_schema=False)
async def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


class _MetricsHandler(BaseHTTPRequestHandler):
    timeout = SOCKET_TIMEOUT_SECONDS
    server_version = "gateway-metrics"
    sys_version = ""

    def do_GET(self) -> None:  # http.server's naming
        if self.path.split("?", 1)[0] != PATH:
            self._answer(404, b"not found: this port serves only /metrics\n", "text/plain")
            return
        try:
            body, content_type = exposition()
        except Exception:
            log.exception("metrics: could not read the metrics")
            self._answer(500, b"metrics unavailable\n", "text/plain")
            return
        self._answer(200, body, content_type)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # scrapes are not requests worth a log line each


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer's own asks DNS for the host's full name, which can hang where DNS is slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsListener:
    """/metrics alone on (host, port), in a background thread; `close()` stops it."""

    def __init__(self, host: str, port: int) -> None:
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), _MetricsHandler)  # binds now: errors here
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="gateway-metrics", daemon=True
        )
        self._thread.start()
        log.info("metrics: serving %s on %s", PATH, _address(host, port))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _address(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
