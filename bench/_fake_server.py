"""Run tests.support.fake_upstream.FakeUpstream as a process of its own, for the benchmarks.

    python bench/_fake_server.py --chunks 20 [--first-byte-ms 50] [--chunk-delay-ms 1]

Prints the server's base URL (ending in /v1) on one line, then serves until stdin closes, so it
dies with the process that started it even if that process is killed. Each `count` line read
on stdin is answered with one line on stdout: how many chat requests it has received so far.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.serving import BackgroundLoop


class RecentRequests(deque[Any]):
    """The fake keeps every request for tests to inspect; keep only the last few, count all."""

    def __init__(self) -> None:
        super().__init__(maxlen=16)
        self.total = 0

    def append(self, item: Any) -> None:
        self.total += 1  # only the server's loop thread appends; the main thread only reads
        super().append(item)


def reply_text(chunks: int) -> list[str]:
    """The streamed answer: `chunks` short words, the same for every request."""
    return [f"word{i} " for i in range(chunks)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per answer")
    parser.add_argument(
        "--first-byte-ms", type=float, default=0.0, help="wait before answering (default 0)"
    )
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="wait after each chunk (default 0)"
    )
    args = parser.parse_args()

    loop = BackgroundLoop()
    fake = FakeUpstream(loop, "bench")
    requests = RecentRequests()
    fake.requests = requests  # type: ignore[assignment]
    fake.headers = deque(maxlen=16)  # type: ignore[assignment]
    fake.default = Reply(
        chunks=reply_text(args.chunks),
        first_byte_delay=args.first_byte_ms / 1000,
        chunk_delay=args.chunk_delay_ms / 1000,
    )
    fake.start()
    try:
        print(fake.base_url, flush=True)
        for line in sys.stdin:  # ends when the parent closes the pipe or exits
            if line.strip() == "count":
                print(requests.total, flush=True)
    finally:
        fake.stop()
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
