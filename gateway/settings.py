"""Process settings from the environment and an optional `.env` file.

Everything about *which models exist* lives in the YAML config; this holds only what an operator
sets per process or per deployment (where to listen, where the YAML is, Redis, CORS, limits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("litellm_config.yaml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Serve /metrics on a listener of its own on this port (and 404 it on `port`), so a public
    # port never shows them. Unset: /metrics is on `port`. With --workers N the listener is in
    # the supervising process and sums every worker (gateway/serving/server.py).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Interface for that listener; unset: the same as `host`.
    metrics_host: str | None = None
    config: Path = DEFAULT_CONFIG_PATH
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "GATEWAY_REDIS_URL")
    )
    cors_origins: Annotated[list[str], NoDecode] = [
        "http://localhost:3000",
        "http://127.0.0.1:3000",
    ]
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # `json`: one JSON object per line (the request log's fields as keys); `text` for humans.
    log_format: Literal["text", "json"] = "text"
    # Put the request's messages in its log line. Off: message contents are never logged.
    log_content: bool = False
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Seconds any Redis call (readiness probe, rate-limit check) may take before it counts as
    # failed. Limit checks run off the event loop, so this bounds one request, not all.
    redis_timeout: float = Field(default=0.5, gt=0)
    max_messages: int = Field(default=500, ge=1)
    max_total_chars: int = Field(default=1_000_000, ge=1)

    # API keys: `name:key` (or bare `key`) comma-separated, and/or a YAML file of {name, key}.
    api_keys: str | None = Field(default=None, repr=False)
    api_keys_file: Path | None = None
    # Refuse to start without keys (a public deployment must never run open by mistake).
    require_auth: bool = False
    # Bearer key for /admin/* (reload). Unset: the admin routes answer 403.
    admin_key: str | None = Field(default=None, repr=False, min_length=16)

    # Seconds between checks of the YAML file for edits (0 turns watching off; SIGHUP and
    # POST /admin/reload still reload).
    config_poll_seconds: float = Field(default=1.0, ge=0)
    # On SIGTERM, streams in flight get this long to finish before they are ended.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("admin_key", "metrics_host", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose and shells pass `VAR=` for "not set"; that must not fail the length check.
        return None if value == "" else value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _port_number(cls, value: object) -> object:
        if value is None or value == "":
            return None
        try:
            number = int(value.strip()) if isinstance(value, str) else value
        except ValueError:
            number = None
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            raise ValueError(f"GATEWAY_METRICS_PORT must be a port number (1-65535), not {value!r}")
        return number

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_url_form(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        from gateway.redis_client import check_url

        check_url(value)  # its messages never quote the URL: it may hold a password
        return value

    @model_validator(mode="after")
    def _metrics_port_is_its_own(self) -> Settings:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError(
                f"GATEWAY_METRICS_PORT ({self.metrics_port}) must differ from GATEWAY_PORT "
                f"({self.port}): /metrics gets a listener of its own; unset it to serve "
                "/metrics on GATEWAY_PORT"
            )
        return self

    @property
    def metrics_listen_host(self) -> str:
        """Where the separate /metrics listener binds: GATEWAY_METRICS_HOST, else GATEWAY_HOST."""
        return self.metrics_host if self.metrics_host is not None else self.host

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    # What a public port needs from the HTTP server (gateway/serving/http_server.py); each is per
    # worker process. Request line plus headers, in bytes: 431 above it. 16 KiB is Node's limit, so
    # whatever a browser sends to the Next.js frontend fits; nginx allows 8 KiB per line.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    # Seconds from the connection (or a keep-alive request's first byte) to the end of the
    # head: 408 after it. A real client sends its head in one packet; 10 s leaves room for a
    # few retransmissions on a bad mobile link and stops a slowloris client within 10 s.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    # Longest pause between two reads of a request body: 408 after it (nginx: 60 s between
    # reads). Only the request: an answer may stream for as long as it runs.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    # Open connections per worker; a request beyond them is answered 503. Streams hold theirs
    # for minutes, so the cap sits above what one worker can stream at once; `serve` raises
    # the file descriptor limit to two per connection (the client's and the provider's).
    max_connections: int = Field(default=1000, ge=1)
    # Connections one client address may hold per worker (behind a trusted proxy: requests in
    # flight per forwarded address). Unset: a quarter of max_connections, so one client never
    # takes every place; a frontend server calling from one address may need it raised.
    max_connections_per_client: int | None = Field(default=None, ge=1)
    # Of those, how many may still be sending their request head: a real client sends its head
    # in one packet, a slowloris client never finishes it. Not lower: a connection counts from
    # its accept, so a burst of new connections from one busy client (a frontend server) is
    # all "incomplete" for a moment; at 16, 24 of 40 concurrent answers were refused.
    max_incomplete_heads_per_client: int = Field(default=128, ge=1)
    # Places beyond max_connections kept for /health and /health/ready, so a full worker still
    # answers its probes instead of being restarted for being busy.
    probe_connections: int = Field(default=8, ge=0)

    @property
    def connections_per_client(self) -> int:
        """GATEWAY_MAX_CONNECTIONS_PER_CLIENT, else a quarter of GATEWAY_MAX_CONNECTIONS."""
        if self.max_connections_per_client is not None:
            return self.max_connections_per_client
        return max(1, self.max_connections // 4)
