"""Side by side: the gateway, LiteLLM Proxy, Portkey's gateway and a bare acompletion route.

LiteLLM Proxy 1.106.2, Portkey's gateway 1.15.2, the bare `litellm.acompletion` route and the
gateway, at one client and at ten.

Why: the gateway sends every chat through LiteLLM, so "fast" has to be judged against what
LiteLLM itself costs, and against the fastest gateway that installs here (Portkey's, Node).
This runs, in front of ONE fake upstream (bench/_lean_upstream.py, an `openai/fake-model`
deployment at its URL; bench/_targets.py says how each target is installed and started):

  direct   the fake upstream itself, a reference line (the load generator is its limit);
  bare     bench/_bare_route.py: Starlette + `litellm.acompletion`, the floor of any
           LiteLLM-backed server;
  gateway  `python -m gateway serve` from this checkout;
  proxy    LiteLLM Proxy 1.106.2, `litellm --config ... --num_workers 1`, installed by this
           script into bench/.proxy-venv the first time (a few minutes; never a gateway
           dependency), no database, no master key, no network fetches;
  portkey  Portkey's gateway, `node build/start-server.js --headless`, installed by this script
           with `npm ci` into bench/portkey from the committed lock (seconds; never a gateway
           dependency), routed by the x-portkey-provider / x-portkey-custom-host headers.
           Its streams work only with @hono/node-server 1.13.5, which the lock pins:
           bench/_portkey.py says why, and that Portkey holds back a stream's first event
           for 25 ms by design;

one process each, and asks each the same POST /v1/chat/completions: a 20-chunk stream, a
200-chunk stream (stream true, stream_options.include_usage) and a non-streamed answer of 20
words (--chunks sets the stream lengths; the non-streamed answer has as many words as the
first), at each --concurrency (default 1 and 10 keep-alive clients, one request at a time
each). Rounds are interleaved so drift on a noisy machine hits every target alike: in each
round every concurrency and scenario is measured on every target in turn (the order rotates
from round to round), each for --warmup seconds unmeasured and then --seconds measured. Per
target, scenario and concurrency it prints the median over rounds of req/s, p50/p99 latency
(request sent to last byte read), added p50 (the target's p50 minus the direct upstream's in
the same round: what the target adds), CPU ms per request and per chunk (utime+stime of the
target's process and its children from /proc over the measured window, divided by the
requests, and by requests x chunks), and the ratios gateway/proxy, gateway/portkey,
gateway/bare (and gateway/baseline) of req/s, CPU per request and added p50.
bench/_load.py explains how requests are counted.

Workers (--workers 1 2): the gateway (`gateway serve --workers 2`) and LiteLLM Proxy
(`--num_workers 2`) also run with 2 worker processes, as targets gateway-2w and proxy-2w in
the same interleaved run, their CPU summed over the process tree; at each concurrency above 1
it prints req/s at 2 workers over req/s at 1 per server (use 10 or more clients, so that two
workers can both be busy; on a 2-core machine the load generator and the upstream share the
cores with them).

Every answer is checked: a stream must hold every text chunk, the usage chunk and end with
[DONE]; the JSON answer must hold the whole text; and the fake upstream must have received at
least as many requests as complete answers came back (no answer from a cache). Any failure
(a target that answers wrongly, or one that does not start) is listed with its first reason
after the table and makes the exit status 1; the other targets are still measured.

    .venv/bin/python bench/proxy_compare.py                      # about 15 minutes
    .venv/bin/python bench/proxy_compare.py --targets direct gateway portkey --concurrency 1
    .venv/bin/python bench/proxy_compare.py --workers 1 2 --concurrency 10 --targets direct \
        gateway proxy
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
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from _compare_report import (
    Key,
    Measured,
    Scenario,
    Summary,
    _fmt,
    json_report,
    percentile_ms,
    print_report,
)
from _load import Window, answer_check, chat_request, drive, snapshot_of
from _targets import (
    PROXY_REQUIREMENT,
    TARGETS,
    WORKER_TARGETS,
    Served,
    bench_venv,
    lean_upstream,
    start_target,
    target_name,
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


def measure(
    served: Served,
    scenario: Scenario,
    concurrency: int,
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
            concurrency=concurrency,
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
    served: Served, scenarios: Sequence[Scenario], summaries: dict[Key, Summary]
) -> None:
    """One request per scenario before anything is timed: it pays for lazy imports and first
    connections, and says early when a target answers wrongly (counted as a failure at the
    first concurrency)."""

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
                first = next(
                    s for k, s in summaries.items() if k[:2] == (served.name, scenario.name)
                )
                first.failures += 1
                first.first_failure = first.first_failure or f"first request: {exc}"
                log(f"!!! {served.name} {scenario.name}: first request failed: {exc}")
            finally:
                connection.close()

    run_async(ask())


def one_round(
    round_number: int,
    targets: Sequence[Served],
    scenarios: Sequence[Scenario],
    upstream: FakeUpstream,
    summaries: dict[Key, Summary],
    args: argparse.Namespace,
) -> None:
    for concurrency in args.concurrency:
        for scenario in scenarios:
            shift = round_number % len(targets) if targets else 0
            found: dict[str, Measured] = {}
            for served in targets[shift:] + targets[:shift]:
                summary = summaries[served.name, scenario.name, concurrency]
                found[served.name] = measure(served, scenario, concurrency, upstream, args, summary)
            direct = found.get("direct")
            for served in targets:
                measured = found[served.name]
                if direct is not None and None not in (direct.p50_ms, measured.p50_ms):
                    measured.added_p50_ms = measured.p50_ms - direct.p50_ms  # type: ignore[operator]
                summaries[served.name, scenario.name, concurrency].rounds.append(measured)
                log(
                    f"round {round_number + 1}/{args.rounds} c{concurrency:<3} {scenario.name:<10}"
                    f" {served.name:<11} {measured.rps:8.1f} req/s"
                    f"  p50 {_fmt(measured.p50_ms, 1, 8)} ms (+{_fmt(measured.added_p50_ms, 1, 0)})"
                    f"  CPU {_fmt(measured.cpu_ms_per_request, 2, 0)} ms/req"
                    + (f"  FAILED {measured.failures}" if measured.failures else "")
                )


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
        nargs="+",
        default=[1, 10],
        help="concurrent keep-alive connections, one request at a time each; each level is "
        "measured in every round (default 1 10)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        nargs="+",
        default=[1],
        help=f"worker processes for {' and '.join(WORKER_TARGETS)}, each count a target of "
        "its own in the same run (e.g. 1 2; default 1)",
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=5, help="interleaved rounds (default 5)"
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=4.0,
        help="measured seconds per target, scenario, concurrency and round (default 4)",
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
    args = parser.parse_args(argv)
    args.concurrency = sorted(set(args.concurrency))
    args.workers = sorted(set(args.workers))
    return args


def wanted_targets(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(kind, workers) in TARGETS order; the worker targets once per --workers count."""
    kinds = {*args.targets, *(["baseline"] if args.baseline else [])}
    return [
        (kind, count)
        for kind in TARGETS
        if kind in kinds
        for count in (args.workers if kind in WORKER_TARGETS else [1])
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the child processes are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wanted = wanted_targets(args)
    scenarios = [Scenario(chunks, True) for chunks in args.chunks]
    if not args.no_json_answer:
        scenarios.append(Scenario(args.chunks[0], False))
    summaries = {
        (target_name(kind, count), s.name, c): Summary(target_name(kind, count), s.name, c)
        for kind, count in wanted
        for s in scenarios
        for c in args.concurrency
    }
    not_started: dict[str, str] = {}
    if any(kind == "proxy" for kind, _ in wanted):
        try:
            bench_venv(proxy=True)  # before any server runs: the install takes minutes
        except (subprocess.CalledProcessError, OSError) as exc:
            for count in args.workers:
                not_started[target_name("proxy", count)] = (
                    f"could not install {PROXY_REQUIREMENT}: {exc}"
                )
            log(f"!!! could not install {PROXY_REQUIREMENT}: {exc}")
            wanted = [(kind, count) for kind, count in wanted if kind != "proxy"]
    started = time.monotonic()
    targets: list[Served] = []
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(lean_upstream())
        log(f"fake upstream at {upstream.url}")
        for kind, count in wanted:
            try:
                served = start_target(kind, upstream, args.baseline, count)
                targets.append(stack.enter_context(served))
            except (RuntimeError, OSError, ValueError, subprocess.CalledProcessError) as exc:
                not_started[target_name(kind, count)] = str(exc)
                log(f"!!! {target_name(kind, count)} did not start: {exc}")
        for served in targets:
            smoke_test(served, scenarios, summaries)
        for round_number in range(args.rounds):
            one_round(round_number, targets, scenarios, upstream, summaries, args)
    log(f"done in {time.monotonic() - started:.0f} s")
    failed = [s for s in summaries.values() if s.failures and s.target not in not_started]
    if args.json:
        report: dict[str, Any] = json_report(scenarios, targets, summaries, args, not_started)
        print(json.dumps(report, indent=2))
    else:
        print_report(scenarios, targets, summaries, args)
    if failed or not_started:
        # On stdout too (after the table or the JSON), so nobody quotes these figures unawares.
        print("\n!!! SOME TARGETS FAILED: THEIR FIGURES ARE NOT COMPARABLE", flush=True)
        for name, why in not_started.items():
            print(f"FAILED {name} did not start: {why.splitlines()[0] if why else ''}")
            log(f"!!! FAILED {name} did not start: {why}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
