"""`os.environ/NAME` references resolved from the environment, and secrets kept out of sight.

A deployment whose variable is unset is kept (and left out of the Router) rather than refused,
so one missing key does not stop the other models from being served.
"""

from __future__ import annotations

import os
from typing import Any

ENV_PREFIX = "os.environ/"


def resolve_env(params: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """Replace every `os.environ/NAME` string with the variable's value.

    Returns the resolved params, the names of unset variables, and the secret values used (the
    resolved variables plus any key written literally) so they can be scrubbed from error text.
    """
    missing: list[str] = []
    secrets: list[str] = []

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            name = value[len(ENV_PREFIX) :]
            resolved = os.environ.get(name)
            if not resolved:
                missing.append(name)
                return None
            secrets.append(resolved)
            return resolved
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    resolved_params = resolve(params)
    literal_key = params.get("api_key")
    if isinstance(literal_key, str) and not literal_key.startswith(ENV_PREFIX):
        secrets.append(literal_key)
    return resolved_params, missing, secrets


def without_secrets(value: Any, secrets: set[str]) -> Any:
    """`value` with every string that is one of `secrets` shown as `<secret>`."""
    if isinstance(value, str) and value in secrets:
        return "<secret>"
    if isinstance(value, dict):
        return {k: without_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v, secrets) for v in value]
    return value
