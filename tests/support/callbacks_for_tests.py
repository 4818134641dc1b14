"""CustomLogger instances a test config lists by dotted path (litellm_settings callbacks)."""

from __future__ import annotations

import threading
from typing import Any

from litellm.integrations.custom_logger import CustomLogger


class Recorder(CustomLogger):
    """Writes down every success and failure LiteLLM tells it of (its async hooks: the
    gateway's calls are async)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record("success", kwargs, response_obj)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record("failure", kwargs, response_obj)

    def _record(self, event: str, kwargs: dict[str, Any], response_obj: Any) -> None:
        standard = kwargs.get("standard_logging_object") or {}
        with self._lock:
            self._events.append(
                {
                    "event": event,
                    "model_group": standard.get("model_group"),
                    "stream": bool(kwargs.get("stream")),
                    "text": _text_of(response_obj),
                }
            )


def _text_of(response: Any) -> str | None:
    try:
        return str(response.choices[0].message.content)
    except (AttributeError, IndexError, TypeError):
        return None


recorder = Recorder()
other_recorder = Recorder()
not_a_logger = object()
