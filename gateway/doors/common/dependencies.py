"""What a door needs, each as a typed FastAPI dependency (`Annotated[..., Depends(...)]`),
computed once per request: FastAPI keeps a dependency's value for the rest of the request.

The engine is leased first, by every door router (DOOR_DEPENDENCIES), before the API key is
even checked; everything that depends on the config (client identity through the trusted
proxies, the rate limits, the chat options, the model map) is taken from that one leased
engine, so a reload that lands at any point of a request changes nothing of it. One
dependency (`_admit`) does all of it and holds the result as an Admission; the others read
their part of it. FastAPI's resolver costs tens of microseconds per dependency per request (6 %
of a non-streamed answer's CPU with a chain of nine), so the chat path has one. The lease is
a request-scoped `yield` dependency: FastAPI ends it after the response is sent, a streamed
body included (FastAPI 0.165 runs a request-scoped dependency's exit after `response(...)`).
An answer that goes on without its connection (a stored chat's) holds the engine itself
(gateway/doors/common/answering.py).

Nothing here reads the framework's `app.state`: the app carries a typed Runtime
(gateway/runtime.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import ApiKey
from gateway.chats.store import ChatStore
from gateway.config import ChatOptions
from gateway.doors.common.admission import authenticate, client_identity
from gateway.engine import Engine
from gateway.limits.rate_limits import ChatRateLimiter
from gateway.runtime import Runtime
from gateway.serving.lifecycle import Drain
from gateway.settings import Settings

# Every dependency is `async def`: FastAPI runs a plain `def` one in a worker thread.


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.runtime  # a GatewayApp's (gateway/runtime.py)
    return runtime


async def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


async def _settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


AppSettings = Annotated[Settings, Depends(_settings)]


@dataclass(frozen=True)
class Admission:
    """Everything a door takes from its request, from one leased engine."""

    engine: Engine
    key: ApiKey | None  # None when the gateway runs without keys
    client: str  # its key's tenant, or its IP (behind the config's trusted proxies)
    limiter: ChatRateLimiter  # the leased config's rate limits, over the shared counts
    settings: Settings
    drain: Drain


async def _admit(request: Request) -> AsyncIterator[Admission]:
    """Lease the engine, then check the key (401 when it is wrong) and say whose request it is."""
    runtime = runtime_of(request)
    lease = runtime.live.lease()
    try:
        engine = lease.engine
        key = authenticate(request, runtime.keys)
        limits = engine.config.options.rate_limit
        client = client_identity(request, key, limits.trusts)
        limiter = runtime.rate_limits.limiter(limits)
        yield Admission(engine, key, client, limiter, runtime.settings, runtime.drain)
    finally:
        lease.release()


# scope="request" (FastAPI's default for `yield`, said here because the lease depends on it):
# the hold ends after the response is sent, not when the route function returns.
_ADMISSION = Depends(_admit, scope="request")
AdmissionDep = Annotated[Admission, _ADMISSION]

# A door router's dependencies: the admission (the lease first, then the key) before anything.
DOOR_DEPENDENCIES = [_ADMISSION]


async def _leased_engine(request: Request) -> AsyncIterator[Engine]:
    """The engine alone, for a route outside the doors that checks no key (/health/ready)."""
    lease = runtime_of(request).live.lease()
    try:
        yield lease.engine
    finally:
        lease.release()


LeasedEngine = Annotated[Engine, Depends(_leased_engine, scope="request")]


async def _api_key(admission: AdmissionDep) -> ApiKey | None:
    return admission.key


RequestKey = Annotated[ApiKey | None, Depends(_api_key)]


async def _client_identity(admission: AdmissionDep) -> str:
    return admission.client


ClientIdentity = Annotated[str, Depends(_client_identity)]


async def _chat_store(request: Request) -> ChatStore:
    return runtime_of(request).chats.store


# Where chats and stored responses are kept (the frontend door's chat service: ChatsDep).
ChatStoreDep = Annotated[ChatStore, Depends(_chat_store)]


async def _chat_options(admission: AdmissionDep) -> ChatOptions:
    return admission.engine.config.options.chats


ChatOptionsDep = Annotated[ChatOptions, Depends(_chat_options)]


async def _drain(request: Request) -> Drain:
    return runtime_of(request).drain


DrainDep = Annotated[Drain, Depends(_drain)]
