"""The floor of the gateway's own LiteLLM path: a bare ASGI app around its Router call.

Why: issue 24 asks for the gateway's CPU per request at or below Portkey's, with every request
still going through LiteLLM's `acompletion`. This server keeps only that promise and nothing
else a gateway does: no FastAPI, no middleware, no validation, no auth, no limits, no logging,
no events or encoders. It parses the JSON body and calls the gateway's own `GatewayRouter`
(LiteLLM's Router with the lean stream reader, the inline setup and LiteLLM's HTTP handler for
`openai/`, exactly as the gateway builds them: gateway/upstream/), then writes the text it read
as one chat.completion JSON, or each chunk as SSE and `data: [DONE]`. What it costs is the
least the gateway's LiteLLM path can cost on uvicorn; whatever the gateway spends beyond it
is the price of what the gateway adds.

    .venv/bin/python bench/_floor_route.py --port 8012 --api-base http://127.0.0.1:PORT/v1

One uvicorn worker with uvicorn's defaults (uvloop, httptools), access log off. A LiteLLM
error becomes a 502 with its message, so the load generator counts it as a failure.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

# Imported while bench/ is still on the path; it then takes bench/ off it (bench/profile.py
# would shadow the standard library's `profile`) and sets LITELLM_LOCAL_MODEL_COST_MAP.
from _bare_route import route_arguments, serve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.upstream.litellm_reach import GatewayRouter, use_inline_completion_setup
from gateway.upstream.openai_route import use_litellm_http_handler_for_openai

DEPLOYMENT = "floor-0"
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def build_router(api_base: str, api_key: str) -> GatewayRouter:
    use_litellm_http_handler_for_openai()
    entry = {
        "model_name": "chat-model",
        "litellm_params": {"model": "openai/fake-model", "api_base": api_base, "api_key": api_key},
        "model_info": {"id": DEPLOYMENT},
    }
    return GatewayRouter(lean_deployments={DEPLOYMENT}, model_list=[entry], num_retries=0)


async def read_body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def create_app(router: GatewayRouter) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    use_inline_completion_setup(asyncio.get_running_loop())
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/health":
            await respond(send, 200, JSON_HEADERS, b'"ok"')
            return
        body = json.loads(await read_body(receive))
        stream = bool(body.get("stream"))
        try:
            chunks = await router.acompletion(
                model="chat-model",
                messages=body["messages"],
                stream=True,
                stream_options={"include_usage": True},
            )
        except Exception as exc:  # any LiteLLM failure is a failed answer, told to the client
            error = json.dumps({"error": {"message": f"{type(exc).__name__}: {exc}"}})
            await respond(send, 502, JSON_HEADERS, error.encode())
            return
        if stream:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            async for chunk in chunks:
                data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
            return
        text, usage = [], None
        async for chunk in chunks:
            for choice in chunk.get("choices") or ():
                text.append((choice.get("delta") or {}).get("content") or "")
            usage = chunk.get("usage") or usage
        answer = {
            "id": "chatcmpl-floor",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "chat-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(text)},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        await respond(send, 200, JSON_HEADERS, json.dumps(answer).encode())

    return app


async def respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> int:
    args = route_arguments(__doc__.splitlines()[0])
    serve(create_app(build_router(args.api_base, args.api_key)), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
