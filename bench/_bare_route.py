"""The floor of any LiteLLM-backed server: one Starlette route around `litellm.acompletion`.

Why: bench/proxy_compare.py asks what the gateway costs on top of LiteLLM itself. This server
does the least a LiteLLM-backed /v1/chat/completions can do: parse the JSON body, call
`litellm.acompletion(model="openai/fake-model", api_base=..., api_key=..., stream=...)` (no
Router, no validation, no logging, no auth) and write what comes back, each chunk as
`data: {chunk.model_dump_json()}` SSE and then `data: [DONE]`, or the answer's JSON. Whatever
the gateway (or LiteLLM Proxy) spends beyond this is the price of what it adds.

    .venv/bin/python bench/_bare_route.py --port 8011 --api-base http://127.0.0.1:PORT/v1

One uvicorn worker with uvicorn's defaults (uvloop, httptools), access log off. `model` in the
request is ignored; `messages`, `stream` and `stream_options` are passed on. A LiteLLM error
becomes a 502 with its message, so the load generator counts it as a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

# bench/ holds profile.py, which would shadow the standard library's `profile` for anything
# this process imports; nothing here needs bench/ on the path.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import

import litellm
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

MODEL = "openai/fake-model"


def create_app(api_base: str, api_key: str) -> Starlette:
    async def chat_completions(request: Request) -> Response:
        body = json.loads(await request.body())
        stream = bool(body.get("stream"))
        kwargs: dict[str, Any] = {
            "model": MODEL,
            "api_base": api_base,
            "api_key": api_key,
            "messages": body["messages"],
            "stream": stream,
        }
        if stream and body.get("stream_options"):
            kwargs["stream_options"] = body["stream_options"]
        try:
            response = await litellm.acompletion(**kwargs)
        except Exception as exc:  # any LiteLLM failure is a failed answer, told to the client
            error = {"error": {"message": f"{type(exc).__name__}: {exc}"}}
            return Response(json.dumps(error), status_code=502, media_type="application/json")
        if not stream:
            return Response(response.model_dump_json(), media_type="application/json")

        async def events() -> AsyncIterator[str]:
            async for chunk in response:
                yield f"data: {chunk.model_dump_json()}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def health(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/health", health),
        ]
    )


def route_arguments(description: str) -> argparse.Namespace:
    """The command line both floor servers take (this one and bench/_floor_route.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-base", required=True, help="the upstream's base URL, /v1 included")
    parser.add_argument("--api-key", default="sk-bench")
    return parser.parse_args()


def serve(app: Any, args: argparse.Namespace) -> None:
    """One uvicorn worker with uvicorn's defaults (uvloop, httptools), access log off."""
    uvicorn.run(
        app, host=args.host, port=args.port, workers=1, log_level="warning", access_log=False
    )


def main() -> int:
    args = route_arguments(__doc__.splitlines()[0])
    serve(create_app(args.api_base, args.api_key), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
