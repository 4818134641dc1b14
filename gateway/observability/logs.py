"""Logging set-up: the gateway's own lines at the chosen level, as text or JSON; LiteLLM quiet.

Given to uvicorn as its `log_config`, so every worker process configures itself the same way.
A record may carry `fields` (a dict, as the request log does): JSON lines get them as keys, text
lines as `key=value` pairs (less those named in `fields_in_message`, already in its text).

Clients choose much of what is logged (the path, the model ID, exception messages), so one
record is always one line: text lines write control characters as backslash escapes (`\\n`,
`\\x1b`, `\\u2028`), a field value that could be misread (spaces, quotes, `=`, backslashes,
control characters) as a JSON string with `=` as `\\u003d`, and a traceback as the field
`exception=`. JSON lines escape what JSON itself allows raw (DEL, C1, U+2028/9). Both also
escape Unicode's invisible format characters, the bidirectional controls (U+202E) among them,
which would make a viewer show a line other than it is written.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from gateway.redaction import LOG_SECRETS

# LiteLLM's debug output can carry request payloads and headers; never let it through.
QUIET_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx")

# Unicode's format characters (category Cf, as of Unicode 15.1): invisible, yet they change
# what a viewer shows. The bidirectional controls (U+061C, U+200E/F, U+202A-U+202E,
# U+2066-U+2069) reorder the rest of a line, so `invoice\u202etxt.exe` reads `invoice` +
# `exe.txt`; zero-width ones (U+200B-U+200D, U+2060-U+2064, U+FEFF) and the soft hyphen hide
# inside a word; the tags (U+E0000 block) carry text nobody sees.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
# What a log reader may end a line on, a terminal may act on or a viewer may show other than
# as written: C0 (tab, LF, CR, ESC, the \x1c-\x1e separators), DEL, C1 (NEL \x85, CSI \x9b),
# the Unicode line/paragraph separators and the format characters above.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u2028\u2029" + _FORMAT
_CONTROL = re.compile(f"[{_UNSAFE}]")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# A value written bare is one unambiguous token; anything else is quoted.
_BARE = re.compile(f'[^\\s"=\\\\{_UNSAFE}]+')
# What json.dumps(ensure_ascii=False) leaves raw that a line must not carry (it escapes only
# C0); `=` too in text values, so even a reader that splits on spaces finds no `key=value`
# inside a quoted value.
_JSON_RAW = re.compile(f"[\x7f-\x9f\u2028\u2029{_FORMAT}]")
_JSON_RAW_OR_EQUALS = re.compile(f"[=\x7f-\x9f\u2028\u2029{_FORMAT}]")


def escape(text: str) -> str:
    """`text` with control characters as backslash escapes; the text itself when it has none."""
    return _CONTROL.sub(_backslash_escape, text) if _CONTROL.search(text) else text


def _backslash_escape(match: re.Match[str]) -> str:
    """Python's spelling: `\\n`, `\\x1b`, `\\u202e`, `\\U000e0041`."""
    character = match[0]
    code = ord(character)
    if character in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[character]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# One encoder for every call: json.dumps with options builds a new one each time (per field).
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def text_value(value: Any) -> str:
    """`value` as one token of a text line: bare when unambiguous, else a JSON string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        value = str(value)
    elif not isinstance(value, str):
        value = _to_json(value)
    if _BARE.fullmatch(value):
        return value
    return _JSON_RAW_OR_EQUALS.sub(_unicode_escape, _to_json(value))


def _unicode_escape(match: re.Match[str]) -> str:
    """JSON's spelling: `\\u202e`, and a surrogate pair beyond the BMP."""
    code = ord(match[0])
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class ScrubbedRecord:
    """What a line shows of a record, with every known secret and key shape masked.

    Masked piece by piece, before any escaping or quoting, so a mask never splits an escape.
    """

    def __init__(self, formatter: logging.Formatter, record: logging.LogRecord) -> None:
        fields = dict(getattr(record, "fields", None) or {})
        exception = formatter.formatException(record.exc_info) if record.exc_info else ""
        texts = [record.getMessage(), exception]
        text_keys = [key for key, value in fields.items() if isinstance(value, str)]
        scrubbed = LOG_SECRETS.scrub(texts + [fields[key] for key in text_keys])
        self.message, self.exception = scrubbed[0], scrubbed[1]
        fields.update(zip(text_keys, scrubbed[2:], strict=True))
        self.fields = fields


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        shown = ScrubbedRecord(self, record)
        record.message = shown.message
        record.asctime = self.formatTime(record, self.datefmt)
        line = escape(self.formatMessage(record))
        if shown.fields:
            said = getattr(record, "fields_in_message", ())
            line += " " + " ".join(
                f"{key}={text_value(value)}"
                for key, value in shown.fields.items()
                if value is not None and key not in said
            )
        # A traceback ends in the exception's message, which may quote the client: one field.
        if shown.exception:
            line += " exception=" + text_value(shown.exception)
        if record.stack_info:
            line += " stack=" + text_value(self.formatStack(record.stack_info))
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        shown = ScrubbedRecord(self, record)
        document["message"] = shown.message
        document.update(shown.fields)
        if shown.exception:
            document["exception"] = shown.exception
        line = json.dumps(document, ensure_ascii=False, default=str)
        # Valid JSON may hold these raw, but some readers split lines on them.
        return _JSON_RAW.sub(_unicode_escape, line) if _JSON_RAW.search(line) else line


def logging_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """A dictConfig for the gateway and uvicorn: one handler on stderr, no access log."""
    formatter = (
        "gateway.observability.logs.JsonFormatter"
        if log_format == "json"
        else "gateway.observability.logs.TextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "gateway",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # The gateway's request log replaces uvicorn's access log.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def configure_logging(level: str, log_format: str = "text") -> None:
    import logging.config

    logging.config.dictConfig(logging_config(level, log_format))
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
