"""The official `openai` SDK against a gateway's /v1/responses, for the Responses door's tests."""

from __future__ import annotations

import openai
from openai.types.responses import Response

from tests.support.gateways import Gateway


def sdk(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def said(error: openai.APIStatusError) -> str:
    """The message of an OpenAI-shaped error body."""
    assert isinstance(error.body, dict)
    return str(error.body["message"])


def strict(response: Response) -> Response:
    """The response validates against the SDK's own model, every output item included."""
    Response.model_validate(response.to_dict())
    return response
