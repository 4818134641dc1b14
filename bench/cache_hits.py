"""Response cache: throughput and p50 latency of cache hits against cache misses.

Starts the fake OpenAI upstream (bench/_fake_server.py) with a realistic cost per answer (a
first-byte delay, then --chunks text chunks) and a real `gateway serve` in front of it with
`gateway.cache` on for the model, then measures, in rounds, streamed POST /api/chat requests:

  miss  every request asks a question never asked before (a counter in the text), so the
        gateway asks the upstream and stores the answer;
  hit   every request repeats one question answered earlier, so the gateway replays it.

and prints requests per second, p50 latency (request sent to last byte read) and gateway CPU
per request for each phase of each round, their medians, and the ratios hit/miss RPS and
miss/hit p50. Every answer is read in full and checked; every miss must say `x-cache: miss`
and make exactly one upstream request, every hit must say `x-cache: hit` and make none, or
the run fails. The questions hold a random run ID, so a Redis that outlives the run (see
--redis-url) never turns a miss into a hit.

    .venv/bin/python bench/cache_hits.py                        # memory store, about 45 s
    .venv/bin/python bench/cache_hits.py --redis-url redis://127.0.0.1:6379/0

Compare the ratios from one run rather than absolute numbers across machines: the load
generator, the gateway and the fake upstream share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from stream_throughput import (
    HOST,
    MODEL_ID,
    REQUEST_TIMEOUT,
    BadResponse,
    Connection,
    FakeUpstream,
    cpu_seconds,
    fake_upstream,
    gateway,
    gateway_target,
    http_post,
    log,
    non_negative_float,
    positive_float,
    positive_int,
    run_async,
)

# Short TTL: a shared Redis keeps the run's answers only a few minutes. The memory store is
# made big enough that a long miss phase never evicts the hit question.
CACHE_YAML = (
    f"gateway:\n  cache: {{ttl: 300, models: [{MODEL_ID}], scope: per-key, max_entries: 1000000}}\n"
)


@dataclass(frozen=True)
class Phase:
    round: int
    kind: str  # "miss" or "hit"
    requests: int
    rps: float
    p50_ms: float
    cpu_ms_per_request: float | None  # the gateway's
    x_cache: Counter[str]  # the x-cache header of every answer
    upstream_requests: int  # chat requests the fake upstream received during the phase


class Questions:
    """Request bytes: a new question each time for misses, one fixed question for hits."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.run_id = uuid.uuid4().hex[:12]
        self._numbers = itertools.count()
        self.hit = self._request(f"bench {self.run_id}: the question asked again and again")

    def miss(self) -> bytes:
        return self._request(f"bench {self.run_id}: question {next(self._numbers)}")

    def _request(self, text: str) -> bytes:
        payload = {"model": MODEL_ID, "messages": [{"role": "user", "content": text}]}
        return http_post(self.port, "/api/chat", {**payload, "stream": True}, {})


async def drive(
    port: int, next_request: Callable[[], bytes], seconds: float, concurrency: int, chunks: int
) -> tuple[list[float], float, Counter[str]]:
    """Closed loop: `concurrency` keep-alive connections, one request at a time each, at least
    one each and more until `seconds` have passed. Returns latencies, elapsed time and x-cache
    values. Any failed or incomplete answer raises: a cache benchmark with errors means nothing.
    """
    complete = gateway_target(port, chunks).complete
    clock = time.perf_counter
    started = clock()
    stop_at = started + seconds
    latencies: list[float] = []
    x_cache: Counter[str] = Counter()
    last_done = started

    async def worker() -> None:
        nonlocal last_done
        connection = Connection(HOST, port)
        try:
            while True:
                now = clock()
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    body = await connection.exchange(next_request())
                end = clock()
                if not complete(body):
                    raise BadResponse(f"incomplete answer: ...{body[-200:]!r}")
                x_cache[connection.headers.get(b"x-cache", b"(none)").decode()] += 1
                latencies.append(end - now)
                last_done = max(last_done, end)
                if end >= stop_at:
                    return
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, last_done - started, x_cache


@dataclass(frozen=True)
class Bench:
    questions: Questions
    fake: FakeUpstream
    gateway_pid: int
    args: argparse.Namespace

    def phase(
        self,
        kind: str,
        round_: int,
        seconds: float,
        next_request: Callable[[], bytes],
        concurrency: int | None = None,
    ) -> Phase:
        """Drive `next_request`s; every answer must say `x-cache: {kind}`, and the upstream
        must have seen exactly one request per miss and none per hit."""
        concurrency = concurrency or self.args.concurrency
        upstream_before = self.fake.requests_seen()
        cpu_before = cpu_seconds(self.gateway_pid)
        latencies, elapsed, x_cache = run_async(
            drive(self.questions.port, next_request, seconds, concurrency, self.args.chunks)
        )
        upstream = self.fake.requests_seen() - upstream_before
        cpu_after = cpu_seconds(self.gateway_pid)
        count = len(latencies)
        cpu = None
        if cpu_before is not None and cpu_after is not None:
            cpu = round((cpu_after - cpu_before) / count * 1000, 2)
        # The point of the benchmark: fail loudly if a "hit" was not served from the cache or a
        # "miss" was (a stale Redis entry, a wrong key), or if the upstream was asked for a hit.
        expected_upstream = count if kind == "miss" else 0
        if x_cache != Counter({kind: count}) or upstream != expected_upstream:
            raise SystemExit(
                f"round {round_} {kind}: {count} answers with x-cache {dict(x_cache)} and "
                f"{upstream} upstream requests; expected all {kind!r} and {expected_upstream}"
            )
        return Phase(
            round=round_,
            kind=kind,
            requests=count,
            rps=round(count / elapsed, 1),
            p50_ms=round(statistics.median(latencies) * 1000, 2),
            cpu_ms_per_request=cpu,
            x_cache=x_cache,
            upstream_requests=upstream,
        )


def print_report(phases: list[Phase], args: argparse.Namespace) -> None:
    store = f"Redis ({args.redis_url})" if args.redis_url else "memory"
    print(
        f"response cache, {store} store; upstream: {args.first_byte_ms:g} ms first byte, "
        f"{args.chunks} chunks, {args.chunk_delay_ms:g} ms after each chunk; streamed "
        f"/api/chat, concurrency {args.concurrency}; {args.rounds} rounds of {args.seconds:g} s "
        f"misses then {args.seconds:g} s hits, after {args.warmup:g} s + {args.warmup:g} s "
        f"warm-up"
    )
    print(
        f"{'round':>5} {'phase':<5} {'requests':>8} {'RPS':>8} {'p50 ms':>8} {'cpu ms/req':>10}"
        f" {'upstream':>8}  x-cache"
    )
    for p in phases:
        cpu = f"{p.cpu_ms_per_request:.2f}" if p.cpu_ms_per_request is not None else "-"
        x_cache = ", ".join(f"{k} {v}" for k, v in sorted(p.x_cache.items()))
        print(
            f"{p.round:>5} {p.kind:<5} {p.requests:>8} {p.rps:>8.1f} {p.p50_ms:>8.2f} {cpu:>10}"
            f" {p.upstream_requests:>8}  {x_cache}"
        )
    medians: dict[str, tuple[float, float]] = {}
    for kind in ("miss", "hit"):
        measured = [p for p in phases if p.kind == kind]
        medians[kind] = (
            statistics.median(p.rps for p in measured),
            statistics.median(p.p50_ms for p in measured),
        )
        total = sum(p.requests for p in measured)
        print(
            f"median {kind:<4}: {medians[kind][0]:.1f} RPS, p50 {medians[kind][1]:.2f} ms "
            f"({total} requests, all x-cache: {kind})"
        )
    print(
        f"upstream requests during hit phases: "
        f"{sum(p.upstream_requests for p in phases if p.kind == 'hit')}"
    )
    print(f"ratio hit/miss RPS: {medians['hit'][0] / medians['miss'][0]:.2f}")
    print(f"p50 latency ratio miss/hit: {medians['miss'][1] / medians['hit'][1]:.2f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=8,
        help="concurrent connections, one request at a time each (default 8)",
    )
    parser.add_argument(
        "--seconds", type=positive_float, default=4.0, help="per phase per round (default 4)"
    )
    parser.add_argument("--rounds", type=positive_int, default=5, help="(default 5)")
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=1.0,
        help="unrecorded seconds of misses, then of hits, before the rounds (default 1)",
    )
    parser.add_argument(
        "--chunks", type=positive_int, default=30, help="text chunks per answer (default 30)"
    )
    parser.add_argument(
        "--first-byte-ms",
        type=non_negative_float,
        default=50.0,
        help="the upstream's wait before it answers (default 50)",
    )
    parser.add_argument(
        "--chunk-delay-ms",
        type=non_negative_float,
        default=0.0,
        help="the upstream's wait after each chunk (default 0)",
    )
    parser.add_argument(
        "--redis-url",
        help="cache in this Redis (REDIS_URL); default: the gateway's in-process memory store",
    )
    parser.add_argument(
        "--gateway-log-level",
        choices=["debug", "info", "warning", "error"],
        help="GATEWAY_LOG_LEVEL for the gateway (default: the gateway's own)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the child processes are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Only --redis-url picks the store: a REDIS_URL in this shell must not.
    env = {"REDIS_URL": args.redis_url, "GATEWAY_REDIS_URL": None}
    phases: list[Phase] = []
    with (
        fake_upstream(args.chunks, args.first_byte_ms, args.chunk_delay_ms) as fake,
        gateway(fake.url, args.gateway_log_level, CACHE_YAML, env) as (port, gateway_pid),
    ):
        questions = Questions(port)
        bench = Bench(questions, fake, gateway_pid, args)
        log(f"measuring, run {questions.run_id}")

        def hit() -> bytes:
            return questions.hit

        # Warm-up misses, then the hit question asked once (a miss that stores it), then
        # warm-up hits; the warm-up is checked like the rest but not reported.
        bench.phase("miss", 0, args.warmup, questions.miss)
        bench.phase("miss", 0, 0, hit, concurrency=1)  # in parallel, all would miss
        bench.phase("hit", 0, args.warmup, hit)
        for round_ in range(1, args.rounds + 1):
            phases.append(bench.phase("miss", round_, args.seconds, questions.miss))
            phases.append(bench.phase("hit", round_, args.seconds, hit))
    print_report(phases, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
