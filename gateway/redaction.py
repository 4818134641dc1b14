"""Scrubbing secrets out of text that may reach a client or a log.

A provider's error body is the provider's own text: it can quote the gateway's key back in any
form (upper-cased, base64 in an echoed Authorization header, without its `sk-` prefix, partly
masked) and echo request headers such as the internal Host. Known key values are matched in all
those forms; generic credential shapes are matched whatever their value. A Redactor is built
once per config (its patterns compiled then), not per error.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
MAX_MESSAGE = 500
# Shorter known values would match ordinary words; key shapes below still catch short keys.
_MIN_SECRET = 6
_MIN_VARIANT = 8

_GENERIC_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Provider key shapes (OpenAI/Anthropic style, Google), in any case.
    (re.compile(r"(?i)\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}"), rf"\1 {MASK}"),
    # A partly masked key (`sk-upstr**********-123`) still gives away its ends.
    (re.compile(r"[A-Za-z0-9_\-.]*(?:\*{3,}|•{3,})[A-Za-z0-9_\-.]*"), MASK),
    (
        re.compile(r"(?i)\b((?:api[_-]?key|token|secret|password)\s*[=:]\s*)['\"]?[^\s'\",}&]+"),
        rf"\1{MASK}",
    ),
    # Echoed request headers: who we are and where we run is nobody's business.
    (
        re.compile(
            r"(?i)([\"']?)\b(host|authorization|proxy-authorization|x-api-key|api-key|cookie"
            r"|set-cookie|x-forwarded-for|x-forwarded-host|x-real-ip|forwarded)\1\s*[:=]\s*"
            r"(?:\"[^\"]*\"|'[^']*'|[^\s,;}\]]+)"
        ),
        rf"\1\2\1: {MASK}",
    ),
    # Credentials inside URLs: scheme://user:pass@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@"), rf"\1{MASK}@"),
]
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.DOTALL)
# LiteLLM appends router bookkeeping that says nothing useful to a frontend user.
_LITELLM_NOISE = re.compile(
    r"(Received Model Group=.*|Available Model Group Fallbacks=.*|LiteLLM Retried:.*"
    r"|Give Feedback / Get Help:.*|LiteLLM\.Info:.*|LiteLLM: model group .*)",
    re.DOTALL,
)
_KEY_PREFIX = re.compile(r"^[A-Za-z]{2,5}[-_](?:(?:proj|ant|api\d*|live|test|or-v1)[-_])*")


def secret_variants(secret: str) -> set[str]:
    """The forms a key takes when a provider quotes it back (matched case-insensitively)."""
    variants = {secret}
    core = _KEY_PREFIX.sub("", secret)
    if len(core) >= _MIN_VARIANT:
        variants.add(core)
    for value in list(variants):
        encoded = quote(value, safe="")
        if encoded != value:
            variants.add(encoded)
        variants.update(_base64_forms(value))
    return {v for v in variants if len(v) >= min(_MIN_SECRET, len(secret))}


def _base64_forms(value: str) -> set[str]:
    """`value` as it appears inside any base64 text, at each of the three alignments.

    Base64 encodes three bytes at a time, so the same value inside a longer string (an echoed
    `Basic` header, say) encodes differently by its offset; the characters that depend only on
    the value itself are the same for a given offset. Both alphabets are covered.
    """
    forms = set()
    raw = value.encode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = -(-offset * 4 // 3)  # characters touched by the padding bytes in front
        end = (offset + len(raw)) // 3 * 4  # whole blocks only: the tail depends on what follows
        piece = encoded[start:end]
        if len(piece) >= _MIN_VARIANT:
            forms.add(piece)
            forms.add(piece.replace("+", "-").replace("/", "_"))
    return forms


class Redactor:
    """Removes the given secrets (in every form) and generic credential shapes from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants = {
            variant
            for secret in secrets
            if secret and len(secret) >= _MIN_SECRET
            for variant in secret_variants(secret)
        }
        # Longest first, so a key is masked whole before its prefix-less core is tried.
        alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
        self._known = re.compile(alternatives, re.IGNORECASE) if alternatives else None

    def redact(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(MASK, text)
        for pattern, replacement in _GENERIC_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def clean(self, message: str, empty: str = "the provider failed without a message") -> str:
        """Text fit for a client: no tracebacks or LiteLLM noise, redacted, one line, bounded."""
        text = _LITELLM_NOISE.sub("", _TRACEBACK.sub("", message))
        text = " ".join(self.redact(text).split())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        return text or empty


@functools.lru_cache(maxsize=32)
def redactor_for(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def sanitize(message: str, secrets: Iterable[str] = ()) -> str:
    """Strip secrets, credentials and tracebacks from text that may reach a client or a log."""
    return redactor_for(tuple(secrets)).clean(message)
