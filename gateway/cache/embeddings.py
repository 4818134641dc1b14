"""Embedding answers as stored in the cache, next to the chat answers (answers.py).

Their own format, because an embedding answer is vectors and a token count, not events to
replay. Vectors are kept as little-endian float64 (base64 in a small JSON document): a hit
gives back the very numbers the miss did, at under half the size of the same floats as JSON
text, and either `encoding_format` is made from them on the way out.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from dataclasses import dataclass

from gateway.cache.answers import CorruptAnswer

# Bumped whenever this format changes; it is part of every embedding key.
EMBEDDING_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CachedEmbeddings:
    vectors: list[list[float]]
    prompt_tokens: int


def encode_embeddings(answer: CachedEmbeddings) -> bytes:
    document = {
        "v": EMBEDDING_FORMAT_VERSION,
        "e": [base64.b64encode(_pack(vector)).decode("ascii") for vector in answer.vectors],
        "u": answer.prompt_tokens,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode_embeddings(data: bytes) -> CachedEmbeddings:
    try:
        document = json.loads(data)
        if document["v"] != EMBEDDING_FORMAT_VERSION:
            raise CorruptAnswer("format version")
        vectors = [_unpack(base64.b64decode(text, validate=True)) for text in document["e"]]
        if not vectors or not all(math.isfinite(value) for v in vectors for value in v):
            raise CorruptAnswer("vectors")
        return CachedEmbeddings(vectors, int(document["u"]))
    except CorruptAnswer:
        raise
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise CorruptAnswer(exc.__class__.__name__) from None


def _pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}d", *vector)


def _unpack(raw: bytes) -> list[float]:
    if len(raw) % 8:
        raise CorruptAnswer("vector length")
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))
