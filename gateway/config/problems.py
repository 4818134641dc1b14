"""What a config file is wrong about: each problem with its line, and the error that lists them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class ConfigProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int | None
    where: str
    message: str

    def render(self, path: Path) -> str:
        place = f"{path}:{self.line}" if self.line else str(path)
        return (
            f"{place}: {self.where}: {self.message}" if self.where else f"{place}: {self.message}"
        )


class ConfigError(Exception):
    """The file cannot be served; `problems` says where and why."""

    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(p.render(path) for p in problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest of `choices`, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
