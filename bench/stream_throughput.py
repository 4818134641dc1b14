"""Streamed chat throughput: the gateway against the upstream it forwards to.

Measures, in one run, streamed chat requests per second and p50/p99 latency (request sent to
last byte read) of

  direct   the fake OpenAI upstream (tests/support/fake_upstream.py), asked exactly what the gateway
           asks it: POST /v1/chat/completions with stream=true and stream_options.include_usage;
  gateway  `python -m gateway serve` in front of that same fake upstream, POST /api/chat,

then prints the ratios gateway/direct. Both targets get the same answer (--chunks text chunks,
no delays), the same number of concurrent keep-alive connections and the same warm-up and
measuring time, direct first. Every byte of every stream is read and the end of each answer is
checked. The fake upstream and the gateway each run in a process of their own; the load
generator is a minimal asyncio HTTP/1.1 client so it stays light next to them. Everything
listens on 127.0.0.1 and every child process is stopped on exit.

    /work/venv/bin/python bench/stream_throughput.py              # from the repo root
    /work/venv/bin/python bench/stream_throughput.py --concurrency 16 --seconds 20 --json

(`.venv/bin/python bench/stream_throughput.py` in a checkout set up with ./scripts/setup.)
The defaults take about 30 s. The machine is shared by all three processes, so compare ratios
from the same run rather than absolute numbers across machines; "cpu ms/req" (the CPU time the
target process spent per measured request) moves less with noise than RPS does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
FAKE_SERVER = Path(__file__).resolve().parent / "_fake_server.py"
HOST = "127.0.0.1"
API_KEY = "sk-bench"
MODEL_ID = "chat-model"
MESSAGES = [{"role": "user", "content": "hi"}]
REQUEST_TIMEOUT = 30.0  # seconds for one whole streamed request
START_TIMEOUT = 60.0  # seconds for a child process to start listening


# --- the load generator ------------------------------------------------------------------------


class BadResponse(Exception):
    """An answer that is not a complete 200 stream."""


class Connection:
    """One keep-alive HTTP/1.1 connection: writes a prepared request, reads the whole body."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.headers: dict[bytes, bytes] = {}  # of the last answer; names and values lowercased
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> bytes:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, _, header_block = head[:-4].partition(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        self.headers = headers
        if headers.get(b"transfer-encoding") == b"chunked":
            body = await self._read_chunked(self._reader)
        elif b"content-length" in headers:
            body = await self._reader.readexactly(int(headers[b"content-length"]))
        else:
            body = await self._reader.read()
            self.close()
        if headers.get(b"connection") == b"close":
            self.close()
        if status != 200:
            raise BadResponse(f"HTTP {status}: {body[:200]!r}")
        return body

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass  # trailers
                return bytes(body)
            body += (await reader.readexactly(size + 2))[:-2]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    request: bytes  # the whole HTTP request, sent as is
    complete: Callable[[bytes], bool]  # does this body hold a whole, successful answer?


def http_post(port: int, path: str, payload: dict[str, Any], headers: dict[str, str]) -> bytes:
    body = json.dumps(payload).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"host: {HOST}:{port}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def direct_target(base_url: str, chunks: int) -> Target:
    """The request LiteLLM sends upstream for a streamed chat (checked against the fake's log)."""
    url = urlsplit(base_url)
    assert url.port is not None
    payload = {
        "messages": MESSAGES,
        "model": "fake-model",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"authorization": f"Bearer {API_KEY}"}
    request = http_post(url.port, f"{url.path}/chat/completions", payload, headers)

    def complete(body: bytes) -> bool:
        # Every text chunk (reply_text() in _fake_server.py), the usage chunk, then [DONE].
        return (
            body.count(b'"content": "word') == chunks
            and b'"usage": {' in body
            and body.endswith(b"data: [DONE]\n\n")
        )

    return Target("direct", url.port, request, complete)


def gateway_target(port: int, chunks: int) -> Target:
    payload = {"model": MODEL_ID, "messages": MESSAGES, "stream": True}
    request = http_post(port, "/api/chat", payload, {})

    def complete(body: bytes) -> bool:
        # One `0:` text line per upstream chunk, then the `d:` finish line (reason "stop").
        lines = body.splitlines()
        return (
            sum(line.startswith(b"0:") for line in lines) == chunks
            and bool(lines)
            and lines[-1].startswith(b"d:")
            and b'"finishReason":"stop"' in lines[-1]
        )

    return Target("gateway", port, request, complete)


@dataclass
class Result:
    target: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)  # per process
    first_error: str | None = None


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, of recorded requests
    errors: int = 0
    first_error: str | None = None
    elapsed: float = 0.0  # from the end of the warm-up to the last recorded answer
    cpu_before: dict[str, float | None] = field(default_factory=dict)
    cpu_after: dict[str, float | None] = field(default_factory=dict)


async def load(
    target: Target,
    args: argparse.Namespace,
    cpu_snapshot: Callable[[], dict[str, float | None]],
) -> Run:
    """Closed-loop load: `args.concurrency` workers, each with one keep-alive connection
    sending one request at a time. Requests started during the warm-up are not recorded."""
    clock = time.perf_counter  # not loop.time(): uvloop's clock ticks in whole milliseconds
    measure_from = clock() + args.warmup
    stop_at = measure_from + args.seconds
    max_requests: int | None = args.requests
    run = Run()
    claimed = 0
    last_done = measure_from

    def start_measuring() -> None:
        run.cpu_before = cpu_snapshot()

    asyncio.get_running_loop().call_later(args.warmup, start_measuring)

    async def worker() -> None:
        nonlocal claimed, last_done
        connection = Connection(HOST, target.port)
        try:
            while (now := clock()) < stop_at:
                measured = now >= measure_from
                if measured:
                    if max_requests is not None and claimed >= max_requests:
                        return
                    claimed += 1
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        body = await connection.exchange(target.request)
                    if not target.complete(body):
                        raise BadResponse(f"incomplete answer: ...{body[-200:]!r}")
                except (OSError, ValueError, asyncio.IncompleteReadError, BadResponse) as exc:
                    connection.close()
                    if measured:
                        run.errors += 1
                        run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"
                    else:
                        await asyncio.sleep(0.05)  # the target may still be settling
                    continue
                end = clock()
                if measured:
                    run.latencies.append(end - now)
                    last_done = max(last_done, end)
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    run.cpu_after = cpu_snapshot()
    run.elapsed = last_done - measure_from
    return run


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux /proc), or None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(target: Target, processes: dict[str, int], args: argparse.Namespace) -> Result:
    """Load `target`; `processes` (name: pid) are the ones whose CPU time is reported."""

    def cpu_snapshot() -> dict[str, float | None]:
        snapshot = {name: cpu_seconds(pid) for name, pid in processes.items()}
        return {**snapshot, "client": time.process_time()}

    run: Run = run_async(load(target, args, cpu_snapshot))
    latencies, elapsed, count = run.latencies, run.elapsed, len(run.latencies)
    cpu: dict[str, float] = {}
    for name, end in run.cpu_after.items():
        start = run.cpu_before.get(name)
        if start is not None and end is not None and count:
            cpu[name] = round((end - start) / count * 1000, 3)
    if count >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        p50, p99 = cuts[49], cuts[98]
    else:
        p50 = p99 = latencies[0] if latencies else float("nan")
    return Result(
        target=target.name,
        requests=count,
        errors=run.errors,
        seconds=round(elapsed, 3),
        rps=round(count / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=round(p50 * 1000, 2),
        p99_ms=round(p99 * 1000, 2),
        cpu_ms_per_request=cpu,
        first_error=run.first_error,
    )


def run_async(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- the processes under test ------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass(frozen=True)
class FakeUpstream:
    url: str  # base URL, ending in /v1
    pid: int
    process: subprocess.Popen[bytes]

    def requests_seen(self) -> int:
        """How many chat requests the fake upstream has received so far."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())


@contextlib.contextmanager
def fake_upstream(
    chunks: int, first_byte_ms: float = 0.0, chunk_delay_ms: float = 0.0
) -> Iterator[FakeUpstream]:
    """Start bench/_fake_server.py, answering `chunks` text chunks after the given delays."""
    delays = ["--first-byte-ms", str(first_byte_ms), "--chunk-delay-ms", str(chunk_delay_ms)]
    process = subprocess.Popen(
        [sys.executable, str(FAKE_SERVER), "--chunks", str(chunks), *delays],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        line = process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http://"):
            raise RuntimeError(f"fake upstream did not start (exit code {process.poll()})")
        yield FakeUpstream(line, process.pid, process)
    finally:
        stop(process)


@contextlib.contextmanager
def gateway(
    upstream_url: str,
    log_level: str | None,
    gateway_yaml: str = "",
    env_changes: Mapping[str, str | None] | None = None,
    checkout: Path = REPO_ROOT,
    workers: int = 1,
) -> Iterator[tuple[int, int]]:
    """Start `python -m gateway serve` in front of `upstream_url`; yield its port and pid.

    `gateway_yaml` is appended to the config (e.g. a `gateway:` section); `env_changes` sets
    environment variables for the gateway, or removes those given as None; `checkout` is the
    directory whose `gateway` package runs (another commit's, for a before-and-after);
    `workers` > 1 runs `gateway serve --workers N` (the pid is then the supervisor's)."""
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as workdir:
        config = Path(workdir, "config.yaml")
        config.write_text(
            "model_list:\n"
            f"  - model_name: {MODEL_ID}\n"
            f"    litellm_params: {{model: openai/fake-model, api_base: {upstream_url},"
            f" api_key: {API_KEY}}}\n"
            "router_settings: {num_retries: 0, timeout: 30}\n" + gateway_yaml
        )
        port = free_port()
        # This checkout's gateway package, whatever the venv has installed.
        pythonpath = [str(checkout), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
        if log_level:
            env["GATEWAY_LOG_LEVEL"] = log_level
        for name, value in (env_changes or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        command = [sys.executable, "-m", "gateway", "serve", "--host", HOST, "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        output = Path(workdir, "gateway.log")
        with output.open("wb") as sink:
            # The work directory holds no .env, so only the flags and the environment count.
            process = subprocess.Popen(
                [*command, "--config", str(config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
            )
        try:
            started = time.monotonic()
            wait_healthy(process, port, output)
            log(f"gateway ready in {time.monotonic() - started:.1f} s")
            yield port, process.pid
        finally:
            stop(process)


def wait_healthy(process: subprocess.Popen[bytes], port: int, output: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = output.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"gateway exited with code {process.returncode}:\n{tail}")
        try:
            with opener.open(f"http://{HOST}:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:  # urllib.error.URLError included: not listening yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway not healthy on port {port} after {START_TIMEOUT:.0f} s")


# --- report ------------------------------------------------------------------------------------


def ratios(direct: Result, through: Result) -> dict[str, float]:
    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else float("nan")

    return {
        "rps_gateway_over_direct": ratio(through.rps, direct.rps),
        "p50_latency_gateway_over_direct": ratio(through.p50_ms, direct.p50_ms),
        "p99_latency_gateway_over_direct": ratio(through.p99_ms, direct.p99_ms),
    }


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    limit = f", at most {args.requests} requests" if args.requests else ""
    print(
        f"streamed chat, {args.chunks} chunks per answer, concurrency {args.concurrency}, "
        f"{args.seconds:g} s per target{limit} after {args.warmup:g} s warm-up"
    )
    print(
        f"{'target':<8} {'requests':>8} {'RPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        f" {'cpu ms/req':>10}"
    )
    for r in results:
        cpu = r.cpu_ms_per_request.get(r.target)
        cpu_text = f"{cpu:.2f}" if cpu is not None else "-"
        print(
            f"{r.target:<8} {r.requests:>8} {r.rps:>8.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}"
            f" {r.errors:>6} {cpu_text:>10}"
        )
    direct, through = results
    found = ratios(direct, through)
    print(f"ratio gateway/direct RPS: {found['rps_gateway_over_direct']:.3f}")
    print(f"p50 latency ratio: {found['p50_latency_gateway_over_direct']:.2f}")
    print(f"p99 latency ratio: {found['p99_latency_gateway_over_direct']:.2f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=8,
        help="concurrent connections, one request at a time each (default 8)",
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=10.0,
        help="measuring time per target, or less if --requests is reached first (default 10)",
    )
    parser.add_argument(
        "--requests",
        type=positive_int,
        default=None,
        help="measure at most this many requests per target (default: no limit)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=2.0,
        help="unrecorded seconds of the same load before measuring (default 2)",
    )
    parser.add_argument(
        "--chunks",
        type=positive_int,
        default=20,
        help="text chunks in each streamed answer (default 20)",
    )
    parser.add_argument(
        "--gateway-log-level",
        choices=["debug", "info", "warning", "error"],
        help="GATEWAY_LOG_LEVEL for the gateway (default: the gateway's own)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    return parser.parse_args(argv)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the child processes are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with fake_upstream(args.chunks) as fake:
        log(f"fake upstream at {fake.url}; measuring direct")
        direct = measure(direct_target(fake.url, args.chunks), {"direct": fake.pid}, args)
        with gateway(fake.url, args.gateway_log_level) as (port, gateway_pid):
            log("measuring gateway")
            through = measure(
                gateway_target(port, args.chunks),
                {"gateway": gateway_pid, "upstream": fake.pid},
                args,
            )
    results = [direct, through]
    if args.json:
        report = {
            "settings": {
                k: getattr(args, k)
                for k in ("concurrency", "seconds", "requests", "warmup", "chunks")
            },
            "results": [asdict(r) for r in results],
            "ratios": ratios(direct, through),
        }
        print(json.dumps(report, indent=2))
    else:
        print_table(results, args)
    failed = [r for r in results if r.errors or not r.requests]
    for r in failed:
        log(f"{r.target}: {r.errors} failed request(s), {r.requests} ok; first: {r.first_error}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
