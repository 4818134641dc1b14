"""Does the gateway's memory stay flat under a long streamed load?

    .venv/bin/python bench/soak.py [--requests 20000] [--chunks 20] [--concurrency 10]

Starts one `gateway serve` worker in front of the lean fake upstream (bench/_targets.py), drives
streamed /v1 requests in segments until `--requests` complete answers are in, and after each
segment prints the worker's resident memory (VmRSS) and the segment's p50/p99. A leak shows as
RSS climbing segment after segment; a flat line after the first few segments (imports, pools
and caches warming up) is what a long-running server needs. Every answer is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import answer_check, chat_request, drive, snapshot_of
from _targets import gateway_server, lean_upstream


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--segment-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    with lean_upstream(args.chunks) as upstream, gateway_server(upstream.url) as served:
        request = chat_request(served, args.chunks, stream=True)
        complete = answer_check(args.chunks, stream=True)
        snapshot = snapshot_of({"gateway": served.pid})
        done = failures = 0
        print(f"{'answers':>8} {'RSS MiB':>8} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6}")
        print(f"{done:>8} {rss_mib(served.pid):>8.1f}")
        rss: list[float] = []
        while done < args.requests:
            window = asyncio.run(
                drive(
                    served.port,
                    request,
                    complete,
                    concurrency=args.concurrency,
                    warmup=0.0,
                    seconds=args.segment_seconds,
                    cpu_snapshot=snapshot,
                )
            )
            done += window.completed
            failures += window.failures
            latencies = sorted(window.latencies) or [0.0]
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            rss.append(rss_mib(served.pid))
            print(
                f"{done:>8} {rss[-1]:>8.1f} {statistics.median(latencies) * 1000:>7.1f} "
                f"{p99 * 1000:>7.1f} {window.failures:>6}",
                flush=True,
            )
        settled = rss[len(rss) // 4 :]  # after the warm-up quarter
        print(
            f"RSS after the first quarter: {min(settled):.1f}-{max(settled):.1f} MiB "
            f"(grew {settled[-1] - settled[0]:+.1f} MiB); {failures} failed answers"
        )
        return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
