"""A real redis-server on a free loopback port, owned by the test session (never 6379)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable

import redis

from tests.serving import free_socket


class RedisServer:
    def __init__(self, *extra: str) -> None:
        """`extra`: more redis-server arguments, e.g. "--cluster-enabled", "yes"."""
        self._extra = list(extra)
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self._binary = binary
        self._dir = tempfile.mkdtemp(prefix="gateway-redis-")
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                "--daemonize",
                "no",
                *self._extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(250):
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
            self._process = None

    def restart(self) -> RedisServer:
        """A new redis-server process on the same port: clients' pooled connections are dead."""
        self.stop()
        return self.start()


def _free_port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _wait(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RedisClusterServers:
    """A Redis Cluster of `masters` redis-servers (no replicas) on free loopback ports."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [
            RedisServer("--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
            for _ in range(masters)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterServers:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                shutil.which("redis-cli") or "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        clients = [redis.Redis(port=n.port, socket_timeout=1) for n in self.nodes]

        def ready() -> bool:
            infos = [c.execute_command("CLUSTER", "INFO") for c in clients]
            return all(b"cluster_state:ok" in _raw(i) for i in infos)

        _wait(ready, "cluster_state:ok")
        for client in clients:
            client.close()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class RedisSentinels:
    """A master, one replica and `sentinels` Sentinels watching them as `service`."""

    def __init__(self, sentinels: int = 3, service: str = "mymaster") -> None:
        self.service = service
        self.master = RedisServer()
        self.replica = RedisServer()
        self._binary = self.master._binary
        self._dir = tempfile.mkdtemp(prefix="gateway-sentinel-")
        self.sentinel_ports = [_free_port() for _ in range(sentinels)]
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self) -> RedisSentinels:
        self.master.start()
        self.replica._extra = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica.start()
        replica = redis.Redis(port=self.replica.port, socket_timeout=1)
        _wait(lambda: replica.info("replication")["master_link_status"] == "up", "replication")
        replica.close()
        quorum = len(self.sentinel_ports) // 2 + 1
        for port in self.sentinel_ports:
            conf = os.path.join(self._dir, f"sentinel-{port}.conf")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(
                    f"port {port}\nbind 127.0.0.1\ndir {self._dir}\n"
                    f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} {quorum}\n"
                    f"sentinel down-after-milliseconds {self.service} 1000\n"
                    f"sentinel failover-timeout {self.service} 5000\n"
                    f"sentinel parallel-syncs {self.service} 1\n"
                )
            self._sentinels.append(
                subprocess.Popen(
                    [self._binary, conf, "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in self.sentinel_ports:
            sentinel = redis.Redis(port=port, socket_timeout=1)

            def knows_all(sentinel: redis.Redis = sentinel) -> bool:
                master = sentinel.sentinel_master(self.service)
                # Every Sentinel must see the others and the replica before a failover works.
                return bool(
                    master["num-other-sentinels"] >= len(self.sentinel_ports) - 1
                    and master["num-slaves"] >= 1
                )

            _wait(knows_all, "the Sentinels to find each other", timeout=20)
            sentinel.close()
        return self

    def master_port(self) -> int:
        """The port the Sentinels now name as the master."""
        sentinel = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
        try:
            _, port = sentinel.sentinel_get_master_addr_by_name(self.service)
            return int(port)
        finally:
            sentinel.close()

    def stop(self) -> None:
        for process in self._sentinels:
            process.terminate()
        for process in self._sentinels:
            process.wait(5)
        self._sentinels.clear()
        self.replica.stop()
        self.master.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def _raw(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
