"""The openai SDK's chat request-body transform, skipped where it would change nothing.

LiteLLM sends `openai/`, `azure/` and the OpenAI-compatible providers' chat calls through the
openai SDK, whose `AsyncCompletions.create` first runs the whole body through a type-driven
transform (`async_maybe_transform`): it walks every message and tool against the params'
TypedDicts to rename aliased keys, format dates and files, and dump pydantic models, and drops
the arguments left unset. The chat params have no alias and no format anywhere (checked here,
once, over the whole type tree), so for a body of plain JSON values the transform's only effect
is dropping the unset arguments; that walk was about a tenth of a request's CPU. This does only
that, and hands anything else (a pydantic model, a tuple, a date, a file) to the SDK's own.

tests/test_litellm_reach.py fails loudly if the pinned openai SDK changes what this relies on.
"""

from __future__ import annotations

import typing
from typing import Any

import openai.resources.chat.completions.completions as chat_completions
import typing_extensions
from openai._utils import is_given
from openai._utils._transform import PropertyInfo, get_type_hints
from openai.types.chat import completion_create_params

CHAT_PARAMS = (
    completion_create_params.CompletionCreateParamsStreaming,
    completion_create_params.CompletionCreateParamsNonStreaming,
)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def transform_changes_keys_or_values(root: object) -> bool:
    """Whether any type under `root` carries an alias or a format for the SDK's transform."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        tp = pending.pop()
        if id(tp) in seen:
            continue
        seen.add(id(tp))
        if isinstance(tp, typing_extensions.TypeAliasType):
            pending.append(tp.__value__)
            continue
        if typing.get_origin(tp) is typing.Annotated:
            for meta in tp.__metadata__:
                if isinstance(meta, PropertyInfo) and (meta.alias or meta.format):
                    return True
        if typing_extensions.is_typeddict(tp):
            pending.extend(get_type_hints(tp, include_extras=True).values())
        pending.extend(typing.get_args(tp))
    return False


def is_plain_json(value: object) -> bool:
    """Only dicts with str keys, lists, str, numbers, booleans and None, all the way down."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        return all(type(key) is str and is_plain_json(item) for key, item in value.items())  # type: ignore[attr-defined]
    if kind is list:
        return all(is_plain_json(item) for item in value)  # type: ignore[attr-defined]
    return False


_sdk_transform = chat_completions.async_maybe_transform
_CHAT_BODY_IS_PLAIN = not any(transform_changes_keys_or_values(params) for params in CHAT_PARAMS)


async def transform_chat_body(data: object, expected_type: object) -> Any:
    """The SDK's transform, or its result computed directly for a plain JSON chat body."""
    if _CHAT_BODY_IS_PLAIN and expected_type in CHAT_PARAMS and type(data) is dict:
        body = {key: value for key, value in data.items() if is_given(value)}
        if all(is_plain_json(value) for value in body.values()):
            return body
    return await _sdk_transform(data, expected_type)


# `create` looks the name up in its module's globals at call time.
chat_completions.async_maybe_transform = transform_chat_body  # type: ignore[assignment]
