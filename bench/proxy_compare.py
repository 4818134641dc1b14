"""Side by side: LiteLLM Proxy 1.106.2, the bare `litellm.acompletion` route and the gateway.

Why: the gateway sends every chat through LiteLLM, so "fast" has to be judged against what
LiteLLM itself costs. This runs, one worker process each and all in front of ONE fake upstream
(bench/_lean_upstream.py, an `openai/fake-model` deployment at its URL):

  direct   the fake upstream itself, a reference line (the load generator is its limit);
  bare     bench/_bare_route.py: Starlette + `litellm.acompletion`, the floor of any
           LiteLLM-backed server;
  gateway  `python -m gateway serve` from this checkout (bench/_load.py says how it is set up);
  proxy    LiteLLM Proxy 1.106.2, `litellm --config ... --num_workers 1`, installed by this
           script into bench/.proxy-venv the first time (a few minutes; never a gateway
           dependency), no database, no master key, no network fetches,

and asks each the same POST /v1/chat/completions: a 20-chunk stream, a 200-chunk stream (stream
true, stream_options.include_usage) and a non-streamed answer of 20 words (--chunks sets the
stream lengths; the non-streamed answer has as many words as the first). Rounds are interleaved
so drift on a noisy machine hits every target alike: in each round every scenario is measured
on every target in turn (the order rotates from round to round), each for --warmup seconds
unmeasured and then --seconds measured. Per target and scenario it prints the median over rounds
of req/s, p50/p99 latency (request sent to last byte read), CPU ms per request and per chunk
(utime+stime of the target's process and its children from /proc over the measured window,
divided by the requests, and by requests x chunks), and the ratios gateway/proxy and
gateway/bare of req/s and CPU per request. bench/_load.py explains how requests are counted.

Every answer is checked: a stream must hold every text chunk, the usage chunk and end with
[DONE]; the JSON answer must hold the whole text; and the fake upstream must have received at
least as many requests as complete answers came back (no answer from a cache). Any failure is
printed in capitals after the table and makes the exit status 1.

    .venv/bin/python bench/proxy_compare.py                      # about 8 minutes
    .venv/bin/python bench/proxy_compare.py --targets gateway bare --chunks 20 --rounds 3
    .venv/bin/python bench/proxy_compare.py --json > compare.json
    .venv/bin/python bench/proxy_compare.py --baseline 70e5528   # + the gateway at that commit

The machine is shared by the load generator, the upstream and the target, so compare ratios
from one run rather than absolute figures across machines; CPU per request moves less with
noise than req/s does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from _load import (
    PROXY_REQUIREMENT,
    PROXY_VERSION,
    TARGETS,
    Served,
    Window,
    answer_check,
    bench_venv,
    chat_request,
    drive,
    lean_upstream,
    snapshot_of,
    start_target,
)
from stream_throughput import (
    HOST,
    Connection,
    FakeUpstream,
    log,
    non_negative_float,
    positive_float,
    positive_int,
    run_async,
)


@dataclass(frozen=True)
class Scenario:
    chunks: int
    stream: bool

    @property
    def name(self) -> str:
        return f"stream-{self.chunks}" if self.stream else f"json-{self.chunks}"

    @property
    def title(self) -> str:
        if self.stream:
            return f"streamed, {self.chunks} chunks"
        return f"non-streamed, {self.chunks} words"


@dataclass
class Measured:
    """One target, one scenario, one round."""

    rps: float
    p50_ms: float | None  # None when no request was sent inside the window
    p99_ms: float | None
    cpu_ms_per_request: float | None
    cpu_ms_per_chunk: float | None
    upstream_cpu_ms_per_request: float | None
    client_cpu_ms_per_request: float | None
    answers: int  # complete answers to requests sent inside the window
    failures: int


@dataclass
class Summary:
    """One target, one scenario: medians over the rounds."""

    target: str
    scenario: str
    rounds: list[Measured] = field(default_factory=list)
    failures: int = 0
    first_failure: str | None = None

    def median(self, name: str) -> float | None:
        values = [v for r in self.rounds if (v := getattr(r, name)) is not None]
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        names = (
            "rps",
            "p50_ms",
            "p99_ms",
            "cpu_ms_per_request",
            "cpu_ms_per_chunk",
            "upstream_cpu_ms_per_request",
            "client_cpu_ms_per_request",
        )
        medians = {n: _round(self.median(n)) for n in names}
        return {
            **medians,
            "answers": sum(r.answers for r in self.rounds),
            "failures": self.failures,
            "first_failure": self.first_failure,
            "rounds": [asdict(r) for r in self.rounds],
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def percentile_ms(values: list[float], fraction: float) -> float | None:
    if len(values) < 2:
        return values[0] * 1000 if values else None
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1] * 1000


def measure(
    served: Served,
    scenario: Scenario,
    upstream: FakeUpstream,
    args: argparse.Namespace,
    summary: Summary,
) -> Measured:
    processes = {"target": served.pid, "upstream": upstream.pid}
    seen_before = upstream.requests_seen()
    window: Window = run_async(
        drive(
            served.port,
            chat_request(served, scenario.chunks, scenario.stream),
            answer_check(scenario.chunks, scenario.stream),
            concurrency=args.concurrency,
            warmup=args.warmup,
            seconds=args.seconds,
            cpu_snapshot=snapshot_of(processes),
        )
    )
    failures = window.failures
    first_failure = window.first_failure
    reached = upstream.requests_seen() - seen_before
    if reached < window.completed:
        failures += window.completed - reached
        first_failure = first_failure or (
            f"{window.completed} complete answers but only {reached} upstream requests"
        )
    summary.failures += failures
    summary.first_failure = summary.first_failure or first_failure

    def per_request(name: str) -> float | None:
        cpu = window.cpu.get(name)
        return cpu / window.share * 1000 if cpu is not None and window.share else None

    cpu = per_request("target")
    return Measured(
        rps=window.share / window.seconds if window.seconds else 0.0,
        p50_ms=percentile_ms(window.latencies, 0.50),
        p99_ms=percentile_ms(window.latencies, 0.99),
        cpu_ms_per_request=cpu,
        cpu_ms_per_chunk=cpu / scenario.chunks if cpu is not None and scenario.stream else None,
        upstream_cpu_ms_per_request=per_request("upstream"),
        client_cpu_ms_per_request=per_request("client"),
        answers=len(window.latencies),
        failures=failures,
    )


def smoke_test(
    served: Served, scenarios: Sequence[Scenario], summaries: dict[Any, Summary]
) -> None:
    """One request per scenario before anything is timed: it pays for lazy imports and first
    connections, and says early when a target answers wrongly."""

    async def ask() -> None:
        for scenario in scenarios:
            connection = Connection(HOST, served.port)
            try:
                body = await connection.exchange(
                    chat_request(served, scenario.chunks, scenario.stream)
                )
                if not answer_check(scenario.chunks, scenario.stream)(body):
                    raise ValueError(f"incomplete answer: ...{body[-300:]!r}")
            except Exception as exc:
                summary = summaries[served.name, scenario.name]
                summary.failures += 1
                summary.first_failure = summary.first_failure or f"first request: {exc}"
                log(f"!!! {served.name} {scenario.name}: first request failed: {exc}")
            finally:
                connection.close()

    run_async(ask())


def ratios(summaries: dict[Any, Summary], scenario: Scenario) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for other in ("proxy", "bare", "baseline"):
        ours = summaries.get(("gateway", scenario.name))
        theirs = summaries.get((other, scenario.name))
        if ours is None or theirs is None:
            continue
        for metric, key in (("rps", "rps"), ("cpu_ms_per_request", "cpu")):
            a, b = ours.median(metric), theirs.median(metric)
            found[f"gateway/{other} {key}"] = _round(a / b, 3) if a is not None and b else None
    return found


def print_report(
    scenarios: Sequence[Scenario],
    targets: Sequence[Served],
    summaries: dict[Any, Summary],
    args: argparse.Namespace,
) -> None:
    print(
        f"one worker each, one fake upstream; concurrency {args.concurrency}, {args.rounds} "
        f"rounds of {args.seconds:g} s measured after {args.warmup:g} s warm-up; "
        "medians over rounds"
    )
    for served in targets:
        print(f"  {served.name:<8} {served.about}")
    for scenario in scenarios:
        print()
        print(scenario.title)
        print(
            f"{'target':<9} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'CPU ms/req':>10}"
            f" {'CPU ms/chunk':>12} {'answers':>8} {'failed':>7}"
        )
        for served in targets:
            s = summaries[served.name, scenario.name]
            flag = "  <-- FAILED" if s.failures else ""
            print(
                f"{served.name:<9} {_fmt(s.median('rps'), 1, 8)} {_fmt(s.median('p50_ms'), 1, 9)}"
                f" {_fmt(s.median('p99_ms'), 1, 9)} {_fmt(s.median('cpu_ms_per_request'), 2, 10)}"
                f" {_fmt(s.median('cpu_ms_per_chunk'), 4, 12)}"
                f" {sum(r.answers for r in s.rounds):>8} {s.failures:>7}{flag}"
            )
        found = ratios(summaries, scenario)
        if found:
            print("ratios: " + ", ".join(f"{k} {_fmt(v, 3, 0)}" for k, v in found.items()))


def _fmt(value: float | None, digits: int, width: int) -> str:
    text = "-" if value is None else f"{value:.{digits}f}"
    return f"{text:>{width}}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--chunks",
        type=positive_int,
        nargs="+",
        default=[20, 200],
        help="stream lengths in text chunks (default 20 200); the non-streamed answer has as "
        "many words as the first",
    )
    parser.add_argument(
        "--no-json-answer",
        action="store_true",
        help="leave out the non-streamed scenario",
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        choices=TARGETS,
        default=[name for name in TARGETS if name != "baseline"],
        help="which servers to measure (default: all but baseline; --baseline adds it)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the gateway as it was at this commit, in the same interleaved "
        "run, and print gateway/baseline ratios (a before-and-after)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=10,
        help="concurrent keep-alive connections, one request at a time each (default 10)",
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=5, help="interleaved rounds (default 5)"
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=4.0,
        help="measured seconds per target, scenario and round (default 4)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=1.5,
        help="unmeasured seconds of the same load before each measurement (default 1.5)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the tables"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the child processes are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wanted = {*args.targets, *(["baseline"] if args.baseline else [])}
    names = [name for name in TARGETS if name in wanted]
    scenarios = [Scenario(chunks, True) for chunks in args.chunks]
    if not args.no_json_answer:
        scenarios.append(Scenario(args.chunks[0], False))
    summaries = {(n, s.name): Summary(n, s.name) for n in names for s in scenarios}
    not_started: dict[str, str] = {}
    if "proxy" in names:
        try:
            bench_venv(proxy=True)  # before any server runs: the install takes minutes
        except (subprocess.CalledProcessError, OSError) as exc:
            not_started["proxy"] = f"could not install {PROXY_REQUIREMENT}: {exc}"
            log(f"!!! {not_started['proxy']}")
            names.remove("proxy")
    started = time.monotonic()
    targets: list[Served] = []
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(lean_upstream())
        log(f"fake upstream at {upstream.url}")
        for name in names:
            try:
                served = start_target(name, upstream, args.baseline)
                targets.append(stack.enter_context(served))
            except (RuntimeError, OSError, ValueError) as exc:
                not_started[name] = str(exc)
                log(f"!!! {name} did not start: {exc}")
        for served in targets:
            smoke_test(served, scenarios, summaries)
        for round_number in range(args.rounds):
            for scenario in scenarios:
                shift = round_number % len(targets) if targets else 0
                for served in targets[shift:] + targets[:shift]:
                    summary = summaries[served.name, scenario.name]
                    found = measure(served, scenario, upstream, args, summary)
                    summary.rounds.append(found)
                    log(
                        f"round {round_number + 1}/{args.rounds} {scenario.name:<10}"
                        f" {served.name:<8} {found.rps:8.1f} req/s"
                        f"  p50 {_fmt(found.p50_ms, 1, 8)} ms"
                        f"  CPU {_fmt(found.cpu_ms_per_request, 2, 0)} ms/req"
                        + (f"  FAILED {found.failures}" if found.failures else "")
                    )
    log(f"done in {time.monotonic() - started:.0f} s")
    measured = [s for s in summaries.values() if s.target not in not_started]
    failed = [s for s in measured if s.failures]
    if args.json:
        report = {
            "settings": {
                "proxy_version": PROXY_VERSION,
                **{k: getattr(args, k) for k in ("chunks", "concurrency", "rounds", "seconds")},
                "warmup": args.warmup,
            },
            "targets": {t.name: t.about for t in targets},
            "not_started": not_started,
            "scenarios": {
                s.name: {
                    "chunks": s.chunks,
                    "stream": s.stream,
                    "results": {t.name: summaries[t.name, s.name].to_json() for t in targets},
                    "ratios": ratios(summaries, s),
                }
                for s in scenarios
            },
            "failed": [f"{s.target} {s.scenario}" for s in failed] + list(not_started),
        }
        print(json.dumps(report, indent=2))
    else:
        print_report(scenarios, targets, summaries, args)
    if failed or not_started:
        # On stdout too (after the table or the JSON), so nobody quotes these figures unawares.
        print("\n!!! SOME TARGETS FAILED: THEIR FIGURES ARE NOT COMPARABLE", flush=True)
        for s in failed:
            log(f"!!! FAILED {s.target} {s.scenario}: {s.failures} failed answer(s)")
            log(f"    first: {s.first_failure}")
        for name, why in not_started.items():
            log(f"!!! FAILED {name} did not start: {why}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
