"""The one way this gateway opens Redis: short timeouts, and one retry of a dead connection.

`REDIS_URL` takes four forms:

- `redis://[user:password@]host:port[/db]` and `rediss://…` (TLS): one server;
- `redis+sentinel://[user:password@]host:port[,host:port…]/service`: the master that these
  Sentinels name for `service`, followed across failovers;
- `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster, found from
  any of these startup nodes.

The rate limiter reads the same URL through the `limits` library, which knows all four.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
REDIS_SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME, CLUSTER_SCHEME)


@dataclass(frozen=True)
class Topology:
    """A parsed `redis+sentinel://` or `redis+cluster://` URL."""

    scheme: str
    nodes: list[tuple[str, int]]
    service: str | None
    username: str | None
    password: str | None


def topology(url: str) -> Topology | None:
    """The nodes of a Sentinel or Cluster URL; None for a plain `redis://` or `rediss://` one."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in (SENTINEL_SCHEME, CLUSTER_SCHEME):
        return None
    # urlsplit cannot read a comma-separated netloc's ports: split the hosts by hand.
    parts = urlsplit(f"redis://{rest}")
    netloc = parts.netloc
    username = password = None
    if "@" in netloc:
        credentials, _, netloc = netloc.rpartition("@")
        user, has_password, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    default = 26379 if scheme == SENTINEL_SCHEME else 6379
    nodes = [_node(location, default) for location in filter(None, netloc.split(","))]
    if not nodes:
        raise ValueError(f"{scheme}:// names no host")
    service = parts.path.strip("/") or None
    if scheme == SENTINEL_SCHEME and not service:
        raise ValueError("redis+sentinel:// needs the service name: redis+sentinel://h:p/mymaster")
    if scheme == SENTINEL_SCHEME and service and "/" in service:
        # The rate limiter's Sentinel client (the `limits` library) would read `mymaster/2` as
        # the service `mymaster2`: refuse rather than count in another database than the rest.
        raise ValueError("redis+sentinel:// takes no database number: use database 0")
    if scheme == CLUSTER_SCHEME and service:
        raise ValueError("redis+cluster:// takes no path: a Redis Cluster has only database 0")
    return Topology(scheme, nodes, service, username, password)


def check_url(url: str) -> None:
    """ValueError naming what is wrong with `url` in words that never quote its password: a
    scheme none of the clients knows, a port that is no port, a Sentinel URL with no service.

    Checked with the settings, so a bad URL is one line at start, not a traceback from the
    first client that reads it.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in REDIS_SCHEMES:
        raise ValueError(
            f"REDIS_URL must start with one of {', '.join(f'{s}://' for s in REDIS_SCHEMES)}"
            + (f", not {scheme}://" if scheme else "")
        )
    if scheme in ("redis", "rediss"):
        _node(urlsplit(url).netloc.rpartition("@")[2], 6379)
    if scheme in ("redis", "rediss", "unix"):
        from redis.asyncio.connection import parse_url

        parse_url(url)  # what redis-py refuses (`?socket_timeout=x`), named without its value
    topology(url)  # a Sentinel or Cluster URL names its hosts (and Sentinel a service)


def _node(location: str, default_port: int) -> tuple[str, int]:
    """`host[:port]` or `[ipv6][:port]` as (host, port)."""
    if location.startswith("["):
        host, _, rest = location[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = location.rpartition(":") if ":" in location else (location, "", "")
    if not port:
        return host, default_port
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        # The port only: a URL missing its `@` would have the password there.
        raise ValueError(f"REDIS_URL: the port after {host!r} must be a number from 1 to 65535")
    return host, int(port)


def connect(url: str, timeout_seconds: float | None) -> Any:
    """A redis.asyncio client; `timeout_seconds` None for connections that block on purpose
    (pub/sub listeners, XREAD BLOCK), which bound their own waits."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    options: dict[str, Any] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds or 5.0,
        # After a Redis restart (or a failover) every pooled connection is dead, and redis-py's
        # RESP3 pool hands them out unchecked: retry a closed connection once, on a new one, at
        # once. Timeouts are not retried, so a paused or unreachable Redis still fails fast.
        "retry": Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    }
    found = topology(url)
    if found is None:
        return Redis.from_url(url, **options)
    credentials = {"username": found.username, "password": found.password}
    if found.scheme == CLUSTER_SCHEME:
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in found.nodes],
            **credentials,
            **options,
        )
    from redis.asyncio.sentinel import Sentinel

    sentinel = Sentinel(
        found.nodes,
        # Asking the Sentinels where the master is must be bounded too.
        sentinel_kwargs={
            "socket_timeout": options["socket_connect_timeout"],
            "socket_connect_timeout": options["socket_connect_timeout"],
            **credentials,
        },
        **credentials,
        **options,
    )
    client = sentinel.master_for(found.service, redis_class=_SentinelMaster)
    client.sentinel = sentinel
    return client


def _sentinel_master_class() -> type:
    from redis.asyncio import Redis

    class SentinelMaster(Redis):  # type: ignore[misc]
        """The master's client, which also closes its connections to the Sentinels."""

        sentinel: Any = None

        async def aclose(self, close_connection_pool: bool | None = None) -> None:
            await super().aclose(close_connection_pool)
            if self.sentinel is not None:
                for node in self.sentinel.sentinels:
                    await node.aclose()

    return SentinelMaster


_SentinelMaster = _sentinel_master_class()


def describe(exc: BaseException) -> str:
    """What went wrong, without the text: it may carry the URL (and a password in it)."""
    return "timed out" if isinstance(exc, TimeoutError) else exc.__class__.__name__
