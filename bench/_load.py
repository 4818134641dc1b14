"""Shared by bench/proxy_compare.py and bench/profile.py: the servers under test, the bench's own
virtualenv, and a load driver that measures a fixed window.

The servers, each one process (one worker) on 127.0.0.1, all in front of one lean fake upstream
(bench/_lean_upstream.py), all asked the same OpenAI request on POST /v1/chat/completions:

  direct   the fake upstream itself, a reference line;
  bare     bench/_bare_route.py: Starlette + `litellm.acompletion`, the floor of any
           LiteLLM-backed server;
  gateway  `python -m gateway serve` (this checkout) with a YAML mapping `chat-model` to the
           fake, router num_retries 0, GATEWAY_CONFIG_POLL_SECONDS=0, log level warning;
  baseline the same, with the gateway package as it was at another commit (--baseline REV);
  proxy    LiteLLM Proxy 1.106.2 (`litellm --config ... --num_workers 1`) with the same
           model_list, no database, no master key, log level WARNING, no network fetches.

LiteLLM Proxy and py-spy live in bench/.proxy-venv, a virtualenv of the bench's own, installed
with pip the first time it is needed and reused after; neither is a gateway dependency.

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
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from _lean_upstream import reply_text
from stream_throughput import (
    API_KEY,
    HOST,
    MODEL_ID,
    REPO_ROOT,
    BadResponse,
    Connection,
    FakeUpstream,
    free_port,
    gateway,
    http_post,
    log,
    stop,
)

BENCH = Path(__file__).resolve().parent
LEAN_UPSTREAM = BENCH / "_lean_upstream.py"
BARE_ROUTE = BENCH / "_bare_route.py"
BENCH_VENV = BENCH / ".proxy-venv"  # in .gitignore
PROXY_VERSION = "1.106.2"
PROXY_REQUIREMENT = f"litellm[proxy]=={PROXY_VERSION}"
PY_SPY_REQUIREMENT = "py-spy"
UPSTREAM_MODEL = "fake-model"
# "baseline" is the gateway at another commit (proxy_compare.py --baseline REV), measured in
# the same interleaved run as this checkout's: a before-and-after on one noisy machine.
TARGETS = ("direct", "bare", "baseline", "gateway", "proxy")
REQUEST_TIMEOUT = 60.0  # seconds for one whole answer
START_TIMEOUT = 120.0  # seconds for a server to answer its health check (the proxy takes ~15)
# The proxy reads these; each keeps it from fetching something over the network at start.
PROXY_OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
    "LITELLM_LOG": "WARNING",
}


# --- the bench's own virtualenv ------------------------------------------------------------------


def bench_venv(proxy: bool = False, py_spy: bool = False) -> Path:
    """bench/.proxy-venv's bin directory, with LiteLLM Proxy and/or py-spy installed."""
    bin_dir = BENCH_VENV / "bin"
    python = bin_dir / "python"
    if not python.exists():
        log(f"creating the bench's own virtualenv {BENCH_VENV.relative_to(REPO_ROOT)}")
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    wanted: list[str] = []
    if proxy and _installed_version(python, "litellm") != PROXY_VERSION:
        wanted.append(PROXY_REQUIREMENT)
    if py_spy and not (bin_dir / "py-spy").exists():
        wanted.append(PY_SPY_REQUIREMENT)
    if wanted:
        log(
            f"installing {' '.join(wanted)} into {BENCH_VENV.relative_to(REPO_ROOT)} with pip "
            "(once; LiteLLM Proxy takes a few minutes) ..."
        )
        command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *wanted]
        subprocess.run(command, check=True, stdout=sys.stderr)
        log("installed")
    return bin_dir


def _installed_version(python: Path, package: str) -> str | None:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


# --- the processes under test ------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    name: str
    port: int
    pid: int  # the target's CPU is this process's and its descendants'
    model: str  # what requests name as `model`
    about: str


@contextlib.contextmanager
def lean_upstream(chunks: int = 20) -> Iterator[FakeUpstream]:
    """Start bench/_lean_upstream.py; `chunks` text chunks unless a request asks for more."""
    process = subprocess.Popen(
        [sys.executable, str(LEAN_UPSTREAM), "--chunks", str(chunks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"fake upstream did not start (exit code {process.poll()})")
        yield FakeUpstream(line, process.pid, process)
    finally:
        stop(process)


def direct(upstream: FakeUpstream) -> Served:
    port = int(upstream.url.rsplit(":", 1)[1].split("/", 1)[0])
    about = "the fake upstream itself (bench/_lean_upstream.py), for reference"
    return Served("direct", port, upstream.pid, UPSTREAM_MODEL, about)


@contextlib.contextmanager
def serve_process(
    name: str,
    command: list[str],
    health_path: str,
    env: Mapping[str, str],
    workdir: Path,
) -> Iterator[tuple[int, int]]:
    """Run `command` (which must listen on the port given as {port}); yield its port and pid
    once GET `health_path` answers 200."""
    port = free_port()
    output = workdir / f"{name}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=dict(env),
        )
    try:
        started = time.monotonic()
        _wait_healthy(name, process, f"http://{HOST}:{port}{health_path}", output)
        log(f"{name} ready in {time.monotonic() - started:.1f} s (pid {process.pid})")
        yield port, process.pid
    finally:
        stop(process)


def _wait_healthy(name: str, process: subprocess.Popen[bytes], url: str, output: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = output.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with code {process.returncode}:\n{tail}")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} not healthy at {url} after {START_TIMEOUT:.0f} s")


def _clean_env(**changes: str) -> dict[str, str]:
    """This environment without what could point a server elsewhere (keys, databases, Redis,
    another checkout), plus `changes`."""
    dropped = ("LITELLM_", "DATABASE_", "REDIS_", "GATEWAY_", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, **changes}


@contextlib.contextmanager
def bare_route(upstream_url: str) -> Iterator[Served]:
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as workdir:
        command = [sys.executable, str(BARE_ROUTE), "--port", "{port}", "--api-base", upstream_url]
        command += ["--api-key", API_KEY]
        env = _clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True")
        with serve_process("bare", command, "/health", env, Path(workdir)) as (port, pid):
            about = "Starlette route around litellm.acompletion (bench/_bare_route.py), uvicorn"
            yield Served("bare", port, pid, MODEL_ID, about)


@contextlib.contextmanager
def gateway_server(upstream_url: str) -> Iterator[Served]:
    # Nothing from this shell's GATEWAY_* or Redis settings: the bench's config only.
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith(("GATEWAY_", "REDIS_"))
    }
    env = {**unset, "GATEWAY_CONFIG_POLL_SECONDS": "0"}
    with gateway(upstream_url, "warning", env_changes=env) as (port, pid):
        about = (
            f"python -m gateway serve ({checkout_state()}), config polling off, log level warning"
        )
        yield Served("gateway", port, pid, MODEL_ID, about)


@contextlib.contextmanager
def baseline_gateway(upstream_url: str, revision: str) -> Iterator[Served]:
    """The gateway package as it was at `revision`, run by this venv like this checkout's."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as checkout:
        archive = subprocess.run(
            ["git", "archive", commit, "gateway"], capture_output=True, cwd=REPO_ROOT, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", checkout], input=archive, check=True)
        unset: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith(("GATEWAY_", "REDIS_"))
        }
        env = {**unset, "GATEWAY_CONFIG_POLL_SECONDS": "0"}
        with gateway(upstream_url, "warning", env_changes=env, checkout=Path(checkout)) as (
            port,
            pid,
        ):
            about = f"python -m gateway serve (commit {commit}), config polling off, as gateway"
            yield Served("baseline", port, pid, MODEL_ID, about)


def checkout_state() -> str:
    """Which gateway code runs: the commit, and how many files under gateway/ differ from it
    (the code under measurement changes while the stream path is being worked on)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "gateway"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "this checkout"
    return f"commit {head}" + (f" + {len(changed)} changed files in gateway/" if changed else "")


def proxy_config(upstream_url: str) -> str:
    return (
        "model_list:\n"
        f"  - model_name: {MODEL_ID}\n"
        f"    litellm_params: {{model: openai/{UPSTREAM_MODEL},"
        f" api_base: {json.dumps(upstream_url)}, api_key: {API_KEY}}}\n"
        "router_settings: {num_retries: 0, timeout: 30}\n"
        # No master key, like the gateway's bench config without keys: nothing is checked.
        "general_settings: {dangerously_permit_weak_or_unset_master_key: true}\n"
    )


@contextlib.contextmanager
def litellm_proxy(upstream_url: str) -> Iterator[Served]:
    bin_dir = bench_venv(proxy=True)
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as workdir:
        config = Path(workdir, "config.yaml")
        config.write_text(proxy_config(upstream_url))
        command = [str(bin_dir / "litellm"), "--config", str(config), "--host", HOST]
        command += ["--port", "{port}", "--num_workers", "1"]
        env = _clean_env(**PROXY_OFFLINE_ENV)
        with serve_process("proxy", command, "/health/liveliness", env, Path(workdir)) as (
            port,
            pid,
        ):
            about = f"LiteLLM Proxy {PROXY_VERSION} (litellm --num_workers 1), no DB, no key"
            yield Served("proxy", port, pid, MODEL_ID, about)


@contextlib.contextmanager
def start_target(
    name: str, upstream: FakeUpstream, baseline: str | None = None
) -> Iterator[Served]:
    if name == "direct":
        yield direct(upstream)
    elif name == "baseline":
        if baseline is None:
            raise ValueError("the baseline target needs a revision (--baseline REV)")
        with baseline_gateway(upstream.url, baseline) as served:
            yield served
    elif name == "bare":
        with bare_route(upstream.url) as served:
            yield served
    elif name == "gateway":
        with gateway_server(upstream.url) as served:
            yield served
    elif name == "proxy":
        with litellm_proxy(upstream.url) as served:
            yield served
    else:
        raise ValueError(f"unknown target {name!r}")


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
    headers = {"authorization": f"Bearer {API_KEY}"}
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
