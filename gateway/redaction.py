"""Scrubbing secrets out of text that may reach a client or a log.

A provider's error body is the provider's own text: it can quote the gateway's key back in any
spelling (`gateway/secret_spellings.py` lists those caught) and echo request headers such as the
internal Host. Known key values are matched in all those spellings; generic credential shapes
are matched whatever their value. A Redactor is built once per config (its patterns compiled
then), not per error.

Log lines are scrubbed too, by `LOG_SECRETS`: every secret of every config this process has
loaded (the last `_MAX_LOGGED_SECRETS`), in every spelling, and the key shapes. Client text gets
more: echoed headers, `password=…` pairs and partly masked keys are dropped as well.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable

from gateway.secret_spellings import (
    MIN_FOLDED,
    MIN_SECRET,
    exact_spellings,
    fold,
    folded_spellings,
    spelled_spans,
)

MASK = "***"
MAX_MESSAGE = 500
# Raw text looked at for one client message: only its start can be shown, and the per-character
# walk that finds spelled-out keys must stay bounded whatever a provider sends.
_MAX_RAW = 8 * MAX_MESSAGE
_MAX_LOGGED_SECRETS = 256

# Whatever their value: safe to apply to any text, logs included. Each comes with the lower-case
# text it cannot match without, so the regular expression runs only on lines that might hold one.
_KEY_SHAPES: list[tuple[tuple[str, ...], re.Pattern[str], str]] = [
    # Provider key shapes (OpenAI/Anthropic style, Google), in any case.
    (("k-",), re.compile(r"(?i)\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"), MASK),
    (("aiza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), MASK),
    (
        ("bearer", "basic"),
        re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}"),
        rf"\1 {MASK}",
    ),
    # Credentials inside URLs: scheme://user:pass@host, or no user (redis://:pass@host)
    (("://",), re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]*:[^/\s@]+@"), rf"\1{MASK}@"),
]
# For client text only: they would also mask ordinary log lines (`host: …` at start-up).
_CLIENT_PATTERNS: list[tuple[re.Pattern[str], str]] = [
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
]
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.DOTALL)
# LiteLLM appends router bookkeeping that says nothing useful to a frontend user.
_LITELLM_NOISE = re.compile(
    r"(Received Model Group=.*|Available Model Group Fallbacks=.*|LiteLLM Retried:.*"
    r"|Give Feedback / Get Help:.*|LiteLLM\.Info:.*|LiteLLM: model group .*)",
    re.DOTALL,
)


class Redactor:
    """Removes the given secrets (in every spelling) and generic credential shapes from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = {s for s in secrets if s and len(s) >= MIN_SECRET}
        self._folded = _minimal({spelling for s in known for spelling in folded_spellings(s)})
        # Literal forms for what folding misses: short secrets, URL-encoded forms. Longest
        # first, so a key is masked whole before its prefix-less core is tried.
        literal = {
            form
            for s in known
            for form in exact_spellings(s)
            if len(fold(form)) < MIN_FOLDED or "%" in form
        }
        alternatives = "|".join(re.escape(v) for v in sorted(literal, key=len, reverse=True))
        self._literal = re.compile(alternatives, re.IGNORECASE) if alternatives else None

    def holds_secret(self, text: str) -> bool:
        """The quick part of `scrub_secrets`: could it change `text`? (It may say yes wrongly.)"""
        skeleton = fold(text)
        if any(spelling in skeleton for spelling in self._folded):
            return True
        if self._literal is not None and self._literal.search(text):
            return True
        lowered = text.lower()
        for triggers, pattern, _ in _KEY_SHAPES:  # loops, not any(): this runs per log line
            for trigger in triggers:
                if trigger in lowered and pattern.search(text):
                    return True
        return False

    def scrub_secrets(self, text: str) -> str:
        """`text` without the known secrets in any spelling, nor anything shaped like a key."""
        spans = spelled_spans(text, self._folded)
        if spans:
            pieces, at = [], 0
            for start, end in spans:
                pieces += [text[at:start], MASK]
                at = end
            text = "".join(pieces) + text[at:]
        if self._literal is not None:
            text = self._literal.sub(MASK, text)
        lowered = text.lower()
        for triggers, pattern, replacement in _KEY_SHAPES:
            if any(trigger in lowered for trigger in triggers):
                text = pattern.sub(replacement, text)
        return text

    def redact(self, text: str) -> str:
        """For client text: secrets as above, and echoed headers and credentials of any kind."""
        text = self.scrub_secrets(text)
        for pattern, replacement in _CLIENT_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def clean(self, message: str, empty: str = "the provider failed without a message") -> str:
        """Text fit for a client: no tracebacks or LiteLLM noise, redacted, one line, bounded."""
        text = " ".join(_LITELLM_NOISE.sub("", _TRACEBACK.sub("", message)).split())
        text = " ".join(self.redact(text[:_MAX_RAW]).split())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        return text or empty


def _minimal(spellings: set[str]) -> tuple[str, ...]:
    """Spellings that hold no shorter one: finding the shorter finds them (and masks its part)."""
    kept: list[str] = []
    for spelling in sorted(spellings, key=len):
        if not any(shorter in spelling for shorter in kept):
            kept.append(spelling)
    return tuple(kept)


class LoggedSecrets:
    """The secrets of every config this process loaded, for scrubbing log lines.

    A reload keeps the old config's secrets: a request it served may still be logging.
    """

    def __init__(self) -> None:
        self._secrets: dict[str, None] = {}
        self._lock = threading.Lock()
        self.redactor = Redactor()

    def remember(self, secrets: Iterable[str]) -> None:
        with self._lock:
            new = [s for s in secrets if s and s not in self._secrets]
            if not new:
                return
            self._secrets.update(dict.fromkeys(new))
            while len(self._secrets) > _MAX_LOGGED_SECRETS:
                del self._secrets[next(iter(self._secrets))]
            self.redactor = Redactor(self._secrets)

    def scrub(self, texts: list[str]) -> list[str]:
        """The texts of one log line, scrubbed (each one is looked at alone only if needed)."""
        redactor = self.redactor
        if not redactor.holds_secret("\n".join(texts)):
            return texts
        return [redactor.scrub_secrets(text) for text in texts]


LOG_SECRETS = LoggedSecrets()


@functools.lru_cache(maxsize=32)
def redactor_for(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def sanitize(message: str, secrets: Iterable[str] = ()) -> str:
    """Strip secrets, credentials and tracebacks from text that may reach a client or a log."""
    return redactor_for(tuple(secrets)).clean(message)
