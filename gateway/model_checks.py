"""Whether a request may use a model ID: one the config knows (and the client's key may use),
of the kind the request asks for, with its key variable set."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config import GatewayConfig, ModelMode
from gateway.errors import ModelUnavailable, UnknownModel, WrongModelMode

_A_MODEL: dict[ModelMode, str] = {"chat": "a chat model", "embedding": "an embedding model"}
_REQUESTS: dict[ModelMode, str] = {
    "chat": "chat requests",
    "embedding": "embedding requests (POST /v1/embeddings)",
}


def check_model(
    config: GatewayConfig,
    modes: Mapping[str, ModelMode],
    model_id: str,
    mode: ModelMode,
    allowed: frozenset[str] | None = None,
) -> None:
    """Refuse a model ID the config does not know (or the client's key may not use: to it the
    ID does not exist), one that answers another kind of request than `mode` (its
    `model_info.mode`, in `modes`), and one whose key variable is unset."""
    visible = [m for m in config.model_ids if allowed is None or m in allowed]
    actual = modes.get(model_id) if model_id in visible else None
    if actual is None:
        known = ", ".join(visible) or "none"
        raise UnknownModel(f"unknown model '{model_id}'; known models: {known}", param="model")
    if actual != mode:
        served = ", ".join(m for m in config.model_ids_of(mode) if m in visible) or "none"
        raise WrongModelMode(
            f"model '{model_id}' is {_A_MODEL[actual]} (model_info.mode: {actual}) and cannot "
            f"answer {_REQUESTS[mode]}; {mode} models: {served}",
            param="model",
        )
    missing = config.missing_env_for(model_id)
    if missing:
        names = ", ".join(missing)
        raise ModelUnavailable(
            f"model '{model_id}' is not available: environment variable {names} is not set"
        )
