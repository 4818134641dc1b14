"""How long a paused Redis stalls the gateway: an unrelated request vs a rate-limited one.

    .venv/bin/python bench/redis_stall.py [--pause-ms 1000] [--rounds 5]

Starts a private redis-server, the fake upstream and a gateway with a Redis-backed rate limit
(all in this process, on loopback), then per round: `CLIENT PAUSE`s Redis, fires a chat request
(its limit check waits on Redis) and, 50 ms later, an unrelated `/health` request, and prints
how long each took. The limit check runs in a worker thread, so `/health` should not wait;
the chat request waits at most GATEWAY_REDIS_TIMEOUT before the memory fallback answers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
import yaml  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.serving import BackgroundLoop, ServedApp  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause-ms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    redis_server = RedisServer().start()
    loop = BackgroundLoop()
    fake = FakeUpstream(loop, "bench").start()
    served: ServedApp | None = None
    try:
        params = {"model": "openai/fake", "api_base": fake.base_url, "api_key": "sk-bench"}
        config = {
            "model_list": [{"model_name": "chat-model", "litellm_params": params}],
            "gateway": {"rate_limit": {"default": "100000/minute"}},
        }
        path = Path(tempfile.mkdtemp()) / "stall.yaml"
        path.write_text(yaml.safe_dump(config))
        settings = Settings(config=path, redis_url=redis_server.url, _env_file=None)
        served = ServedApp(loop, create_app(settings))
        served.start()
        control = redis.Redis(port=redis_server.port)
        body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
        health_ms, chat_ms = [], []
        with httpx.Client(base_url=served.url, timeout=30) as client:
            client.post("/api/chat", json=body)  # warm-up: connections, LiteLLM clients
            for _ in range(args.rounds):
                control.execute_command("CLIENT", "PAUSE", str(args.pause_ms))
                timings: dict[str, float] = {}

                def chat(timings: dict[str, float] = timings) -> None:
                    started = time.perf_counter()
                    httpx.post(f"{served.url}/api/chat", json=body, timeout=30)  # type: ignore[union-attr]
                    timings["chat"] = (time.perf_counter() - started) * 1000

                worker = threading.Thread(target=chat)
                worker.start()
                time.sleep(0.05)
                started = time.perf_counter()
                client.get("/health")
                health_ms.append((time.perf_counter() - started) * 1000)
                worker.join()
                chat_ms.append(timings["chat"])
                time.sleep(args.pause_ms / 1000)  # let the pause end before the next round
        print(f"Redis paused {args.pause_ms} ms per round, {args.rounds} rounds, "
              f"GATEWAY_REDIS_TIMEOUT {settings.redis_timeout} s")  # fmt: skip
        print(f"unrelated /health during the pause: median {statistics.median(health_ms):.1f} ms, "
              f"max {max(health_ms):.1f} ms")  # fmt: skip
        print(f"rate-limited chat during the pause: median {statistics.median(chat_ms):.1f} ms, "
              f"max {max(chat_ms):.1f} ms")  # fmt: skip
    finally:
        if served is not None:
            served.stop()
        fake.stop()
        loop.close()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
