"""What happened to one request, filled in by the engine as it runs.

The HTTP layer reads it for response headers once the first event is out (and, when the answer
is done, for logs and metrics). One per request; never shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.cache import CacheResult


@dataclass
class CallOutcome:
    # The first model call's cache result; None when the model ID is not cached.
    cache: CacheResult | None = None

    def headers(self) -> dict[str, str]:
        return {"x-cache": self.cache} if self.cache is not None else {}
