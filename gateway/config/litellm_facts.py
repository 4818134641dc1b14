"""What the config reads from the installed LiteLLM itself: providers, Router arguments, callbacks.

Facts of the pinned library, not of the running gateway: the gateway's own providers (the demo
one) come to validation through its Catalog.
"""

from __future__ import annotations

import inspect
from functools import cache


@cache
def openai_shaped_providers() -> frozenset[str]:
    """The providers LiteLLM talks to in OpenAI's chat-completions format."""
    import litellm

    return frozenset({"openai", "azure", "custom_openai", *litellm.openai_compatible_providers})


@cache
def router_parameters() -> frozenset[str]:
    """The arguments LiteLLM's Router takes (router_settings may set those)."""
    from litellm import Router

    return frozenset(inspect.signature(Router.__init__).parameters) - {"self"}


@cache
def known_callback_names() -> frozenset[str]:
    """LiteLLM's integrations that it can run from a per-call callback list, by name."""
    import litellm

    return frozenset(litellm._known_custom_logger_compatible_callbacks)


@cache
def placeholder_names() -> frozenset[str]:
    """Names LiteLLM knows but would serve with a do-nothing CustomLogger here.

    LiteLLM's generic_api and e-mail/PagerDuty alerting integrations live in the separate
    litellm-enterprise package; without it LiteLLM silently puts a bare CustomLogger in their
    place. Read from LiteLLM's own fallbacks, so installing the package lifts the refusal.
    """
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.litellm_core_utils import litellm_logging

    names: set[str] = set()
    if getattr(litellm_logging, "GenericAPILogger", None) is CustomLogger:
        names.add("generic_api")
    alerting = getattr(litellm_logging, "_enterprise_alerting_loggers", None)
    if alerting is not None:
        for name, logger_class in alerting()._asdict().items():
            if logger_class is CustomLogger:
                names.add(name)
    return frozenset(names) & known_callback_names()
