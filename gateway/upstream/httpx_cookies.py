"""httpx's cookie step skipped for a response that sets no cookie.

After every response httpx hands it to the standard library's CookieJar (wrapping the request
and the response in urllib's shapes, parsing the URL again), about 2 % of a request's CPU. The
jar only ever reads a response's Set-Cookie and Set-Cookie2 headers: without them it stores
nothing, so the gateway calls it only when one is there. Cookies a provider does set are kept as
before. Every httpx client in the process gets this (the openai SDK's among them).

tests/test_litellm_reach.py fails loudly if the pinned httpx or the jar changes what this relies on.
"""

from __future__ import annotations

import httpx

COOKIE_HEADERS = ("set-cookie", "set-cookie2")

_httpx_extract_cookies = httpx.Cookies.extract_cookies


def extract_cookies_if_set(self: httpx.Cookies, response: httpx.Response) -> None:
    headers = response.headers
    if any(name in headers for name in COOKIE_HEADERS):
        _httpx_extract_cookies(self, response)


httpx.Cookies.extract_cookies = extract_cookies_if_set  # type: ignore[method-assign]
