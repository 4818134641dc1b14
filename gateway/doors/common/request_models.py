"""What every door's request schemas are built of: the strict base model, an error naming a
field, tagged unions whose tags never reach an error's location, and the numbers providers take.

A client's mistake must be a 400 (or the door's 4xx) naming the field before any provider call,
never a provider failure blamed on the provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

# --- the body as a whole -------------------------------------------------------------------------


class RequestModel(BaseModel):
    """A request body, or a part of one. JSON types are taken as they are (strict): `"yes"` is
    no boolean and `"5"` no number. json_body has already checked the body as a whole: unique
    keys, finite numbers, 64-bit integers, valid Unicode, bounded depth."""

    model_config = ConfigDict(strict=True)


def field_error(param: str, problem: str) -> PydanticCustomError:
    """An error raised by a check of the whole body that names the field it found wrong (the
    error handler takes `param` from its context)."""
    return PydanticCustomError("invalid_field", "{problem}", {"problem": problem, "param": param})


# --- tagged unions --------------------------------------------------------------------------------

# Every tag of every union of the doors' schemas. Pydantic puts a union's tag into error
# locations; the error handler drops these so a location names only the client's fields.
UNION_TAGS: set[str] = set()


def one_of(pick: Callable[[Any], str | None], expected: str, members: Mapping[str, Any]) -> Any:
    """A union whose member `pick` names from the input; anything else fails with `expected`."""
    UNION_TAGS.update(members)

    def choose(value: Any) -> str | None:
        tag = pick(value)
        return tag if tag in members else None

    choices = tuple(Annotated[member, Tag(tag)] for tag, member in members.items())
    return Annotated[
        Union[choices],  # noqa: UP007  (built from a tuple)
        Discriminator(choose, custom_error_type="invalid_choice", custom_error_message=expected),
    ]


def json_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "<string>"
    if isinstance(value, list):
        return "<list>"
    return "<object>" if isinstance(value, dict) else None


def tagged_by(field: str, suffix: str) -> Callable[[Any], str | None]:
    """Pick a member by one field of an object, e.g. `type` "text" -> "<text part>"."""

    def pick(value: Any) -> str | None:
        kind = value.get(field) if isinstance(value, dict) else None
        return f"<{kind} {suffix}>" if isinstance(kind, str) else None

    return pick


# --- numbers --------------------------------------------------------------------------------------

# json_body refuses NaN and Infinity first; allow_inf_nan keeps these types honest alone.
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
TopP = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Penalty = Annotated[float, Field(ge=-2, le=2, allow_inf_nan=False)]
# Token counts go on to providers that read them as 32-bit integers (Gemini's maxOutputTokens,
# topK): a bound of sanity, not any model's.
INT32_MAX = 2**31 - 1
MaxTokens = Annotated[int, Field(ge=1, le=INT32_MAX)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # providers take a signed 64-bit seed
TokenId = Annotated[str, Field(pattern=r"^[0-9]+$")]
Bias = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
LogitBias = Annotated[
    dict[TokenId, Bias],
    # What pydantic writes allows any other key; the spec says what validation does.
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9]+$"},
            "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100},
        }
    ),
]

# OpenAI's rule for function and schema names.
Name64 = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


def stop_sequences(max_items: int | None) -> Any:
    many = Annotated[list[str], Field(max_length=max_items)] if max_items else list[str]
    return one_of(
        json_kind,
        "Input should be a string or a list of strings",
        {"<string>": str, "<list>": many},
    )


Stop = stop_sequences(4)  # OpenAI takes up to four
