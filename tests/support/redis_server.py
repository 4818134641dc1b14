"""A real redis-server on a free loopback port, owned by the test session (never 6379)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import redis

from tests.support.serving import free_socket


def server_command(binary: str, port: str, directory: str, extra: list[str]) -> list[str]:
    """A foreground redis-server on loopback that keeps nothing on disk."""
    return [
        binary,
        *("--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        *("--dir", directory, "--daemonize", "no"),
        *extra,
    ]


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
            server_command(self._binary, str(self.port), self._dir, self._extra),
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


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate it signed, for 127.0.0.1 (PEM files)."""

    ca_cert: str
    server_cert: str
    server_key: str


def make_tls_files(directory: str, name: str = "gateway-test") -> TlsFiles:
    """Write a new CA (`ca.pem`) and a server certificate and key for IP:127.0.0.1 it signed.

    Each call makes a different CA: one call's CA does not verify another call's server.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    os.makedirs(directory, exist_ok=True)
    files = TlsFiles(
        ca_cert=os.path.join(directory, "ca.pem"),
        server_cert=os.path.join(directory, "server.pem"),
        server_key=os.path.join(directory, "server.key"),
    )
    with open(files.ca_cert, "wb") as f:
        f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(files.server_cert, "wb") as f:
        f.write(server_cert.public_bytes(serialization.Encoding.PEM))
    with open(files.server_key, "wb") as f:
        f.write(
            server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    os.chmod(files.server_key, 0o600)
    return files


class RedisTlsServer(RedisServer):
    """A redis-server that speaks TLS only (`--port 0`): a CA of its own signs its certificate.

    `password`: also `--requirepass`. Clients do not have to present a certificate.
    """

    def __init__(self, password: str | None = None) -> None:
        super().__init__()
        self.password = password
        self.tls = make_tls_files(os.path.join(self._dir, "tls"))
        self._extra = [
            "--tls-port",
            str(self.port),
            "--tls-cert-file",
            self.tls.server_cert,
            "--tls-key-file",
            self.tls.server_key,
            "--tls-ca-cert-file",
            self.tls.ca_cert,
            "--tls-auth-clients",
            "no",
        ]
        if password is not None:
            self._extra += ["--requirepass", password]

    @property
    def url(self) -> str:
        """rediss:// with this server's CA (and password): what both redis-py and `limits` read."""
        credentials = f":{quote(self.password, safe='')}@" if self.password else ""
        return (
            f"rediss://{credentials}127.0.0.1:{self.port}/0"
            f"?ssl_cert_reqs=required&ssl_ca_certs={quote(self.tls.ca_cert, safe='')}"
        )

    def client(self) -> redis.Redis:
        """A redis-py client that verifies this server's certificate against its CA."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            ssl=True,
            ssl_ca_certs=self.tls.ca_cert,
            ssl_cert_reqs="required",
            socket_timeout=2,
            socket_connect_timeout=2,
        )

    def start(self) -> RedisTlsServer:
        log_path = os.path.join(self._dir, "redis-tls.log")
        with open(log_path, "wb") as log:
            self._process = subprocess.Popen(
                # Port 0: no plain-text port, TLS only.
                server_command(self._binary, "0", self._dir, self._extra),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = self.client()
        try:
            _wait(lambda: bool(client.ping()), "redis-server (TLS) to answer PING", timeout=5)
        except RuntimeError:
            # A redis-server built without TLS refuses `--tls-port`: say so, from its own log.
            with open(log_path, encoding="utf-8", errors="replace") as log:
                said = log.read()[-500:]
            self.stop()
            raise RuntimeError(f"redis-server with TLS did not start: {said}") from None
        finally:
            client.close()
        return self
