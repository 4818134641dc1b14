"""The OpenAI-compatible door: /v1/chat/completions and /v1/models (/v1/embeddings: embeddings.py).

Here the client owns its tools: `tools` and `tool_choice` go to the model and `tool_calls` come
back; the gateway executes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from gateway.chat_call import ChatCall
from gateway.doors.common.admission import allowed_models
from gateway.doors.common.answering import answer
from gateway.doors.common.dependencies import (
    DOOR_DEPENDENCIES,
    AdmissionDep,
)
from gateway.doors.common.door_routes import door_router
from gateway.doors.openai_chat.openai_chat_encoder import OpenAIChunkEncoder, collect_completion
from gateway.doors.openai_chat.openai_chat_schemas import ChatCompletionRequest

router = door_router("openai", prefix="/v1", dependencies=DOOR_DEPENDENCIES)

# Parameters passed to the model as given (LiteLLM translates them per provider).
_PASSED_THROUGH = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "response_format", "tool_choice", "parallel_tool_calls", "user", "reasoning_effort",
}  # fmt: skip


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, admission: AdmissionDep
) -> Response:
    fields = body.model_dump(exclude_none=True)
    call = ChatCall(
        model_id=body.model,
        messages=[message.model_dump(exclude_none=True) for message in body.messages],
        params={name: value for name, value in fields.items() if name in _PASSED_THROUGH},
        stream=body.stream,
        # This door never runs the gateway's tools: the client declares and runs its own.
        client_runs_tools=True,
        client_tools=body.tools,
    )
    if not body.stream:
        return await answer(
            request,
            admission,
            call,
            protocol="openai-json",
            collector=collect_completion,
            encoder=None,
        )
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    encoder = OpenAIChunkEncoder(body.model, include_usage)
    return await answer(
        request,
        admission,
        call,
        protocol="openai-sse",
        collector=collect_completion,
        encoder=encoder,
    )


@router.get("/models")
async def models(admission: AdmissionDep) -> dict[str, Any]:
    """OpenAI's model list; `mode` (chat | embedding) says which door each ID answers."""
    config = admission.engine.config
    allowed = allowed_models(admission.key)
    return {
        "object": "list",
        "data": [
            {
                "id": model_id,
                "object": "model",
                "created": 0,
                "owned_by": "gateway",
                "mode": config.mode_of(model_id),
            }
            for model_id in config.model_ids
            if allowed is None or model_id in allowed
        ],
    }
