"""Where a streamed request's CPU goes, layer by layer, in this process.

    .venv/bin/python bench/cpu_breakdown.py [--requests 350] [--chunks 20]

Runs each layer in this process against the fake upstream (its own process) and prints CPU
milliseconds per request, in interleaved rounds (medians), from the floor up:

- a raw httpx POST read to its end (the HTTP client alone, through LiteLLM's aiohttp transport);
- `litellm.acompletion` read through LiteLLM's stream wrapper, and a plain `litellm.Router`;
- the gateway's `Router.acompletion` (LiteLLM's Router with the lean stream reader);
- plus the engine and the line encoder; plus the FastAPI app over ASGI (no sockets).

So the gateway's own share (engine + encoder + FastAPI) reads as the difference from its Router
call, and what LiteLLM costs on top of the HTTP client as the difference between those two.
CPU time, not wall time: steadier on a noisy machine. Sockets, uvicorn and the HTTP protocol
are not in here: bench/proxy_compare.py measures the whole server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gateway  # noqa: E402,F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

MESSAGES = [{"role": "user", "content": "hi"}]
ROUNDS = 7


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=350, help="per layer, over all rounds")
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_fake_server.py"), "--chunks", str(args.chunks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        base_url = fake.stdout.readline().strip()
        asyncio.run(measure(base_url, args.requests))
    finally:
        assert fake.stdin is not None
        fake.stdin.close()
        fake.wait(10)
    return 0


async def measure(base_url: str, requests: int) -> None:
    import httpx
    import litellm
    from litellm.llms.custom_httpx.http_handler import get_async_httpx_client

    from gateway.app import create_app
    from gateway.cache import CacheDirective
    from gateway.chat_call import ChatCall
    from gateway.doors.frontend.typed_lines_encoder import TypedLineEncoder
    from gateway.settings import Settings
    from gateway.upstream.litellm_reach import use_inline_completion_setup

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(
            "model_list:\n"
            "  - model_name: chat-model\n"
            "    litellm_params:\n"
            "      model: openai/fake-model\n"
            f"      api_base: {base_url}\n"
            "      api_key: sk-bench\n"
            "router_settings: {num_retries: 0}\n"
        )
    app = create_app(Settings(config=Path(config.name), _env_file=None))
    engine = app.runtime.engine
    use_inline_completion_setup(asyncio.get_running_loop())  # as the app's lifespan does
    raw_client = get_async_httpx_client(llm_provider=litellm.LlmProviders.OPENAI).client
    body = {"model": "fake-model", "messages": MESSAGES, "stream": True}

    async def raw_post() -> None:
        request = raw_client.build_request("POST", f"{base_url}/chat/completions", json=body)
        response = await raw_client.send(request, stream=True)
        async for _ in response.aiter_bytes():
            pass
        await response.aclose()

    async def read_stream(acompletion: Callable[..., Awaitable[Any]], **where: str) -> None:
        """One streamed call read to its end, usage included."""
        stream = await acompletion(
            **where, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async for _ in stream:
            pass

    async def plain_acompletion() -> None:
        await read_stream(
            litellm.acompletion,
            model="openai/fake-model",
            api_base=base_url,
            api_key="sk-bench",
        )

    plain = litellm.Router(
        model_list=[
            {
                "model_name": "chat-model",
                "litellm_params": {
                    "model": "openai/fake-model",
                    "api_base": base_url,
                    "api_key": "sk-bench",
                },
            }
        ],
        num_retries=0,
    )

    async def plain_router() -> None:
        await read_stream(plain.acompletion, model="chat-model")

    async def router_only() -> None:
        await read_stream(engine.router.acompletion, model="chat-model")

    async def engine_and_encoder() -> None:
        encoder = TypedLineEncoder()
        prepared = engine.prepare(ChatCall("chat-model", MESSAGES), CacheDirective())
        async for event in engine.run(prepared, engine.lease()):
            encoder.encode(event)

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")

    async def whole_app() -> None:
        response = await client.post(
            "/api/chat", json={"model": "chat-model", "messages": MESSAGES}
        )
        assert response.text.endswith("}\n")

    layers: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("raw httpx POST", raw_post),
        ("litellm.acompletion", plain_acompletion),
        ("plain litellm.Router", plain_router),
        ("gateway's Router (lean)", router_only),
        ("+ engine and encoder", engine_and_encoder),
        ("+ FastAPI app (ASGI)", whole_app),
    ]
    for _, one in layers:
        for _ in range(20):  # warm-up
            await one()
    # Interleaved rounds, medians: a layer measured first or last would carry the drift.
    samples: dict[str, list[float]] = {name: [] for name, _ in layers}
    per_round = max(1, requests // ROUNDS)
    for _ in range(ROUNDS):
        for name, one in layers:
            started = time.process_time()
            for _ in range(per_round):
                await one()
            samples[name].append((time.process_time() - started) * 1000 / per_round)
    results = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in results.items():
        print(f"{name:26} {value:6.2f} ms CPU per request (median of {ROUNDS} rounds)")
    await client.aclose()
    base = results["gateway's Router (lean)"]
    own = results["+ FastAPI app (ASGI)"] - base
    print(f"gateway's own share: {own:.2f} ms ({own / results['+ FastAPI app (ASGI)']:.0%})")


if __name__ == "__main__":
    raise SystemExit(main())
