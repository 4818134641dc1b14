"""bench/proxy_compare.py's results: what one measurement holds, the medians over rounds, the
ratios, and the tables and JSON it prints."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from _targets import PROXY_VERSION, WORKER_TARGETS, Served, target_name

# The gateway's figures over each of these, where both ran.
COMPARED_WITH = ("proxy", "portkey", "bare", "floor", "baseline")
METRICS = (
    "rps",
    "p50_ms",
    "added_p50_ms",
    "p99_ms",
    "cpu_ms_per_request",
    "cpu_ms_per_chunk",
    "upstream_cpu_ms_per_request",
    "client_cpu_ms_per_request",
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
    """One target, one scenario, one concurrency, one round."""

    rps: float
    p50_ms: float | None  # None when no request was sent inside the window
    p99_ms: float | None
    cpu_ms_per_request: float | None
    cpu_ms_per_chunk: float | None
    upstream_cpu_ms_per_request: float | None
    client_cpu_ms_per_request: float | None
    answers: int  # complete answers to requests sent inside the window
    failures: int
    # p50 minus the direct upstream's p50 in the same round, scenario and concurrency.
    added_p50_ms: float | None = None


Key = tuple[str, str, int]  # target, scenario name, concurrency


@dataclass
class Summary:
    """One target, one scenario, one concurrency: medians over the rounds."""

    target: str
    scenario: str
    concurrency: int
    rounds: list[Measured] = field(default_factory=list)
    failures: int = 0
    first_failure: str | None = None

    def median(self, name: str) -> float | None:
        values = [v for r in self.rounds if (v := getattr(r, name)) is not None]
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return {
            **{n: _round(self.median(n)) for n in METRICS},
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


def _ratio(a: float | None, b: float | None) -> float | None:
    return _round(a / b, 3) if a is not None and b else None


def ratios(summaries: dict[Key, Summary], scenario: str, concurrency: int) -> dict[str, Any]:
    """gateway/other for req/s, CPU per request and added p50; then N workers over one."""
    found: dict[str, float | None] = {}
    ours = summaries.get(("gateway", scenario, concurrency))
    for other in COMPARED_WITH:
        theirs = summaries.get((other, scenario, concurrency))
        if ours is None or theirs is None:
            continue
        for metric, key in (
            ("rps", "rps"),
            ("cpu_ms_per_request", "cpu"),
            ("added_p50_ms", "added p50"),
        ):
            found[f"gateway/{other} {key}"] = _ratio(ours.median(metric), theirs.median(metric))
    return found


def worker_ratios(
    summaries: dict[Key, Summary], scenario: str, concurrency: int, workers: Sequence[int]
) -> dict[str, float | None]:
    """req/s at N workers over req/s at one, per target that ran both."""
    found: dict[str, float | None] = {}
    for kind in WORKER_TARGETS:
        one = summaries.get((kind, scenario, concurrency))
        for count in workers:
            more = summaries.get((target_name(kind, count), scenario, concurrency))
            if count != 1 and one is not None and more is not None:
                found[f"{kind} {count}w/1w rps"] = _ratio(more.median("rps"), one.median("rps"))
    return found


def _fmt(value: float | None, digits: int, width: int) -> str:
    text = "-" if value is None else f"{value:.{digits}f}"
    return f"{text:>{width}}"


def _row(s: Summary) -> str:
    flag = "  <-- FAILED" if s.failures else ""
    return (
        f"{s.target:<11} {_fmt(s.median('rps'), 1, 8)} {_fmt(s.median('p50_ms'), 1, 9)}"
        f" {_fmt(s.median('added_p50_ms'), 1, 9)} {_fmt(s.median('p99_ms'), 1, 9)}"
        f" {_fmt(s.median('cpu_ms_per_request'), 2, 10)}"
        f" {_fmt(s.median('cpu_ms_per_chunk'), 4, 12)}"
        f" {sum(r.answers for r in s.rounds):>8} {s.failures:>7}{flag}"
    )


def print_report(
    scenarios: Sequence[Scenario],
    targets: Sequence[Served],
    summaries: dict[Key, Summary],
    args: argparse.Namespace,
) -> None:
    levels = " and ".join(str(c) for c in args.concurrency)
    print(
        f"one fake upstream; concurrency {levels}; {args.rounds} rounds of {args.seconds:g} s"
        f" measured after {args.warmup:g} s warm-up; medians over rounds; added p50 = p50"
        " minus the direct upstream's in the same round"
    )
    for served in targets:
        print(f"  {served.name:<11} {served.about}")
    for scenario in scenarios:
        for concurrency in args.concurrency:
            print()
            print(f"{scenario.title}, concurrency {concurrency}")
            print(
                f"{'target':<11} {'req/s':>8} {'p50 ms':>9} {'+p50 ms':>9} {'p99 ms':>9}"
                f" {'CPU ms/req':>10} {'CPU ms/chunk':>12} {'answers':>8} {'failed':>7}"
            )
            for served in targets:
                print(_row(summaries[served.name, scenario.name, concurrency]))
            found = ratios(summaries, scenario.name, concurrency)
            if concurrency > 1:
                found |= worker_ratios(summaries, scenario.name, concurrency, args.workers)
            if found:
                print("ratios: " + ", ".join(f"{k} {_fmt(v, 3, 0)}" for k, v in found.items()))
    failed = [s for s in summaries.values() if s.failures]
    for s in failed:
        print(f"FAILED {s.target} {s.scenario} at concurrency {s.concurrency}: {s.failures}")
        print(f"    first: {s.first_failure}")


def json_report(
    scenarios: Sequence[Scenario],
    targets: Sequence[Served],
    summaries: dict[Key, Summary],
    args: argparse.Namespace,
    not_started: dict[str, str],
) -> dict[str, Any]:
    def at(scenario: Scenario, concurrency: int) -> dict[str, Any]:
        results = {t.name: summaries[t.name, scenario.name, concurrency].to_json() for t in targets}
        return {
            "results": results,
            "ratios": ratios(summaries, scenario.name, concurrency),
            "worker_ratios": worker_ratios(summaries, scenario.name, concurrency, args.workers),
        }

    failed = [s for s in summaries.values() if s.failures]
    return {
        "settings": {
            "proxy_version": PROXY_VERSION,
            **{k: getattr(args, k) for k in ("chunks", "concurrency", "workers", "rounds")},
            "seconds": args.seconds,
            "warmup": args.warmup,
        },
        "targets": {t.name: t.about for t in targets},
        "not_started": not_started,
        "scenarios": {
            s.name: {
                "chunks": s.chunks,
                "stream": s.stream,
                "concurrency": {str(c): at(s, c) for c in args.concurrency},
            }
            for s in scenarios
        },
        "failed": [f"{s.target} {s.scenario} c{s.concurrency}" for s in failed] + list(not_started),
    }
