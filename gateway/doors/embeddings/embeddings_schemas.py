"""The request body of POST /v1/embeddings: OpenAI's embeddings schema, checked in full.

A client's mistake (an empty input, a list mixing strings and token IDs, `dimensions: 0`) must
be a 400 naming the field before any provider is asked, never a provider error blamed on the
provider. The input's shape is checked by hand so the message names the very item
(`input[3]: …`), which a union of list types would bury under one line per member.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictInt, StrictStr, model_validator

from gateway.doors.common.request_models import RequestModel, field_error

# OpenAI's own cap on the inputs of one request.
MAX_INPUTS = 2048
MAX_DIMENSIONS = 65536
# Token IDs index a vocabulary; no tokenizer's is anywhere near 2**31.
MAX_TOKEN_ID = 2**31 - 1
_TOKEN = f"a token ID (an integer from 0 to {MAX_TOKEN_ID})"

Inputs = list[str] | list[list[int]]


class EmbeddingRequest(RequestModel):
    # Unknown fields are accepted and never sent on (the route passes only what it names).
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    # A string, a list of strings, one token array, or a list of token arrays.
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    # Far above any model's size (OpenAI's largest is 3072): a sanity bound, not a model's.
    dimensions: StrictInt | None = Field(default=None, ge=1, le=MAX_DIMENSIONS)
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = Field(default=None, max_length=256)

    @model_validator(mode="before")
    @classmethod
    def _checked(cls, body: Any) -> Any:
        if isinstance(body, dict) and "input" in body:
            problem = input_problem(body["input"])
            if problem is not None:
                # Raised on the body, so that it can name the very item.
                raise field_error(*problem)
        return body

    def inputs(self) -> Inputs:
        """The input as a list of single inputs (texts, or token arrays): one vector each."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if value and isinstance(value[0], int):
            return [value]  # type: ignore[list-item]  # one token array
        return value  # type: ignore[return-value]

    def characters(self) -> int:
        return sum(len(item) for item in self.inputs() if isinstance(item, str))


def input_problem(value: Any) -> tuple[str, str] | None:
    """The item of `input` that is wrong and what is wrong with it; None when `input` is one of
    OpenAI's forms."""
    if isinstance(value, str):
        return None if value else ("input", "must not be an empty string")
    if not isinstance(value, list):
        return (
            "input",
            "Input should be a string, a list of strings, a token array (a list of integers) "
            "or a list of token arrays",
        )
    if not value:
        return ("input", "must not be an empty list")
    if len(value) > MAX_INPUTS:
        return ("input", f"{len(value)} inputs is over the limit of {MAX_INPUTS}")
    first = value[0]
    if isinstance(first, str):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                return (f"input[{index}]", "Input should be a string, as input[0] is")
            if not item:
                return (f"input[{index}]", "must not be an empty string")
        return None
    if isinstance(first, int) and not isinstance(first, bool):
        return _token_array_problem("input", value)
    if isinstance(first, list):
        for index, item in enumerate(value):
            if not isinstance(item, list):
                return (f"input[{index}]", "Input should be a token array, as input[0] is")
            problem = _token_array_problem(f"input[{index}]", item)
            if problem is not None:
                return problem
        return None
    return ("input[0]", f"Input should be a string, {_TOKEN} or a token array")


def _token_array_problem(where: str, tokens: list[Any]) -> tuple[str, str] | None:
    if not tokens:
        return (where, "a token array must not be empty")
    for index, token in enumerate(tokens):
        if not _is_token(token):
            return (f"{where}[{index}]", f"Input should be {_TOKEN}")
    return None


def _is_token(value: Any) -> bool:
    # JSON's true and false are Python ints too; they are no token IDs.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_ID
