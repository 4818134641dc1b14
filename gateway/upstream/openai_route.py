"""Which of LiteLLM's two routes an `openai/` chat call takes: its own HTTP handler.

LiteLLM sends an `openai/` chat completion either through the openai SDK (its default) or, with
`EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER` set, through the HTTP handler it uses for most other
providers (`BaseLLMHTTPHandler`: the provider config's request transform, one httpx POST). Both
are LiteLLM's: the same parameter mapping, timeouts, retries, fallbacks and cooldowns around
them, the same exception types out of them. The SDK's route builds its request a second time
(the SDK's own options, body transform and headers), which made it about a tenth of the CPU of
a non-streamed request through the gateway (bench/proxy_compare.py, before and after).

So the gateway takes LiteLLM's handler unless the operator set the variable themselves (`false`
keeps the SDK). What changes for a deployment: no `OpenAI-Organization` header from the SDK
(set one with the deployment's `extra_headers`), and no `X-Stainless-*` headers.
"""

from __future__ import annotations

import os

OPENAI_ROUTE_SETTING = "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"


def use_litellm_http_handler_for_openai() -> None:
    """Read by LiteLLM on every call (get_secret_bool), so setting it once here is enough."""
    os.environ.setdefault(OPENAI_ROUTE_SETTING, "true")
