"""An offline MCP server over stdio for the shipped config's demo:
`python -m gateway.mcp.demo_server`.

Its tools are small and deterministic, so the demo model can call them with no network and the
same question always gets the same answer:

  roll_dice {sides, count, seed}              structured: the rolls and their total
  convert_units {value, from_unit, to_unit}   structured: the converted value (length, mass,
                                              volume, temperature); an unknown unit is a tool error
  word_count {text}                           text: words, characters and lines

Built on the mcp SDK's MCPServer; it logs only warnings (to stderr, which the gateway reads).
"""

from __future__ import annotations

import random
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

server = MCPServer(
    "gateway-demo",
    instructions="Offline demo tools: dice with a seed, unit conversion, word counts.",
    version="1.0.0",
    log_level="WARNING",
)


class DiceRoll(BaseModel):
    rolls: list[int]
    total: int
    sides: int
    seed: int


class Conversion(BaseModel):
    value: float
    from_unit: str
    to_unit: str
    result: float


@server.tool()
def roll_dice(
    sides: Annotated[int, Field(ge=2, le=1000, description="Faces on each die")] = 6,
    count: Annotated[int, Field(ge=1, le=100, description="How many dice")] = 1,
    seed: Annotated[int, Field(description="The same seed gives the same rolls")] = 0,
) -> DiceRoll:
    """Roll dice, reproducibly: the same seed always gives the same rolls."""
    dice = random.Random(seed)  # not for secrets: a demo that must repeat itself
    rolls = [dice.randint(1, sides) for _ in range(count)]
    return DiceRoll(rolls=rolls, total=sum(rolls), sides=sides, seed=seed)


# Each unit in its dimension's base unit (metre, kilogram, litre).
_LINEAR: dict[str, tuple[str, float]] = {
    "mm": ("length", 0.001),
    "cm": ("length", 0.01),
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "in": ("length", 0.0254),
    "ft": ("length", 0.3048),
    "yd": ("length", 0.9144),
    "mi": ("length", 1609.344),
    "g": ("mass", 0.001),
    "kg": ("mass", 1.0),
    "oz": ("mass", 0.028349523125),
    "lb": ("mass", 0.45359237),
    "ml": ("volume", 0.001),
    "l": ("volume", 1.0),
    "gal": ("volume", 3.785411784),  # US gallon
}
_TEMPERATURE = ("c", "f", "k")
UNITS = (*_LINEAR, *_TEMPERATURE)


@server.tool()
def convert_units(
    value: Annotated[float, Field(description="The amount to convert")],
    from_unit: Annotated[str, Field(description=f"One of: {', '.join(UNITS)}")],
    to_unit: Annotated[str, Field(description="A unit of the same kind")],
) -> Conversion:
    """Convert a length, mass, volume or temperature (C, F, K) from one unit to another."""
    source, target = from_unit.strip().lower(), to_unit.strip().lower()
    if source in _TEMPERATURE and target in _TEMPERATURE:
        result = _from_kelvin(_to_kelvin(value, source), target)
    elif source in _LINEAR and target in _LINEAR and _LINEAR[source][0] == _LINEAR[target][0]:
        result = value * _LINEAR[source][1] / _LINEAR[target][1]
    else:
        raise ToolError(f"cannot convert {from_unit!r} to {to_unit!r}; units: {', '.join(UNITS)}")
    return Conversion(value=value, from_unit=source, to_unit=target, result=round(result, 6))


def _to_kelvin(value: float, unit: str) -> float:
    if unit == "c":
        return value + 273.15
    if unit == "f":
        return (value - 32) * 5 / 9 + 273.15
    return value


def _from_kelvin(value: float, unit: str) -> float:
    if unit == "c":
        return value - 273.15
    if unit == "f":
        return (value - 273.15) * 9 / 5 + 32
    return value


@server.tool(structured_output=False)
def word_count(text: Annotated[str, Field(description="The text to count")]) -> str:
    """Count the words, characters and lines of a text."""
    lines = len(text.splitlines()) if text else 0
    return f"{len(text.split())} words, {len(text)} characters, {lines} lines"


def main() -> None:
    server.run("stdio")


if __name__ == "__main__":
    main()
