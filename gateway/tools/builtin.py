"""Built-in tools: real weather from Open-Meteo (no key), and the current UTC time.

Plain functions: importing this module registers nothing; load_tools (loading.py) registers
BUILTIN_TOOLS.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from gateway.tools.registry import ToolContext, ToolFailure

GEOCODING_URL = "https://geocoding-api.open-meteo.com"
FORECAST_URL = "https://api.open-meteo.com"

# WMO weather interpretation codes, as Open-Meteo documents them.
_WMO_CODES = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast",
    45: "fog", 48: "depositing rime fog",
    51: "light drizzle", 53: "drizzle", 55: "dense drizzle",
    56: "freezing drizzle", 57: "dense freezing drizzle",
    61: "light rain", 63: "rain", 65: "heavy rain", 66: "freezing rain", 67: "heavy freezing rain",
    71: "light snow", 73: "snow", 75: "heavy snow", 77: "snow grains",
    80: "light rain showers", 81: "rain showers", 82: "violent rain showers",
    85: "snow showers", 86: "heavy snow showers",
    95: "thunderstorm", 96: "thunderstorm with hail", 99: "thunderstorm with heavy hail",
}  # fmt: skip


async def get_weather(
    location: Annotated[
        str, Field(min_length=1, max_length=100, description="A city name, e.g. Berlin")
    ],
    context: ToolContext,
) -> dict[str, Any]:
    """Get the current weather for a location."""
    geocoding = str(context.options.get("geocoding_url", GEOCODING_URL)).rstrip("/")
    forecast = str(context.options.get("forecast_url", FORECAST_URL)).rstrip("/")
    found = await context.http.get(
        f"{geocoding}/v1/search", params={"name": location, "count": 1, "format": "json"}
    )
    found.raise_for_status()
    places = found.json().get("results") or []
    if not places:
        raise ToolFailure(f"no place called {location!r} was found")
    place = places[0]
    weather = await context.http.get(
        f"{forecast}/v1/forecast",
        params={
            "latitude": place["latitude"],
            "longitude": place["longitude"],
            "current": "temperature_2m,weather_code,wind_speed_10m",
        },
    )
    weather.raise_for_status()
    current = weather.json()["current"]
    name = ", ".join(part for part in (place.get("name"), place.get("country")) if part)
    return {
        "location": name,
        "temperature_c": current["temperature_2m"],
        "conditions": _WMO_CODES.get(int(current["weather_code"]), "unknown"),
        "wind_speed_kmh": current["wind_speed_10m"],
        "observed_at": current.get("time"),
    }


def current_time() -> dict[str, str]:
    """Get the current date and time in UTC."""
    return {"utc": datetime.now(UTC).isoformat(timespec="seconds")}


BUILTIN_TOOLS = (get_weather, current_time)
