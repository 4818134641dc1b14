"""One reader of pydantic's validation errors for everything that reports them: the doors' 422s,
the config checker, the keys file, a tool's arguments and the settings.

Each audience words a problem its own way (a client reads "field required", an operator
"missing", a model "not a parameter of this tool"), so the words are a `Wording`; which fields
are wrong, what pydantic said of each and how many are shown is read here once. Data only: it
imports nothing of the gateway, so config may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Wording:
    """How one audience says pydantic's error types."""

    # Fixed words for an error type ("missing" -> "field required"); others say pydantic's.
    by_type: Mapping[str, str] = field(default_factory=dict)
    # Say a validator's own reason rather than pydantic's "Value error, <reason>".
    validator_reason: bool = False
    # For an error pydantic gave no message.
    fallback: str = "invalid"


@dataclass(frozen=True)
class FieldProblem:
    loc: Loc
    message: str
    error_type: str
    # pydantic's context of the error (a validator may put the field it found wrong here).
    context: Mapping[str, Any]

    def dotted(self, whole: str) -> str:
        """`litellm_params.model`; `whole` when the problem is with the whole value."""
        return ".".join(str(part) for part in self.loc) or whole


def field_problems(
    errors: ValidationError | Iterable[Mapping[str, Any]],
    wording: Wording,
    limit: int | None = None,
) -> list[FieldProblem]:
    """The first `limit` problems (all when None), each in `wording`'s words."""
    listed = list(errors.errors() if isinstance(errors, ValidationError) else errors)
    return [_problem(err, wording) for err in listed[:limit]]


def _problem(err: Mapping[str, Any], wording: Wording) -> FieldProblem:
    error_type = str(err.get("type", ""))
    context = err.get("ctx") or {}
    return FieldProblem(
        loc=tuple(err.get("loc", ())),
        message=_message(err, error_type, context, wording),
        error_type=error_type,
        context=context,
    )


def _message(
    err: Mapping[str, Any], error_type: str, context: Mapping[str, Any], wording: Wording
) -> str:
    if error_type in wording.by_type:
        return wording.by_type[error_type]
    if wording.validator_reason and error_type == "value_error" and "error" in context:
        return str(context["error"])
    return str(err.get("msg", wording.fallback))
