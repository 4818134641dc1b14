"""Every spelling of a known secret worth catching, and where such spellings sit in a text.

A provider's error text can quote the gateway's key back in many forms: as sent, upper-cased,
without its `sk-` prefix, URL-encoded, inside an echoed base64 `Authorization` header. Text
also spells it out in ways no list of literal strings can enumerate: a character at a time with
spaces (`s k - l i v e - …`), joined by dots, dashes, zero-width or bidirectional characters,
wrapped over lines, in full-width letters. Those are caught by *folding*: a text's skeleton is
its ASCII letters and digits only, lower-cased, after compatibility decomposition (NFKD, so
`ｓｋ` and `ś` fold to `sk` and `s`). A secret is found wherever one of its folded spellings
occurs in the skeleton with at most `MAX_GAP` other characters between neighbouring letters.

Folded spellings: the secret and its prefix-less core, reversed, as hex (plain, `\\x`, `0x`,
`\\u00` per byte; `%XX` folds to plain hex), as decimal character codes (HTML `&#115;`, byte
arrays) and as base64 at every alignment (line-wrapped base64 too, since `+/-_=` fold away).
Secrets too short to fold safely (under `MIN_FOLDED` letters and digits) are matched literally.
Not covered, on purpose: ciphers (ROT13), hashes, and fragments shorter than `MIN_FOLDED`:
they would mask ordinary text and a fragment gives little away.
"""

from __future__ import annotations

import base64
import itertools
import re
import unicodedata
from urllib.parse import quote

# Shorter known values would match ordinary words; key shapes still catch short keys.
MIN_SECRET = 6
MIN_EXACT = 8
# A folded spelling this long does not occur by chance in text (a random key's letters).
MIN_FOLDED = 12
# Characters allowed between two letters of a spelled-out secret (" - ", a zero-width space, a
# line break and its indent). Only non-alphanumerics can sit there, so this bounds a span's size,
# not the chance of a false match (that takes the key's letters in order, nothing else between).
MAX_GAP = 32

_KEY_PREFIX = re.compile(r"^[A-Za-z]{2,5}[-_](?:(?:proj|ant|api\d*|live|test|or-v1)[-_])*")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_NOT_ALNUM_BYTES = bytes(b for b in range(128) if not chr(b).isalnum())
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def fold(text: str) -> str:
    """`text`'s skeleton: its ASCII letters and digits after NFKD, lower-cased."""
    if text.isascii():  # the common case, in one pass of C
        return text.encode().translate(_LOWER, _NOT_ALNUM_BYTES).decode()
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKD", text)).lower()


def core_of(secret: str) -> str | None:
    """The secret without its vendor prefix (`sk-proj-`, `sk-ant-api03-`), if long enough."""
    core = _KEY_PREFIX.sub("", secret)
    return core if core != secret and len(core) >= MIN_EXACT else None


def exact_spellings(secret: str) -> set[str]:
    """Literal forms, matched case-insensitively: for short secrets and URL-encoded forms."""
    forms = {secret}
    if core := core_of(secret):
        forms.add(core)
    for value in list(forms):
        encoded = quote(value, safe="")
        if encoded != value:
            forms.add(encoded)
        forms.update(base64_pieces(value))
    return {f for f in forms if len(f) >= min(MIN_SECRET, len(secret))}


def folded_spellings(secret: str) -> set[str]:
    """Skeletons of the secret's spellings (see the module's docstring), each long enough."""
    values = [secret]
    if core := core_of(secret):
        values.append(core)
    spellings: set[str] = set()
    for value in values:
        raw = value.encode()
        skeleton = fold(value)
        spellings.update((skeleton, skeleton[::-1], raw.hex()))
        spellings.update("".join(f"{prefix}{byte:02x}" for byte in raw) for prefix in ("x", "0x"))
        spellings.add("".join(f"u{byte:04x}" for byte in raw))
        spellings.add("".join(str(byte) for byte in raw))
        spellings.update(fold(piece) for piece in base64_pieces(value))
    return {s for s in spellings if len(s) >= MIN_FOLDED}


def base64_pieces(value: str) -> set[str]:
    """`value` as it appears inside any base64 text, at each of the three alignments.

    Base64 encodes three bytes at a time, so the same value inside a longer string (an echoed
    `Basic` header, say) encodes differently by its offset; the characters that depend only on
    the value itself are the same for a given offset. Both alphabets are covered.
    """
    pieces = set()
    raw = value.encode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = -(-offset * 4 // 3)  # characters touched by the padding bytes in front
        end = (offset + len(raw)) // 3 * 4  # whole blocks only: the tail depends on what follows
        piece = encoded[start:end]
        if len(piece) >= MIN_EXACT:
            pieces.add(piece)
            pieces.add(piece.replace("+", "-").replace("/", "_"))
    return pieces


def spelled_spans(text: str, spellings: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where in `text` one of the folded `spellings` is written, as merged (start, end) spans.

    The quick test (one fold, a substring search per spelling) runs on every text; the per-
    character walk that maps the skeleton back to positions only when something matched.
    """
    if not spellings:
        return []
    skeleton = fold(text)
    found = [s for s in spellings if s in skeleton]
    if not found:
        return []
    letters, positions = _skeleton_with_positions(text)
    spans: list[tuple[int, int]] = []
    for spelling in found:
        at = letters.find(spelling)
        while at >= 0:
            where = positions[at : at + len(spelling)]
            if all(b - a <= MAX_GAP + 1 for a, b in itertools.pairwise(where)):
                spans.append((where[0], where[-1] + 1))
            at = letters.find(spelling, at + 1)
    return _merged(spans)


def _skeleton_with_positions(text: str) -> tuple[str, list[int]]:
    """The skeleton as `fold` makes it, with the position in `text` of each of its characters."""
    letters: list[str] = []
    positions: list[int] = []
    for index, character in enumerate(text):
        if character in _ALNUM:
            letters.append(character)
            positions.append(index)
        elif not character.isascii():
            for part in unicodedata.normalize("NFKD", character):
                if part in _ALNUM:
                    letters.append(part)
                    positions.append(index)
    return "".join(letters).lower(), positions


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
