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
    # Where the time went (gateway/observability/server_timing.py): the first model call's
    # time to the provider's first byte (its response headers, or its whole JSON answer), the
    # model calls that ended (sent to last byte) and the tool rounds, in seconds.
    provider_ttfb: float | None = None
    provider_seconds: float = 0.0
    tool_seconds: float = 0.0
    _call_sent_at: float | None = field(default=None, repr=False)
    _call_answered_at: float | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.cache is not None:
            headers["x-cache"] = self.cache
        if self.deployment is not None:
            headers["x-gateway-deployment"] = self.deployment
        return headers

    def provider_call_sent(self) -> None:
        self._call_sent_at, self._call_answered_at = time.perf_counter(), None

    def provider_answered(self) -> None:
        """The provider's first byte: its response headers (a stream) or its answer (JSON)."""
        if self._call_sent_at is not None and self._call_answered_at is None:
            self._call_answered_at = now = time.perf_counter()
            if self.provider_ttfb is None:
                self.provider_ttfb = now - self._call_sent_at

    def provider_call_ended(self, read_seconds: float | None = None) -> None:
        """`read_seconds`: the time spent reading the provider's stream after its first byte
        (the lean reader counts it); None: the whole call's wall time is the provider's."""
        if self._call_sent_at is None:
            return
        self.provider_answered()
        now = time.perf_counter()
        if read_seconds is None or self._call_answered_at is None:
            self.provider_seconds += now - self._call_sent_at
        else:
            self.provider_seconds += self._call_answered_at - self._call_sent_at + read_seconds
        self._call_sent_at = None

    def waited(self, now: float) -> float:
        """Seconds spent waiting on providers and tools so far; a model call still open counts
        until its first byte (what a stream's headers wait for)."""
        waited = self.provider_seconds + self.tool_seconds
        if self._call_sent_at is not None:
            waited += (self._call_answered_at or now) - self._call_sent_at
        return waited

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    @property
    def ttft_seconds(self) -> float | None:
        if self.first_token_at is None:
            return None
        return self.first_token_at - self.started_at
