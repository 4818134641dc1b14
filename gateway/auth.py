"""API keys: who a client is. Keys are compared in constant time and never logged.

Keys come from `GATEWAY_API_KEYS` (comma-separated `name:key` or bare `key`) and/or a keys file
(`GATEWAY_API_KEYS_FILE`, YAML: a list of `{name, key}`, each optionally with `rate_limit`,
`tokens_per_minute`, `models` (the model IDs it may use), `tools` (the tools its requests may be
offered and run, by name or pattern) and a spend budget, `max_budget` US
dollars per `budget_duration` (see gateway/limits/budgets.py)). Logs name a key by its name, or by a
short hash when it has none. With no keys configured the gateway runs open.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from limits import parse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.limits.budgets import SpendBudget, check_duration
from gateway.validation_problems import FieldProblem, Wording, field_problems

MIN_KEY_LENGTH = 16
# A tool name, or a pattern of one (`mcp__time__*`, `get_?eather`, `mcp__[ab]*`).
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.\-*?\[\]!]{1,200}")


class KeyConfigError(ValueError):
    """The configured keys cannot be used; the message never contains a key."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    # Replaces gateway.rate_limit.default for this key (keys file only), e.g. "600/minute".
    rate_limit: str | None = None
    tokens_per_minute: int | None = None
    # The model IDs this key may use (keys file only); None: every model ID.
    models: frozenset[str] | None = None
    budget: SpendBudget | None = None
    # The tools this key's requests may be offered and run, names or patterns (keys file
    # only); None: every tool the model is offered. Narrows the YAML's set, never widens it.
    tools: tuple[str, ...] | None = None

    @property
    def tenant(self) -> str:
        return f"key:{self.name}"


class _KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    key: str = Field(min_length=MIN_KEY_LENGTH, repr=False)
    rate_limit: str | None = None
    tokens_per_minute: int | None = Field(default=None, ge=1)
    models: list[str] | None = Field(default=None, min_length=1)
    # [] is a key whose requests run no server tool.
    tools: list[str] | None = None
    max_budget: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    budget_duration: str | None = None

    @field_validator("tools")
    @classmethod
    def _check_tools(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not _TOOL_NAME.fullmatch(name):
                raise ValueError(
                    f"{name[:80]!r} is not a tool name or pattern (letters, digits, _ . - and "
                    "the wildcards * ? [ ])"
                )
        return value

    @field_validator("budget_duration")
    @classmethod
    def _check_duration(cls, value: str | None) -> str | None:
        return check_duration(value) if value is not None else None

    @model_validator(mode="after")
    def _budget_has_both_halves(self) -> _KeyEntry:
        if (self.max_budget is None) != (self.budget_duration is None):
            # A budget with no window would never start again; a window with no budget is
            # a typo.
            raise ValueError("max_budget and budget_duration go together (e.g. 10.0 per '30d')")
        return self

    @property
    def budget(self) -> SpendBudget | None:
        if self.max_budget is None or self.budget_duration is None:
            return None
        return SpendBudget(self.max_budget, self.budget_duration)

    @field_validator("rate_limit")
    @classmethod
    def _check_limit(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a rate limit like '60/minute'") from None
        return value


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def short_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


class KeyStore:
    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._keys = tuple(keys)

    @property
    def is_open(self) -> bool:
        return not self._keys

    @property
    def names(self) -> list[str]:
        return [key.name for key in self._keys]

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key matching `presented`, checked against every key in constant time."""
        digest = _digest(presented)
        found = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    @classmethod
    def load(cls, env_value: str | None, file: Path | None) -> KeyStore:
        entries: list[_KeyEntry] = []
        if env_value:
            entries += _parse_env(env_value)
        if file is not None:
            entries += _parse_file(file)
        names = [entry.name for entry in entries]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise KeyConfigError(f"API key names used twice: {', '.join(duplicates)}")
        digests = [_digest(entry.key) for entry in entries]
        if len(set(digests)) != len(digests):
            raise KeyConfigError("the same API key is configured twice")
        return cls(
            ApiKey(
                entry.name,
                digest,
                entry.rate_limit,
                entry.tokens_per_minute,
                frozenset(entry.models) if entry.models is not None else None,
                entry.budget,
                tuple(entry.tools) if entry.tools is not None else None,
            )
            for entry, digest in zip(entries, digests, strict=True)
        )


def _parse_env(value: str) -> list[_KeyEntry]:
    entries = []
    for position, item in enumerate(part.strip() for part in value.split(",")):
        if not item:
            continue
        name, sep, key = item.partition(":")
        if not sep:
            name, key = f"key-{short_hash(item)}", item
        entries.append(_entry({"name": name, "key": key}, f"GATEWAY_API_KEYS item {position + 1}"))
    return entries


def _parse_file(path: Path) -> list[_KeyEntry]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KeyConfigError(
            f"{path}: cannot read the keys file ({exc.__class__.__name__})"
        ) from None
    if not isinstance(data, list):
        raise KeyConfigError(f"{path}: expected a list of {{name, key}} entries")
    return [_entry(item, f"{path}: entry {position}") for position, item in enumerate(data)]


def _entry(raw: Any, where: str) -> _KeyEntry:
    try:
        return _KeyEntry.model_validate(raw)
    except ValidationError as exc:
        # Name the field, never echo the input: it may be a key.
        fields = ", ".join(
            f"{problem.dotted('entry')}: {_safe_message(problem)}"
            for problem in field_problems(exc, _KEYS_FILE_WORDS)
        )
        raise KeyConfigError(f"{where}: {fields}") from None


_KEYS_FILE_WORDS = Wording(by_type={"missing": "missing"})


def _safe_message(problem: FieldProblem) -> str:
    if problem.error_type == "string_too_short" and problem.loc == ("key",):
        return f"keys must be at least {MIN_KEY_LENGTH} characters"
    return problem.message
