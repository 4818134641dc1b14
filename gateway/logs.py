"""Logging set-up: the gateway's own lines at the chosen level, LiteLLM kept quiet."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # LiteLLM's debug output can carry request payloads and headers; never let it through.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.WARNING)

    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
