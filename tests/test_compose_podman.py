"""compose.yaml started for real with podman-compose: two gateway replicas behind nginx, sharing
one rate limit through Redis on the compose network (issue 20).

tests/test_compose.py checks the file's wiring without an engine. This runs it, for what only a
running stack shows: nginx finds both replicas through the engine's DNS (with the resolver its
template is given at start), requests on the published port reach them in turn, a stream passes
through whole, and both replicas count one client's requests in the one Redis, so
the limit holds whichever replica is asked. No Docker engine or registry is here: podman-compose
runs the file unchanged on podman, over the stand-in base images of `scripts/container-standins`.

Only redis, gateway and nginx are started: nothing provides the Prometheus and Grafana images
here (tests/test_dashboard.py checks what the dashboard queries against the gateway itself).
The client traffic goes to 127.0.0.1 only, the published port.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import yaml
from limits import parse

from gateway.catalog import GATEWAY_CATALOG
from gateway.config import load_config
from tests.support.podman import (
    NGINX_BASE,
    PYTHON_BASE,
    REDIS_BASE,
    ROOT,
    podman,
    podman_env,
    require_images,
)
from tests.support.processes import free_port
from tests.support.wire import parse_lines

pytestmark = pytest.mark.container

COMPOSE = ROOT / "compose.yaml"
COMPOSE_CONFIG = ROOT / "deploy" / "litellm_config.compose.yaml"
# What nginx needs, named one by one: podman-compose 1.6 starts the dependencies of `up nginx`
# but builds only the services named, so the gateway image would never be built.
SERVICES = ("redis", "gateway", "nginx")
# Two keys, so each test counts against a limit of its own whatever order they run in.
LIMITED_KEY = "sk-compose-limited-0123456789abcdef"
STREAM_KEY = "sk-compose-stream-0123456789abcdefg"
# Start-up of both replicas (LiteLLM's import alone takes seconds on a busy machine).
START_TIMEOUT = 180.0
LOG_TIMEOUT = 15.0
# nginx's access-log format (deploy/nginx.conf.template, log_format gateway): the status, the
# replica(s) tried (`a, b` when the first refused), and the request ID sent to it.
ACCESS_LINE = re.compile(
    r'" (?P<status>\d{3}) .* upstream=(?P<upstream>.+) request_id=(?P<id>\S+)$'
)


def answered_by(access: re.Match[str]) -> str:
    """The address of the replica that answered: the last one nginx tried."""
    return access["upstream"].split(", ")[-1].rsplit(":", 1)[0]


def podman_compose_binary() -> str | None:
    """podman-compose from this venv (the dev lock pins it) or from PATH."""
    search = [os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)]
    return shutil.which("podman-compose", path=os.pathsep.join(search))


@dataclass
class Stack:
    """One `podman-compose up` of compose.yaml under a project name of its own."""

    binary: str
    project: str = field(default_factory=lambda: f"gwcompose{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        # What compose interpolates: set here, so neither the caller's shell nor a `.env` next to
        # compose.yaml changes what is tested.
        return {
            **podman_env(),
            "GATEWAY_PUBLISH_HOST": "127.0.0.1",
            "GATEWAY_PUBLISH_PORT": str(self.port),
            "GATEWAY_API_KEYS": f"limited:{LIMITED_KEY},stream:{STREAM_KEY}",
            "GATEWAY_REQUIRE_AUTH": "true",
            "GATEWAY_LOG_FORMAT": "json",
            # podman builds the OCI format by default, which has no HEALTHCHECK; the image's is
            # what the replicas' health is (compose.yaml keeps it).
            "BUILDAH_FORMAT": "docker",
        }

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-p", self.project, "-f", str(COMPOSE), *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def containers(self) -> dict[str, list[str]]:
        """Service name -> its containers' names, replicas in order."""
        listed = podman(
            "ps", "-a", "--format", "json",
            "--filter", f"label=io.podman.compose.project={self.project}",
        ).stdout  # fmt: skip
        by_service: dict[str, list[str]] = {}
        for item in json.loads(listed or "[]"):
            service = item["Labels"]["com.docker.compose.service"]
            by_service.setdefault(service, []).extend(item["Names"])
        return {service: sorted(names) for service, names in by_service.items()}

    def address(self, container: str) -> str:
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return podman("inspect", "--format", template, container).stdout.strip()

    def logs(self, container: str) -> str:
        result = podman("logs", container, check=False)
        return result.stdout + result.stderr

    def down(self) -> None:
        self.compose("down", "-v", "-t", "10", timeout=300)
        # Whatever `down` did not know of (a half-failed `up`), found by the project's label.
        label = f"label=io.podman.compose.project={self.project}"
        left = podman("ps", "-aq", "--filter", label, check=False).stdout.split()
        if left:
            podman("rm", "--force", "--time", "0", *left, check=False)
        podman("pod", "rm", "--ignore", "--force", f"pod_{self.project}", check=False)
        for network in podman("network", "ls", "-q", "--filter", label, check=False).stdout.split():
            podman("network", "rm", network, check=False)
        # Untag, not `rmi --force`: the build shares its layers (maybe its very image ID) with
        # other tags of the same Dockerfile; podman deletes the image once no name is left.
        podman("rmi", f"localhost/{self.project}_gateway:latest", check=False)


@dataclass
class Stacked:
    """The running stack, as the tests see it."""

    stack: Stack
    replicas: dict[str, str]  # replica address on the compose network -> container name
    nginx: str

    def replica_of(self, request_ids: list[str]) -> dict[str, str]:
        """Which replica answered each request, from nginx's access log (`upstream=`)."""
        found: dict[str, str] = {}
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:  # a line is written once its response ends: wait for the last ones
            for line in self.stack.logs(self.nginx).splitlines():
                match = ACCESS_LINE.search(line)
                if match and match["id"] in request_ids:
                    found[match["id"]] = self.replicas.get(answered_by(match), answered_by(match))
            if len(found) == len(set(request_ids)) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


def wait_for(what: str, ready: Callable[[], bool], diagnose: Callable[[], str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {START_TIMEOUT:.0f} s:\n{diagnose()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stacked() -> Iterator[Stacked]:
    require_images(PYTHON_BASE, REDIS_BASE, NGINX_BASE)
    binary = podman_compose_binary()
    if binary is None:
        pytest.skip("podman-compose is not installed (requirements-dev.lock pins it)")
    # compose.yaml fixes its subnet (trusted_proxies names it), so one stack at a time.
    ipam = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["networks"]["default"]["ipam"]
    wanted = {entry["subnet"] for entry in ipam["config"]}
    for network in json.loads(podman("network", "ls", "--format", "json").stdout or "[]"):
        taken = wanted & {entry["subnet"] for entry in network.get("subnets") or []}
        if taken:
            pytest.fail(
                f"podman network {network['name']} already uses {', '.join(taken)}: is the compose"
                " stack up? (`podman-compose down`)"
            )
    stack = Stack(binary)
    try:
        up = stack.compose("up", "-d", *SERVICES)
        # podman-compose goes on past a failed `podman create`, so its exit code is not enough.
        output = f"podman-compose up exited {up.returncode}:\n{up.stdout}\n{up.stderr}"
        containers = stack.containers()
        gateways, nginx = containers.get("gateway", []), containers.get("nginx", [])
        assert len(gateways) == 2 and len(nginx) == 1 and containers.get("redis"), output
        stacked = Stacked(stack, {stack.address(name): name for name in gateways}, nginx[0])

        def diagnose() -> str:
            return "\n".join(
                [output, *(f"--- {n}:\n{stack.logs(n)[-3000:]}" for n in [*gateways, *nginx])]
            )

        # What `depends_on: condition: service_healthy` waits for under Docker; podman-compose
        # ignores it on podman < 4.6, and without systemd nothing runs the checks by itself.
        for name in gateways:
            wait_for(
                f"{name} did not become healthy",
                lambda name=name: podman("healthcheck", "run", name, check=False).returncode == 0,
                diagnose,
            )
        # nginx sets a replica aside for 10 s after a refused connection (it may have started
        # first): wait until both answer through it.
        probes: list[str] = []

        def both_answer() -> bool:
            probes.append(uuid.uuid4().hex)
            try:
                httpx.get(f"{stack.url}/health", headers={"x-request-id": probes[-1]}, timeout=5)
            except httpx.HTTPError:
                return False
            lines = [ACCESS_LINE.search(line) for line in stack.logs(nginx[0]).splitlines()]
            answered = {answered_by(m) for m in lines if m and m["status"] == "200"}
            return set(stacked.replicas) <= answered

        wait_for("nginx did not reach both replicas", both_answer, diagnose)
        yield stacked
    finally:
        stack.down()


def chat(stacked: Stacked, key: str, *, stream: bool) -> tuple[httpx.Response, str]:
    request_id = uuid.uuid4().hex
    response = httpx.post(
        f"{stacked.stack.url}/api/chat",
        json={
            "model": "chat-model",
            "messages": [{"role": "user", "content": "hello through nginx"}],
            "stream": stream,
        },
        headers={"authorization": f"Bearer {key}", "x-request-id": request_id},
        timeout=60,
    )
    return response, request_id


def test_nginx_runs_the_rendered_template_with_the_engines_dns(stacked: Stacked) -> None:
    rendered = podman("exec", stacked.nginx, "cat", "/etc/nginx/nginx.conf").stdout
    assert "${" not in rendered, "a variable of the template was left as it is"
    (resolver,) = re.findall(r"^\s*resolver\s+([^;]*);", rendered, re.MULTILINE)
    # aardvark-dns, on the network's gateway address: the one server that knows `gateway`.
    network = podman("network", "inspect", f"{stacked.stack.project}_default").stdout
    (subnet,) = json.loads(network)[0]["subnets"]
    assert resolver.split()[0] == subnet["gateway"]
    assert [word for word in resolver.split() if not re.match(r"\w+=", word)] == [subnet["gateway"]]
    # nginx's own $variables came through the template untouched.
    assert "upstream=$upstream_addr" in rendered
    check = podman("exec", stacked.nginx, "nginx", "-t", check=False)
    assert check.returncode == 0, check.stderr


def test_a_stream_through_nginx_arrives_whole(stacked: Stacked) -> None:
    response, _ = chat(stacked, STREAM_KEY, stream=True)
    assert response.status_code == 200, response.text
    assert response.headers["server"] == "nginx"
    # Passed on, so a further proxy in front does not buffer it either.
    assert response.headers.get("x-accel-buffering") == "no"
    parts = parse_lines(response.text)
    assert parts[-1][0] == "d", parts[-1]
    assert parts[-1][1]["finishReason"] == "stop", parts[-1]
    text = "".join(payload["textDelta"] for code, payload in parts if code == "0")
    assert "hello through nginx" in text


def test_both_replicas_share_one_rate_limit(stacked: Stacked) -> None:
    limit = parse(load_config(COMPOSE_CONFIG, GATEWAY_CATALOG).options.rate_limit.default or "")
    everyone = set(stacked.replicas.values())
    answers: list[tuple[httpx.Response, str]] = []
    while len(answers) <= limit.amount:  # until the first refusal
        answers.append(chat(stacked, LIMITED_KEY, stream=False))
        if answers[-1][0].status_code != 200:
            break
    # Then until each replica has refused once (nginx takes them in turn: one more, normally).
    refused_by: set[str] = set()
    while answers[-1][0].status_code == 429 and refused_by != everyone and len(answers) < 80:
        refused_by.add(stacked.replica_of([answers[-1][1]]).get(answers[-1][1], "?"))
        if refused_by != everyone:
            answers.append(chat(stacked, LIMITED_KEY, stream=False))
    statuses = [response.status_code for response, _ in answers]
    refusals = len(answers) - limit.amount
    assert statuses == [200] * limit.amount + [429] * refusals, statuses
    assert refused_by == everyone, f"refused only by {refused_by}"

    served = stacked.replica_of([request_id for _, request_id in answers])
    replicas = [served.get(request_id) for _, request_id in answers]
    assert set(replicas[: limit.amount]) == everyone, replicas
    # One count for both: each answer, whichever replica gave it, has one request fewer left.
    # Counted per replica instead, answers in turn would count down half as fast (59, 59, 58…).
    remaining = [int(response.headers["x-ratelimit-remaining"]) for response, _ in answers]
    expected = [*range(limit.amount - 1, -1, -1), *[0] * refusals]
    assert remaining == expected, list(zip(replicas, remaining, strict=True))
    for response, _ in answers:
        assert response.headers["x-ratelimit-limit"] == str(limit.amount)
    for response, _ in answers[limit.amount :]:
        assert response.json()["error"]["type"] == "rate_limited", response.text
        assert 1 <= int(response.headers["retry-after"]) <= limit.get_expiry()
