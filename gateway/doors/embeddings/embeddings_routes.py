"""POST /v1/embeddings: OpenAI's embeddings API through LiteLLM's Router, read as a sentence
like the chat doors: on the request's leased engine (dependencies.py) → check the model →
admit the client → embed (cache, provider) → spend the prompt tokens → answer in OpenAI's
shape."""

from __future__ import annotations

import base64
import functools
import struct
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from gateway.doors.common.admission import Meter, admit, allowed_models
from gateway.doors.common.caching import cache_directive
from gateway.doors.common.dependencies import DOOR_DEPENDENCIES, AdmissionDep
from gateway.doors.common.disconnect import ClientGone, unless_disconnected
from gateway.doors.common.door_routes import door_router
from gateway.doors.common.request_log import CLIENT_CLOSED
from gateway.doors.embeddings.embeddings_schemas import EmbeddingRequest
from gateway.errors import RequestTooLarge
from gateway.limits.spend_estimate import embedding_cost
from gateway.observability.outcome import CallOutcome
from gateway.settings import Settings
from gateway.upstream.embedding_calls import EmbeddingCall, Embeddings, embed

router = door_router("openai", prefix="/v1", dependencies=DOOR_DEPENDENCIES)


@router.post("/embeddings", response_model=None)
async def embeddings(body: EmbeddingRequest, request: Request, admission: AdmissionDep) -> Response:
    # The request's lease (dependencies.py) holds the engine until the answer is sent.
    engine, client, key = admission.engine, admission.client, admission.key
    limiter = admission.limiter
    outcome = CallOutcome(model_id=body.model, protocol="embeddings", stream=False)
    request.state.outcome = outcome
    _check_size(body, admission.settings)
    engine.check_model(body.model, "embedding", allowed_models(key))
    outcome.model_known = True
    call = EmbeddingCall(
        model_id=body.model,
        input=body.input,
        inputs=body.inputs(),
        dimensions=body.dimensions,
        user=body.user,
        outcome=outcome,
    )
    meter = Meter(limiter, key, client, body.model, engine.prices)
    cost = functools.partial(embedding_cost, engine.prices, body.model, call.inputs)
    standing = await admit(limiter, key, client, body.model, meter, cost)
    try:
        answer = await unless_disconnected(
            request, embed(engine, call, cache_directive(request, client))
        )
        meter.add(answer.usage, outcome.deployment)  # a cached answer costs nothing
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED)
    finally:
        # The spend (or, for a failed call, the refund of its reservation) happens even if
        # this task is cancelled now.
        with anyio.CancelScope(shield=True):
            await meter.settle()
    response = JSONResponse(openai_body(body.model, answer, body.encoding_format))
    response.headers.update(standing)
    response.headers.update(outcome.headers())
    return response


def openai_body(model_id: str, answer: Embeddings, encoding_format: str) -> dict[str, Any]:
    """OpenAI's response; `model` is the gateway's model ID, as on the chat doors."""
    tokens = answer.usage.prompt_tokens
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": _encoded(vector, encoding_format)}
            for index, vector in enumerate(answer.vectors)
        ],
        "model": model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format != "base64":
        return vector
    # What OpenAI sends and its SDKs decode: little-endian float32, base64.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _check_size(body: EmbeddingRequest, settings: Settings) -> None:
    """The chat doors' cap on text per request (GATEWAY_MAX_TOTAL_CHARS) holds here too."""
    characters = body.characters()
    if characters > settings.max_total_chars:
        raise RequestTooLarge(
            f"input holds {characters} characters, over the limit of {settings.max_total_chars}",
            param="input",
        )
