"""Error text that reaches a client is scrubbed of secrets, credentials and tracebacks."""

from __future__ import annotations

from gateway.errors import sanitize


def test_provider_key_shapes_are_redacted() -> None:
    text = sanitize(
        "Incorrect API key provided: sk-proj-abcdefghijklmnop1234. AIzaSyA1234567890abcdefghijkl"
    )
    assert "abcdefghijklmnop1234" not in text
    assert "AIzaSyA1234567890" not in text
    assert text.startswith("Incorrect API key provided: ***")


def test_known_secret_values_are_redacted_whatever_their_shape() -> None:
    assert (
        sanitize("failed for token plainvalue42 here", ["plainvalue42"])
        == "failed for token *** here"
    )


def test_credentials_in_urls_and_headers_are_redacted() -> None:
    text = sanitize(
        "POST https://bob:s3cret@proxy.internal/v1 Authorization: Bearer abc.def.ghi api_key=xyz123"
    )
    assert "s3cret" not in text and "bob" not in text
    assert "abc.def.ghi" not in text
    assert "xyz123" not in text
    assert "https://***@proxy.internal/v1" in text


def test_tracebacks_and_litellm_noise_are_dropped() -> None:
    text = sanitize(
        'boom\nTraceback (most recent call last):\n  File "/srv/x.py", line 1\nValueError'
    )
    assert text == "boom"
    assert (
        sanitize("bad thing Received Model Group=chat-model\nAvailable Model Group Fallbacks=None")
        == "bad thing"
    )


def test_long_messages_are_cut_and_empty_ones_explained() -> None:
    assert len(sanitize("x" * 5000)) == 500
    assert sanitize("") == "the provider failed without a message"


KEY = "sk-proj-Upstream0123456789abcdef"


def test_a_known_key_is_redacted_in_every_form_a_provider_quotes_it() -> None:
    import base64
    from urllib.parse import quote

    from gateway.redaction import Redactor

    redactor = Redactor([KEY, "plainpassword99"])
    forms = [
        KEY,
        KEY.upper(),
        KEY.removeprefix("sk-proj-"),
        quote(KEY + "/"),
        base64.b64encode(f"Bearer {KEY}".encode()).decode(),
        base64.b64encode(f"u:{KEY}".encode()).decode(),
        base64.urlsafe_b64encode(f"xx{KEY}".encode()).decode(),
        "PLAINPASSWORD99",
    ]
    for form in forms:
        text = redactor.redact(f"echo [{form}] done")
        assert "0123456789" not in text and "Upstream" not in text.replace("***", ""), form
        assert "plainpassword" not in text.lower(), form
        assert text.startswith("echo [") and text.endswith("] done")


def test_masked_keys_and_echoed_headers_are_dropped() -> None:
    text = sanitize(
        'Incorrect API key provided: sk-upstr**********-123. {"host": "10.0.3.7:8000", '
        '"Authorization": "Bearer abc123def456", "x-api-key": "zzz-9"} Host: llm.internal'
    )
    assert "upstr" not in text and "-123" not in text
    assert "10.0.3.7" not in text and "llm.internal" not in text
    assert "abc123def456" not in text and "zzz-9" not in text
    assert text.startswith("Incorrect API key provided: ***")
