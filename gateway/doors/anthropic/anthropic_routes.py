"""Anthropic's Messages API: POST /v1/messages, streamed and not, on the gateway's one engine.

Like the Chat Completions door, the client owns its tools: they go to the model as given and
`tool_use` blocks come back; the gateway executes nothing. Whatever provider the YAML maps the
model ID to answers (LiteLLM translates the OpenAI-shaped call this door makes of the request).
"""

from __future__ import annotations

from functools import cache

import litellm
from fastapi import Request
from fastapi.responses import Response

from gateway.chat_call import ChatCall
from gateway.config import GatewayConfig
from gateway.doors.anthropic.anthropic_encoder import AnthropicSSEEncoder, collect_message
from gateway.doors.anthropic.anthropic_schemas import MessagesRequest
from gateway.doors.common.answering import answer
from gateway.doors.common.dependencies import DOOR_DEPENDENCIES, AdmissionDep
from gateway.doors.common.door_routes import door_router

router = door_router("anthropic", prefix="/v1", dependencies=DOOR_DEPENDENCIES)


@router.post("/messages", response_model=None)
async def create_message(
    body: MessagesRequest, request: Request, admission: AdmissionDep
) -> Response:
    form = body.to_openai(keep_thinking=takes_thinking(admission.engine.config, body.model))
    call = ChatCall(
        model_id=body.model,
        messages=form.messages,
        params=form.params,
        stream=body.stream,
        # The client declares and runs its own tools; the YAML's are never offered here.
        client_runs_tools=True,
        client_tools=form.tools,
    )
    if not body.stream:
        return await answer(
            request,
            admission,
            call,
            protocol="anthropic-json",
            collector=collect_message,
            encoder=None,
        )
    encoder = AnthropicSSEEncoder(body.model)
    return await answer(
        request,
        admission,
        call,
        protocol="anthropic-sse",
        collector=collect_message,
        encoder=encoder,
    )


def takes_thinking(config: GatewayConfig, model_id: str) -> bool:
    """Does every deployment of `model_id` take `thinking`?

    LiteLLM 1.106.2 translates it for the providers that have a form of it (Anthropic, Gemini,
    Bedrock, vLLM's reasoning_effort, …) and fails the whole request with UnsupportedParamsError
    for the rest (OpenAI, Ollama, the demo provider), so for those it is left out.
    """
    mine = [d for d in config.deployments if d.model_id == model_id]
    return bool(mine) and all(_provider_takes_thinking(d.provider, d.provider_model) for d in mine)


@cache
def _provider_takes_thinking(provider: str, provider_model: str) -> bool:
    model = provider_model.removeprefix(f"{provider}/")
    try:
        supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)
    except Exception:  # a provider LiteLLM cannot describe: do not risk the request on it
        return False
    return "thinking" in (supported or [])
