"""Where a server's CPU goes under streamed load: top functions and totals by library (py-spy).

Why: bench/proxy_compare.py says how much CPU a streamed answer costs; this says where it goes,
so work on the stream path can aim at the biggest share and check that it shrank.

    .venv/bin/python bench/profile.py                        # the gateway, 200-chunk streams
    .venv/bin/python bench/profile.py --target bare --chunks 20 --seconds 20 --top 40
    .venv/bin/python bench/profile.py --target floor --json-answer --chunks 20 --concurrency 1

Starts the target (gateway by default, or floor, bare or proxy; set up exactly as in
bench/proxy_compare.py, see bench/_targets.py) in front of the lean fake upstream, drives streamed
load at it for --warmup seconds, then keeps the load on while py-spy (installed into
bench/.proxy-venv on first use, never a gateway dependency) attaches to the target's process
and samples it for --seconds:

    py-spy record --pid PID --gil --format raw --nolineno --full-filenames --subprocesses

Then it prints the top --top functions by self time (the function itself on top of the stack)
with their inclusive share (anywhere on the stack), and self time totalled by library: litellm,
openai, pydantic, httpx/httpcore/aiohttp, starlette/fastapi, uvicorn/h11/httptools,
asyncio/uvloop/anyio, gateway, json, the rest of the standard library, other; with each
library's three biggest files.

Every sample is the thread holding the GIL, i.e. running Python code; C code counts for the
Python function that called it. Why --gil: without it py-spy pauses the process for each sample
and then, here, takes idle thread-pool workers for running ones (10 % of all samples in a test
where they only waited); with --nonblocking (--all-threads) that is gone but about a fifth of
the samples fail to read. On a busy machine a thread that holds the GIL while the kernel runs
another process still counts, so shares are of wall time with the GIL held; the line above the
profile sets that against the CPU time /proc reports for the same seconds.

py-spy attaches with ptrace. In this container (root, CAP_SYS_PTRACE) `py-spy record --pid`
works. Where it does not (kernel.yama.ptrace_scope 1 or more without CAP_SYS_PTRACE), the script
says so and exits 2; running as root or `sudo sysctl kernel.yama.ptrace_scope=0` fixes it.
The load figures printed with the profile are measured while py-spy samples, so they may sit a
little below bench/proxy_compare.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from _load import Window, answer_check, chat_request, drive, snapshot_of
from _targets import Served, bench_venv, lean_upstream, start_target
from stream_throughput import (
    REPO_ROOT,
    log,
    non_negative_float,
    positive_float,
    positive_int,
    run_async,
)

# Top-level module -> the library it is counted under.
LIBRARIES: dict[str, tuple[str, ...]] = {
    "litellm": ("litellm", "litellm_enterprise", "litellm_proxy_extras", "enterprise"),
    "openai": ("openai",),
    "pydantic": ("pydantic", "pydantic_core", "pydantic_settings", "annotated_types"),
    "httpx/httpcore/aiohttp": (
        "httpx", "httpcore", "aiohttp", "h2", "hpack", "yarl", "multidict", "aiohappyeyeballs",
        "propcache", "frozenlist", "aiosignal", "anyio_http", "certifi",
    ),
    "starlette/fastapi": ("starlette", "fastapi", "sse_starlette"),
    "uvicorn/h11/httptools": ("uvicorn", "h11", "httptools"),
    "asyncio/uvloop/anyio": ("asyncio", "uvloop", "anyio", "sniffio", "selectors", "concurrent"),
    "gateway": ("gateway",),
    "json": ("json", "orjson"),
}  # fmt: skip
GROUP_OF = {module: group for group, modules in LIBRARIES.items() for module in modules}
STDLIB_DIR = re.compile(r"/lib/python3\.\d+/")
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*)\)$")


@dataclass(frozen=True)
class Place:
    """Where a function lives: its file (shortened for print) and library group."""

    path: str
    short: str
    group: str
    module: str


def place(path: str) -> Place:
    if "site-packages/" in path:
        short = path.split("site-packages/", 1)[1]
        module = short.split("/", 1)[0].removesuffix(".py")
        return Place(path, short, GROUP_OF.get(module, "other"), module)
    repo = str(REPO_ROOT) + "/"
    if path.startswith(repo):
        short = path[len(repo) :]
        module = short.split("/", 1)[0]
        return Place(path, short, GROUP_OF.get(module, "other"), module)
    stdlib = STDLIB_DIR.search(path)
    if stdlib or path.startswith("<frozen "):
        short = path[stdlib.end() :] if stdlib else path.strip("<>").removeprefix("frozen ")
        module = re.split(r"[/.]", short, maxsplit=1)[0]
        return Place(path, short, GROUP_OF.get(module, "standard library (other)"), module)
    return Place(path, path, "other", path)


@dataclass
class Profile:
    samples: int
    self_samples: Counter[tuple[str, str]]  # (function, path) -> samples on top of the stack
    inclusive: Counter[tuple[str, str]]  # (function, path) -> samples anywhere on the stack


def parse_raw(text: str) -> Profile:
    """py-spy's raw format: one `frame;frame;...;frame COUNT` line per distinct stack, outermost
    frame first, each frame `function (path)`."""
    self_samples: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in text.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for frame in stack_text.split(";"):
            found = FRAME.match(frame)
            if found:  # `process NNN:"cmdline"` and thread frames are not functions
                frames.append((found["function"], found["path"]))
        if not frames:
            continue
        total += count
        self_samples[frames[-1]] += count
        for key in set(frames):
            inclusive[key] += count
    return Profile(total, self_samples, inclusive)


def print_profile(profile: Profile, top: int) -> None:
    total = profile.samples or 1
    print(f"\ntop {top} functions by self time ({profile.samples} samples)")
    print(f"{'self %':>7} {'incl %':>7}  function  (file)")
    for (function, path), count in profile.self_samples.most_common(top):
        share = 100 * count / total
        inclusive = 100 * profile.inclusive[function, path] / total
        print(f"{share:7.1f} {inclusive:7.1f}  {function}  ({place(path).short})")

    groups: Counter[str] = Counter()
    files: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for (_, path), count in profile.self_samples.items():
        where = place(path)
        groups[where.group] += count
        files[where.group][where.short] += count
    print("\nself time by library")
    for group, count in groups.most_common():
        biggest = ", ".join(
            f"{short} {100 * n / total:.1f}" for short, n in files[group].most_common(3)
        )
        print(f"{100 * count / total:7.1f} %  {group:<26} {biggest}")


def record(
    py_spy: Path, served: Served, args: argparse.Namespace, output: Path
) -> tuple[subprocess.Popen[bytes], Window]:
    """Sample the target with py-spy while the load runs; returns py-spy's process (ended)
    and the load's window."""
    command = [
        str(py_spy), "record", "--pid", str(served.pid), "--duration", str(int(args.seconds)),
        "--rate", str(args.rate), "--format", "raw", "--nolineno", "--full-filenames",
        "--subprocesses", "--output", str(output),
        *(["--nonblocking"] if args.all_threads else ["--gil"]),
    ]  # fmt: skip
    request = chat_request(served, args.chunks, not args.json_answer)
    complete = answer_check(args.chunks, not args.json_answer)
    spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        window: Window = run_async(
            drive(
                served.port,
                request,
                complete,
                concurrency=args.concurrency,
                warmup=0.3,  # py-spy attaching
                seconds=args.seconds,
                cpu_snapshot=snapshot_of({"target": served.pid}),
            )
        )
        spy.wait(60)
    finally:
        if spy.poll() is None:
            spy.terminate()
            spy.wait(10)
    return spy, window


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", choices=("gateway", "floor", "bare", "proxy"), default="gateway"
    )
    parser.add_argument(
        "--chunks", type=positive_int, default=200, help="text chunks per stream (default 200)"
    )
    parser.add_argument(
        "--json-answer",
        action="store_true",
        help="profile non-streamed requests (one JSON answer of --chunks words) instead",
    )
    parser.add_argument(
        "--seconds", type=positive_float, default=15.0, help="sampling time (default 15)"
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=3.0,
        help="seconds of load before sampling (default 3)",
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=10, help="concurrent streams (default 10)"
    )
    parser.add_argument(
        "--rate", type=positive_int, default=100, help="py-spy samples per second (default 100)"
    )
    parser.add_argument(
        "--top", type=positive_int, default=25, help="functions to list (default 25)"
    )
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every running thread, not only the one holding the GIL (py-spy "
        "--nonblocking; here about a fifth of such samples fail to read)",
    )
    parser.add_argument("--keep", type=Path, help="also write py-spy's raw output here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    py_spy = bench_venv(proxy=args.target == "proxy", py_spy=True) / "py-spy"
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(lean_upstream())
        served = stack.enter_context(start_target(args.target, upstream))
        request = chat_request(served, args.chunks, not args.json_answer)
        complete = answer_check(args.chunks, not args.json_answer)
        if args.warmup:
            log(f"warming {served.name} up for {args.warmup:g} s")
            run_async(
                drive(
                    served.port,
                    request,
                    complete,
                    concurrency=args.concurrency,
                    warmup=0.0,
                    seconds=args.warmup,
                    cpu_snapshot=snapshot_of({}),
                )
            )
        log(f"sampling {served.name} (pid {served.pid}) with py-spy for {args.seconds:g} s")
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-spy-")))
        output = workdir / "profile.txt"
        spy, window = record(py_spy, served, args, output)
        said = spy.stdout.read().decode(errors="replace") if spy.stdout else ""
        text = output.read_text() if output.exists() else ""
    if spy.returncode != 0 or not text:
        print(said, file=sys.stderr)
        if re.search(r"ptrace|Permission denied|Operation not permitted", said, re.I):
            log(
                "py-spy could not attach: it needs ptrace (run as root, give the container "
                "CAP_SYS_PTRACE, or set kernel.yama.ptrace_scope=0)"
            )
        return 2
    if args.keep:
        args.keep.write_text(text)
    profile = parse_raw(text)
    cpu = window.cpu.get("target")
    cpu_text = f", CPU {cpu / window.share * 1000:.1f} ms/req" if cpu and window.share else ""
    print(
        f"{served.name}: {served.about}\n"
        f"{args.chunks}-chunk streams, concurrency {args.concurrency}; while sampled: "
        f"{window.share / window.seconds:.1f} req/s{cpu_text}, {window.failures} failed"
    )
    errors = re.search(r"Samples: (\d+) Errors: (\d+)", said)
    if errors:
        print(
            f"py-spy: {profile.samples} samples at {args.rate}/s"
            f" ({profile.samples / args.rate:.1f} s, {errors[2]} unreadable) over"
            f" {args.seconds:g} s; /proc: the process used {cpu or 0:.1f} s of CPU meanwhile"
        )
    print_profile(profile, args.top)
    return 1 if window.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
