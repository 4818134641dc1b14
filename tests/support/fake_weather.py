"""A fake of Open-Meteo's geocoding and forecast endpoints, on a loopback port."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from tests.support.serving import BackgroundLoop, ServedApp, serve_lifespan

PLACES = {
    "beijing": {"name": "Beijing", "country": "China", "latitude": 39.9, "longitude": 116.4},
    "berlin": {"name": "Berlin", "country": "Germany", "latitude": 52.52, "longitude": 13.41},
}


def _current(temperature: float, code: int, wind: float) -> dict[str, Any]:
    return {
        "time": "2026-11-24T09:00",
        "temperature_2m": temperature,
        "weather_code": code,
        "wind_speed_10m": wind,
    }


CURRENT = {(39.9, 116.4): _current(25.0, 0, 5.2), (52.52, 13.41): _current(3.5, 63, 14.0)}


class FakeWeather:
    def __init__(self, loop: BackgroundLoop) -> None:
        self.queries: list[tuple[str, dict[str, list[str]]]] = []
        self._served = ServedApp(loop, self._app)

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> FakeWeather:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        query = parse_qs(scope["query_string"].decode())
        self.queries.append((scope["path"], query))
        if scope["path"] == "/v1/search":
            place = PLACES.get(query["name"][0].lower())
            body: Any = {"results": [place]} if place else {}
        elif scope["path"] == "/v1/forecast":
            key = (float(query["latitude"][0]), float(query["longitude"][0]))
            body = {"current": CURRENT[key]}
        else:
            body = {"error": True}
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": raw})
