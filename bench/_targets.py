"""The servers under test for bench/proxy_compare.py, bench/profile.py and bench/soak.py: how
each is installed and started.

Each runs on 127.0.0.1 in front of one lean fake upstream (bench/_lean_upstream.py), all asked
the same OpenAI request on POST /v1/chat/completions:

  direct   the fake upstream itself, a reference line;
  bare     bench/_bare_route.py: Starlette + `litellm.acompletion`, the floor of any
           LiteLLM-backed server;
  floor    bench/_floor_route.py: a bare ASGI app around the gateway's own Router call (lean
           reader, inline setup, LiteLLM's HTTP handler), the floor of the gateway's path;
  gateway  `python -m gateway serve` (this checkout) with a YAML mapping `chat-model` to the
           fake, router num_retries 0, GATEWAY_CONFIG_POLL_SECONDS=0, log level warning;
  baseline the same, with the gateway package as it was at another commit (--baseline REV);
  proxy    LiteLLM Proxy 1.106.2 (`litellm --config ... --num_workers N`) with the same
           model_list, no database, no master key, log level WARNING, no network fetches;
  portkey  Portkey's Node gateway (bench/_portkey.py says how it is installed and run).

One worker process each, unless `workers` > 1 for the gateway (`gateway serve --workers N`) or
the proxy (`--num_workers N`): then the target is named e.g. `gateway-2w`, and its CPU is the
whole process tree's (the supervisor and its workers).

LiteLLM Proxy and py-spy live in bench/.proxy-venv, a virtualenv of the bench's own, installed
with pip the first time it is needed and reused after; neither is a gateway dependency.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from _load import tree_cpu_seconds
from _portkey import install_portkey, portkey_command, portkey_headers
from stream_throughput import (
    API_KEY,
    HOST,
    MODEL_ID,
    REPO_ROOT,
    FakeUpstream,
    free_port,
    gateway,
    log,
    stop,
)

BENCH = Path(__file__).resolve().parent
LEAN_UPSTREAM = BENCH / "_lean_upstream.py"
BARE_ROUTE = BENCH / "_bare_route.py"
FLOOR_ROUTE = BENCH / "_floor_route.py"
BENCH_VENV = BENCH / ".proxy-venv"  # in .gitignore
PROXY_VERSION = "1.106.2"
PROXY_REQUIREMENT = f"litellm[proxy]=={PROXY_VERSION}"
PY_SPY_REQUIREMENT = "py-spy"
UPSTREAM_MODEL = "fake-model"
# "baseline" is the gateway at another commit (proxy_compare.py --baseline REV), measured in
# the same interleaved run as this checkout's: a before-and-after on one noisy machine.
TARGETS = ("direct", "bare", "floor", "baseline", "gateway", "proxy", "portkey")
WORKER_TARGETS = ("gateway", "proxy")  # the ones --workers N applies to
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


def target_name(kind: str, workers: int = 1) -> str:
    return kind if workers == 1 else f"{kind}-{workers}w"


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
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request, besides the key


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


def wait_idle(pid: int, name: str, limit: float = 90.0) -> None:
    """Wait until a process tree stops starting up (under 5 % of a core for a second): with
    several workers the first one's health answer says nothing of the others."""
    deadline = time.monotonic() + limit
    before = tree_cpu_seconds(pid)
    while time.monotonic() < deadline and before is not None:
        time.sleep(1.0)
        after = tree_cpu_seconds(pid)
        if after is None or after - before < 0.05:
            return
        before = after
    log(f"!!! {name} still busy after {limit:.0f} s of waiting for its workers to start")


def _clean_env(**changes: str) -> dict[str, str]:
    """This environment without what could point a server elsewhere (keys, databases, Redis,
    another checkout), plus `changes`."""
    dropped = ("LITELLM_", "DATABASE_", "REDIS_", "GATEWAY_", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, **changes}


@contextlib.contextmanager
def bare_route(upstream_url: str, name: str = "bare") -> Iterator[Served]:
    """bench/_bare_route.py, or (name "floor") bench/_floor_route.py: same arguments."""
    script, about = _ROUTES[name]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
        command = [sys.executable, str(script), "--port", "{port}", "--api-base", upstream_url]
        command += ["--api-key", API_KEY]
        env = _clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True")
        with serve_process(name, command, "/health", env, Path(workdir)) as (port, pid):
            yield Served(name, port, pid, MODEL_ID, about)


_ROUTES = {
    "bare": (BARE_ROUTE, "Starlette route around litellm.acompletion (bench/_bare_route.py)"),
    "floor": (FLOOR_ROUTE, "ASGI app around the gateway's Router call (bench/_floor_route.py)"),
}


def _gateway_env() -> dict[str, str | None]:
    """Nothing from this shell's GATEWAY_* or Redis settings: the bench's config only."""
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith(("GATEWAY_", "REDIS_"))
    }
    return {**unset, "GATEWAY_CONFIG_POLL_SECONDS": "0"}


@contextlib.contextmanager
def gateway_server(upstream_url: str, workers: int = 1) -> Iterator[Served]:
    name = target_name("gateway", workers)
    with gateway(upstream_url, "warning", env_changes=_gateway_env(), workers=workers) as (
        port,
        pid,
    ):
        if workers > 1:
            wait_idle(pid, name)
        flag = f" --workers {workers}" if workers > 1 else ""
        about = (
            f"python -m gateway serve{flag} ({checkout_state()}), config polling off,"
            " log level warning"
        )
        yield Served(name, port, pid, MODEL_ID, about)


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
        env = _gateway_env()
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
def litellm_proxy(upstream_url: str, workers: int = 1) -> Iterator[Served]:
    bin_dir = bench_venv(proxy=True)
    name = target_name("proxy", workers)
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as workdir:
        config = Path(workdir, "config.yaml")
        config.write_text(proxy_config(upstream_url))
        command = [str(bin_dir / "litellm"), "--config", str(config), "--host", HOST]
        command += ["--port", "{port}", "--num_workers", str(workers)]
        env = _clean_env(**PROXY_OFFLINE_ENV)
        with serve_process(name, command, "/health/liveliness", env, Path(workdir)) as (
            port,
            pid,
        ):
            if workers > 1:
                wait_idle(pid, name)
            about = (
                f"LiteLLM Proxy {PROXY_VERSION} (litellm --num_workers {workers}), no DB, no key"
            )
            yield Served(name, port, pid, MODEL_ID, about)


@contextlib.contextmanager
def portkey_gateway(upstream_url: str) -> Iterator[Served]:
    command, about = portkey_command(install_portkey())
    with tempfile.TemporaryDirectory(prefix="bench-portkey-") as workdir:
        # No REDIS_* (its cache), no *_PROXY: nothing but the bench's settings.
        env = _clean_env(NODE_ENV="production")
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(name, None)
        with serve_process("portkey", command, "/", env, Path(workdir)) as (port, pid):
            headers = portkey_headers(upstream_url)
            yield Served("portkey", port, pid, UPSTREAM_MODEL, about, headers)


@contextlib.contextmanager
def start_target(
    name: str, upstream: FakeUpstream, baseline: str | None = None, workers: int = 1
) -> Iterator[Served]:
    if workers != 1 and name not in WORKER_TARGETS:
        raise ValueError(f"{name} runs one process; --workers applies to {WORKER_TARGETS}")
    if name == "direct":
        yield direct(upstream)
    elif name == "baseline":
        if baseline is None:
            raise ValueError("the baseline target needs a revision (--baseline REV)")
        with baseline_gateway(upstream.url, baseline) as served:
            yield served
    elif name in ("bare", "floor"):
        with bare_route(upstream.url, name) as served:
            yield served
    elif name == "gateway":
        with gateway_server(upstream.url, workers) as served:
            yield served
    elif name == "proxy":
        with litellm_proxy(upstream.url, workers) as served:
            yield served
    elif name == "portkey":
        with portkey_gateway(upstream.url) as served:
            yield served
    else:
        raise ValueError(f"unknown target {name!r}")
