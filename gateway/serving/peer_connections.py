"""How many of a worker's connections one client address may hold, and how many of those may
still be sending their request head.

`GATEWAY_MAX_CONNECTIONS` alone let one address take every place: 2,000 half-open connections
from one client made every other connection a 503, `/health` included, until the header
timeout closed them, and again with the next wave. Counted per socket address, a client gets
`max_connections` places at most, and only `max_incomplete_heads` of them before its heads
have arrived; a connection beyond either is closed at once, before it costs a place (nothing
was asked yet, so there is nothing to answer).

A trusted proxy (`gateway.rate_limit.trusted_proxies`) carries many clients on its
connections, so its own are not counted here: the client behind it is only known once a head
with `X-Forwarded-For` has arrived, and its requests are counted then
(gateway.doors.common.client_concurrency).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

log = logging.getLogger("gateway.http")

# Health probes get places of their own beyond the connection cap (GATEWAY_PROBE_CONNECTIONS)
# and are not counted against their client: a full worker must still say that it is alive.
PROBE_PATHS = frozenset({"/health", "/health/ready"})
# The lifespan state key under which the app hands its PeerConnections to the HTTP protocol
# (uvicorn builds the protocol per connection and gives it only that state).
PEER_CONNECTIONS = "gateway.serving.peer_connections"


class PeerFull(Exception):
    """The address has no room for another connection; `reason` names the cap."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Peer:
    connections: int = 0
    incomplete_heads: int = 0
    refusing: bool = False  # said in the log once per wave, not once per connection


class PeerConnections:
    """One worker's connections by client address."""

    def __init__(
        self, max_connections: int, max_incomplete_heads: int, trusts: Callable[[str], bool]
    ) -> None:
        self.max_connections = max_connections
        self.max_incomplete_heads = max_incomplete_heads
        self._trusts = trusts
        self._peers: dict[str, _Peer] = {}

    def open(self, address: str) -> Place:
        """A place for a new connection from `address`, still without its head; PeerFull when
        the address holds as many connections, or as many incomplete heads, as it may."""
        if self._trusts(address):
            return Place(self, None)
        peer = self._peers.setdefault(address, _Peer())
        if peer.incomplete_heads >= self.max_incomplete_heads:
            self._refuse(address, peer, "incomplete_heads")
        if peer.connections >= self.max_connections:
            self._refuse(address, peer, "client_connections")
        peer.refusing = False
        peer.connections += 1
        peer.incomplete_heads += 1
        return Place(self, address)

    def _refuse(self, address: str, peer: _Peer, reason: str) -> NoReturn:
        if not peer.refusing:
            peer.refusing = True
            log.warning(
                "%s holds %d connections (%d still sending their head), the most one client "
                "may: its new connections are closed until it has fewer",
                address,
                peer.connections,
                peer.incomplete_heads,
            )
        raise PeerFull(reason)

    def adjust(self, address: str, connections: int, incomplete_heads: int) -> None:
        """Add to the counts of `address` (a Place's changes)."""
        peer = self._peers[address]
        peer.connections += connections
        peer.incomplete_heads += incomplete_heads
        if peer.connections == 0:
            del self._peers[address]


class Place:
    """One connection's share of its address's counts; a trusted proxy's counts nothing."""

    def __init__(self, peers: PeerConnections, address: str | None) -> None:
        self._peers = peers
        self._address = address
        self._head_incomplete = address is not None
        self._open = address is not None

    def head_started(self) -> None:
        """The first bytes of a keep-alive connection's next request arrived."""
        if self._open and not self._head_incomplete:
            self._head_incomplete = True
            self._change(0, 1)

    def head_done(self) -> None:
        if self._open and self._head_incomplete:
            self._head_incomplete = False
            self._change(0, -1)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._change(-1, -1 if self._head_incomplete else 0)

    def _change(self, connections: int, incomplete_heads: int) -> None:
        assert self._address is not None
        self._peers.adjust(self._address, connections, incomplete_heads)
