"""What happened to one request, filled in as it runs.

The HTTP layer reads it for response headers once the first event is out, and the request log
reads it when the response is done (one log line, the metrics). One per request; never shared.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gateway.cache import CacheResult
from gateway.events import Usage


@dataclass
class CallOutcome:
    model_id: str = ""
    # Only model IDs the config knows become metric labels (clients choose the string).
    model_known: bool = False
    protocol: str = ""
    stream: bool = True
    # The first model call's cache result; None when the model ID is not cached.
    cache: CacheResult | None = None
    # The model_list entry that answered the first model call, as `<model ID>#<index>`; after a
    # fallback it names the backup.
    deployment: str | None = None
    started_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    error_type: str | None = None
    # How the first model call's stream was read: "lean" (the provider's own chunks) or
    # "litellm" (LiteLLM's stream wrapper); None when nothing was streamed from a provider.
    reader: str | None = None
    # What the client was told (already scrubbed): the log line says it too.
    error_message: str | None = None
    # The request's messages, kept only when GATEWAY_LOG_CONTENT is on.
    messages: list[dict[str, Any]] | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.cache is not None:
            headers["x-cache"] = self.cache
        if self.deployment is not None:
            headers["x-gateway-deployment"] = self.deployment
        return headers

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    @property
    def ttft_seconds(self) -> float | None:
        if self.first_token_at is None:
            return None
        return self.first_token_at - self.started_at
