"""The gateway app served in-process on a real loopback port, with an httpx client at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

import gateway  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)
from gateway.app import create_app
from gateway.settings import Settings
from tests.support.serving import BackgroundLoop, ServedApp


class NotStarted(RuntimeError):
    """A served gateway's client or URL was asked for before its first start()."""


class Gateway:
    """A gateway app served on a real loopback port, with an httpx client pointed at it.

    `start()` serves it (and may serve it again after `stop()`, with the YAML re-read);
    `client` and `url` are those of the running server, so they are never None.
    """

    def __init__(self, loop: BackgroundLoop, config_path: Path, **settings: Any) -> None:
        self.config_path = config_path
        self.settings = Settings(config=config_path, _env_file=None, **settings)
        self._loop = loop
        self._served: ServedApp | None = None
        self._client: httpx.Client | None = None

    def start(self) -> Gateway:
        self.app = create_app(self.settings)
        served = ServedApp(self._loop, self.app)
        served.start()
        self._served = served
        self._client = httpx.Client(base_url=served.url, timeout=15)
        return self

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise NotStarted("the gateway is not running: call start() first")
        return self._client

    @property
    def url(self) -> str:
        if self._served is None:
            raise NotStarted("the gateway is not running: call start() first")
        return self._served.url

    def stop(self) -> None:
        # Both stay referenced: `url` still names the stopped server (tests probe that it
        # refuses), and the closed client raises httpx's own error if used.
        if self._client is not None:
            self._client.close()
        if self._served is not None:
            self._served.stop()

    def chat(self, **body: Any) -> httpx.Response:
        payload = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}], **body}
        return self.client.post("/api/chat", json=payload)
