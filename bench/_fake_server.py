"""Run tests.fake_upstream.FakeUpstream as a process of its own, for the benchmarks.

    python bench/_fake_server.py --chunks 20

Prints the server's base URL (ending in /v1) on one line, then serves until stdin closes, so it
dies with the process that started it even if that process is killed.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_upstream import FakeUpstream, Reply
from tests.serving import BackgroundLoop


def reply_text(chunks: int) -> list[str]:
    """The streamed answer: `chunks` short words, the same for every request."""
    return [f"word{i} " for i in range(chunks)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per answer")
    args = parser.parse_args()

    loop = BackgroundLoop()
    fake = FakeUpstream(loop, "bench")
    # The fake keeps every request for tests to inspect; keep only the last few here.
    fake.requests = deque(maxlen=16)  # type: ignore[assignment]
    fake.headers = deque(maxlen=16)  # type: ignore[assignment]
    fake.default = Reply(chunks=reply_text(args.chunks), chunk_delay=0.0)
    fake.start()
    try:
        print(fake.base_url, flush=True)
        sys.stdin.read()  # blocks until the parent closes the pipe or exits
    finally:
        fake.stop()
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
