"""What a request may cost before it runs: the amount reserved against its key's spend budget.

A chat call is priced at its model ID's highest price per token (any deployment may answer
it) for the prompt it sends, counted with LiteLLM's tokenizer, plus the longest answer it
allows: the request's `max_tokens` (`max_completion_tokens`), else `budget_answer_tokens`
from the config. An embeddings call is its inputs' tokens. The estimate covers one model
call; a tool loop's further calls, and an answer longer than the ceiling of a request that
set no `max_tokens`, are paid when they have run (see the README's bound).

Counting a long prompt takes milliseconds: callers run these in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import litellm

from gateway.events import Usage
from gateway.upstream.pricing import PriceList

# A shape LiteLLM's counter does not know (input_audio, say) is counted as characters of its
# JSON per token: a rough measure, and rather too much than too little.
_CHARACTERS_PER_TOKEN = 3


def chat_cost(
    prices: PriceList,
    model_id: str,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    answer_ceiling: int,
) -> float:
    """US dollars one model call of this request may cost (0 when the model is unpriced)."""
    price = prices.highest(model_id)
    if price is None:
        return 0.0
    answer = params.get("max_completion_tokens") or params.get("max_tokens") or answer_ceiling
    return price.of(Usage(prompt_tokens(messages, tools), int(answer)))


def embedding_cost(prices: PriceList, model_id: str, inputs: Sequence[str | list[int]]) -> float:
    """US dollars embedding `inputs` may cost (0 when the model is unpriced)."""
    price = prices.highest(model_id)
    if price is None:
        return 0.0
    tokens = sum(
        len(item) if isinstance(item, list) else litellm.token_counter(text=item) for item in inputs
    )
    return price.of(Usage(prompt_tokens=tokens))


def prompt_tokens(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> int:
    """The prompt's tokens by LiteLLM's default tokenizer, images at its default size (an image
    URL is never fetched to measure it)."""
    try:
        return int(
            litellm.token_counter(
                messages=list(messages),
                tools=list(tools) or None,  # type: ignore[arg-type]
                use_default_image_token_count=True,
            )
        )
    except Exception:  # LiteLLM raises ValueError, and worse, on content it cannot count
        text = json.dumps([messages, tools], ensure_ascii=False, default=str)
        return len(text) // _CHARACTERS_PER_TOKEN + 1
