"""Logging set-up: the gateway's own lines at the chosen level, as text or JSON; LiteLLM quiet.

Given to uvicorn as its `log_config`, so every worker process configures itself the same way.
A record may carry `fields` (a dict, as the request log does): JSON lines get them as keys, text
lines as `key=value` pairs (less those named in `fields_in_message`, already in its text).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

# LiteLLM's debug output can carry request payloads and headers; never let it through.
QUIET_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx")


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            said = getattr(record, "fields_in_message", ())
            line += " " + " ".join(
                f"{key}={_text(value)}"
                for key, value in fields.items()
                if value is not None and key not in said
            )
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def _text(value: Any) -> str:
    return (
        json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    )


def logging_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """A dictConfig for the gateway and uvicorn: one handler on stderr, no access log."""
    formatter = (
        "gateway.logs.JsonFormatter" if log_format == "json" else "gateway.logs.TextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "gateway",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # The gateway's request log replaces uvicorn's access log.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def configure_logging(level: str, log_format: str = "text") -> None:
    import logging.config

    logging.config.dictConfig(logging_config(level, log_format))
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
