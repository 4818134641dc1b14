"""compose.yaml and its deploy/ files, checked without Docker.

No Docker engine (nor the compose plugin) runs where this is developed, so the stack is not
started here (tests/test_compose_podman.py starts it with podman-compose where podman is). Instead:
compose.yaml is parsed and its wiring asserted (against the Dockerfile and
deploy/nginx.conf.template, not restated values), the replicas' config goes through the
gateway's own loader, and the nginx config, rendered from its template as the nginx image's
entrypoint does under Docker, is parsed for the directives streaming needs and, when an nginx
1.27.3+ binary is on PATH, checked by `nginx -t`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.catalog import GATEWAY_CATALOG
from gateway.config import GatewayConfig, load_config
from gateway.settings import Settings
from tests.support.dockerfile import args_of, dockerfile_env

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
# Docker's embedded DNS: what the nginx image's entrypoint finds in /etc/resolv.conf there.
DOCKER_DNS = "127.0.0.11"
PROMETHEUS_CONF = ROOT / "deploy" / "prometheus.yml"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "llm-gateway.json"
COMPOSE_CONFIG = ROOT / "deploy" / "litellm_config.compose.yaml"
# `server NAME resolve` in an upstream block is in open-source nginx from this release on.
NGINX_RESOLVE_SINCE = (1, 27, 3)

# --- compose.yaml -------------------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?-)?(?P<default>[^}]*)\})"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}` and `$$`, over a whole tree."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name is None:
            return "$"
        if match["op"] is None:
            assert not match["default"], f"unsupported interpolation {match[0]!r}"
            return env.get(name, "")
        if match["op"] == ":-":
            return env.get(name) or match["default"]
        return env.get(name, match["default"])

    return _VARIABLE.sub(replace, value)


def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml as `docker compose up` sees it with no variables set: every default."""
    return interpolate(raw_compose(), {})


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def service_named(services: dict[str, dict[str, Any]], image_prefix: str) -> str:
    (name,) = [n for n, s in services.items() if str(s.get("image", "")).startswith(image_prefix)]
    return name


def gateway_service(services: dict[str, dict[str, Any]]) -> str:
    """The service built from the repository's Dockerfile."""
    built = [name for name, service in services.items() if "build" in service]
    assert len(built) == 1, f"expected one service built from the repo, got {built}"
    return built[0]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # `- KEY=value` form
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):  # short form: started, not healthy
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes in the long form, whichever form the file uses."""
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *rest = volume.split(":")
            options = rest[0].split(",") if rest else []
            volume = {"source": source, "target": target, "read_only": "ro" in options}
        result.append(volume)
    return result


def mount_at(service: dict[str, Any], target: str) -> dict[str, Any]:
    found = [m for m in mounts(service) if PurePosixPath(m["target"]) == PurePosixPath(target)]
    assert len(found) == 1, f"expected one mount at {target}, got {mounts(service)}"
    return found[0]


def duration_seconds(text: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(text))
    assert parts and "".join(n + u for n, u in parts) == str(text), f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def test_redis_service_is_redis_7_with_a_ping_health_check(
    services: dict[str, dict[str, Any]],
) -> None:
    redis = services[service_named(services, "redis:")]
    assert str(redis["image"]).split(":", 1)[1].startswith("7"), redis["image"]
    test = redis["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert "redis-cli" in " ".join(test[1:]) and "ping" in " ".join(test[1:])
    assert "ports" not in redis, "Redis must not be published on the host"


def test_gateway_is_built_from_the_dockerfile_as_two_replicas(
    services: dict[str, dict[str, Any]],
) -> None:
    gateway = services[gateway_service(services)]
    build = gateway["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (COMPOSE.parent / context).resolve() == ROOT
    assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile"
    assert gateway["deploy"]["replicas"] == 2
    # Compose's default, written out: podman-compose counts `replicas` only then.
    assert gateway["deploy"]["mode"] == "replicated"
    # Replicas need no fixed host port (two would collide) and no fixed container name.
    assert "ports" not in gateway
    assert "container_name" not in gateway


def test_gateway_uses_the_redis_service_and_waits_for_it(
    services: dict[str, dict[str, Any]],
) -> None:
    redis_name = service_named(services, "redis:")
    gateway = services[gateway_service(services)]
    url = urlsplit(environment(gateway)["REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname == redis_name
    assert (url.port or 6379) == 6379
    assert depends_on(gateway)[redis_name]["condition"] == "service_healthy"


def test_gateway_listens_on_all_interfaces_and_outlasts_its_drain(
    services: dict[str, dict[str, Any]],
) -> None:
    gateway = services[gateway_service(services)]
    env = {**dockerfile_env(), **environment(gateway)}
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    # `gateway serve` drains streams for up to 30 s on SIGTERM; Docker must not SIGKILL sooner.
    assert duration_seconds(gateway["stop_grace_period"]) > 30
    # The image's HEALTHCHECK is kept (only its timing may change here).
    assert args_of("HEALTHCHECK"), "the Dockerfile has no HEALTHCHECK"
    check = gateway.get("healthcheck", {})
    assert not check.get("disable")
    assert "test" not in check or "/health" in " ".join(check["test"])
    # podman before 4.6 has no start-up interval, and podman-compose passes it on regardless:
    # no replica would be created.
    assert "start_interval" not in check


def test_gateway_config_is_mounted_read_only_where_gateway_config_points(
    services: dict[str, dict[str, Any]],
) -> None:
    gateway = services[gateway_service(services)]
    config_path = {**dockerfile_env(), **environment(gateway)}["GATEWAY_CONFIG"]
    mount = mount_at(gateway, config_path)
    assert (COMPOSE.parent / mount["source"]).resolve() == COMPOSE_CONFIG
    assert mount.get("read_only") is True


def test_no_secret_is_baked_into_compose(services: dict[str, dict[str, Any]]) -> None:
    raw = raw_compose()["services"]
    secret_like = re.compile(r"KEY|SECRET|TOKEN|PASSWORD")
    checked = 0
    for name, service in raw.items():
        for var, value in environment(service).items():
            if not secret_like.search(var):
                continue
            checked += 1
            # Taken from the operator's shell or .env, empty when unset.
            assert value == f"${{{var}:-}}", f"{name}.{var} must be ${{{var}:-}}, not {value!r}"
    assert checked, "no key variables are passed to any service"
    gateway = services[gateway_service(services)]
    assert environment(gateway)["GATEWAY_API_KEYS"] == ""
    # An empty default must still parse, or the replicas would not start.
    Settings(_env_file=None, **_settings_fields(environment(gateway)))


def _settings_fields(env: dict[str, str]) -> dict[str, str]:
    fields = Settings.model_fields
    return {
        name[len("GATEWAY_") :].lower(): value
        for name, value in env.items()
        if name.startswith("GATEWAY_") and name[len("GATEWAY_") :].lower() in fields
    }


def test_nginx_publishes_the_one_host_port_and_waits_for_the_replicas(
    services: dict[str, dict[str, Any]],
) -> None:
    nginx_name = service_named(services, "nginx:")
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    # Grafana's port is checked below (this machine only).
    grafana_name = service_named(services, "grafana/grafana:")
    assert set(published) == {nginx_name, grafana_name}, f"who publishes ports: {published}"
    (port,) = published[nginx_name]
    if isinstance(port, str):  # [host_ip:]published:target
        *_, host_port, target = port.split(":")
        port = {"published": host_port, "target": target}
    assert str(port["published"]) == "8000"
    assert int(port["target"]) == nginx_listen_port()
    assert port.get("host_ip") in (None, "127.0.0.1", "0.0.0.0")
    gateway_name = gateway_service(services)
    assert depends_on(services[nginx_name])[gateway_name]["condition"] in (
        "service_healthy",
        "service_started",
    )
    mount = mount_at(services[nginx_name], NGINX_TEMPLATE_IN_IMAGE)
    assert (COMPOSE.parent / mount["source"]).resolve() == NGINX_TEMPLATE
    assert mount.get("read_only") is True


def test_nginx_image_supports_resolving_the_replicas_at_run_time(
    services: dict[str, dict[str, Any]],
) -> None:
    image = str(services[service_named(services, "nginx:")]["image"])
    version = re.match(r"nginx:(\d+)\.(\d+)(?:\.(\d+))?", image)
    assert version, f"pin an nginx version, not {image!r}"
    major, minor, patch = (int(part or 99) for part in version.groups())
    if any(d.args[-1:] == ["resolve"] for d in directives_in(nginx_block("upstream"), "server")):
        assert (major, minor, patch) >= NGINX_RESOLVE_SINCE, image


# --- Prometheus and Grafana --------------------------------------------------------------------

# What each image listens on unless told otherwise (neither service here changes it).
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000


def prometheus_conf() -> dict[str, Any]:
    return yaml.safe_load(PROMETHEUS_CONF.read_text(encoding="utf-8"))


def pinned(image: str) -> bool:
    """A full release tag, not `latest` nor a moving major/minor one."""
    return bool(re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image))


def gateway_metrics_port(services: dict[str, dict[str, Any]]) -> int:
    """Where each replica serves /metrics: its own listener if one is set, else the API port."""
    env = {**dockerfile_env(), **environment(services[gateway_service(services)])}
    return int(env.get("GATEWAY_METRICS_PORT") or env["GATEWAY_PORT"])


def test_prometheus_scrapes_every_gateway_replica_directly(
    services: dict[str, dict[str, Any]],
) -> None:
    name = service_named(services, "prom/prometheus:")
    prometheus = services[name]
    assert pinned(prometheus["image"]), prometheus["image"]
    assert "ports" not in prometheus, "Grafana reaches Prometheus on the compose network"
    assert "command" not in prometheus, "the image's flags read /etc/prometheus/prometheus.yml"
    mount = mount_at(prometheus, "/etc/prometheus/prometheus.yml")
    assert (COMPOSE.parent / mount["source"]).resolve() == PROMETHEUS_CONF
    assert mount.get("read_only") is True
    (job,) = prometheus_conf()["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job.get("scheme", "http") == "http"
    # Not through nginx (404 for /metrics) and not one fixed address: Docker's DNS answers the
    # service name with one A record per replica, and each becomes a target.
    assert "static_configs" not in job
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == [gateway_service(services)]
    assert discovery["type"] == "A"
    assert discovery["port"] == gateway_metrics_port(services)
    assert gateway_service(services) in depends_on(prometheus)


def test_grafana_loads_the_data_source_and_the_dashboard(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services[service_named(services, "grafana/grafana:")]
    assert pinned(grafana["image"]), grafana["image"]
    env = environment(grafana)
    assert "GF_SERVER_HTTP_PORT" not in env and "GF_PATHS_PROVISIONING" not in env
    # Grafana reads /etc/grafana/provisioning/<kind>/*.yml (GF_PATHS_PROVISIONING's default).
    for kind in ("datasources", "dashboards"):
        provisioning = mount_at(grafana, f"/etc/grafana/provisioning/{kind}")
        assert (COMPOSE.parent / provisioning["source"]).resolve() == GRAFANA_PROVISIONING / kind
        assert provisioning.get("read_only") is True

    (source,) = yaml.safe_load(
        (GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    url = urlsplit(source["url"])
    prometheus_name = service_named(services, "prom/prometheus:")
    assert (url.hostname, url.port) == (prometheus_name, PROMETHEUS_PORT)
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    scrape_interval = prometheus_conf()["global"]["scrape_interval"]
    assert duration_seconds(source["jsonData"]["timeInterval"]) == duration_seconds(scrape_interval)
    assert prometheus_name in depends_on(grafana)

    # The dashboards provider reads a directory that is mounted from the one holding the JSON.
    (provider,) = yaml.safe_load(
        (GRAFANA_PROVISIONING / "dashboards" / "dashboards.yml").read_text(encoding="utf-8")
    )["providers"]
    assert provider["type"] == "file"
    dashboards = mount_at(grafana, provider["options"]["path"])
    assert (COMPOSE.parent / dashboards["source"]).resolve() == DASHBOARD.parent
    assert dashboards.get("read_only") is True
    home = PurePosixPath(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == PurePosixPath(provider["options"]["path"]) / DASHBOARD.name
    assert json.loads(DASHBOARD.read_text(encoding="utf-8"))["uid"]


def test_grafana_is_published_on_this_machine_only_and_bakes_in_no_password(
    services: dict[str, dict[str, Any]],
) -> None:
    raw = raw_compose()["services"][service_named(services, "grafana/grafana:")]
    (port,) = raw["ports"]
    assert isinstance(port, dict), "the long form, so host_ip is explicit"
    # Not a variable: with no password set, Grafana's own default admin login applies.
    assert port["host_ip"] == "127.0.0.1"
    assert port["published"] == "${GRAFANA_PUBLISH_PORT:-3001}"
    assert int(port["target"]) == GRAFANA_PORT
    env = environment(raw)
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "${GF_SECURITY_ADMIN_PASSWORD:-}"
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" not in env
    # Anonymous visitors may look, not edit.
    if env.get("GF_AUTH_ANONYMOUS_ENABLED", "false").lower() == "true":
        assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env.get("GF_USERS_ALLOW_SIGN_UP", "false").lower() == "false"


# --- the replicas' gateway config ---------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_config() -> GatewayConfig:
    return load_config(COMPOSE_CONFIG, GATEWAY_CATALOG)


def test_compose_config_serves_the_demo_models_with_no_key(compose_config: GatewayConfig) -> None:
    shipped = load_config(ROOT / "litellm_config.yaml", GATEWAY_CATALOG)
    assert compose_config.model_ids == shipped.model_ids
    assert all(d.provider_model.startswith("demo/") for d in compose_config.deployments)
    assert compose_config.env_problems() == []


def test_compose_config_limits_and_caches(compose_config: GatewayConfig) -> None:
    options = compose_config.options
    assert options.rate_limit.default is not None
    assert options.cache.models == ["title-model"]
    assert options.cache.ttl == 3600


def _network(compose: dict[str, Any]) -> dict[str, Any]:
    (config,) = compose["networks"]["default"]["ipam"]["config"]
    return config


def test_trusted_proxies_cover_nginx_but_not_clients(
    compose: dict[str, Any], compose_config: GatewayConfig
) -> None:
    limits = compose_config.options.rate_limit
    network = _network(compose)
    subnet = ipaddress.ip_network(network["subnet"])
    containers = ipaddress.ip_network(network.get("ip_range", network["subnet"]))
    bridge = ipaddress.ip_address(network["gateway"])
    assert containers.subnet_of(subnet)
    # nginx may get any container address of the compose network: all must be believed.
    for address in containers:
        if address not in (bridge, subnet.network_address, subnet.broadcast_address):
            assert limits.trusts(str(address)), f"nginx at {address} would not be believed"
    # Published-port clients arrive from the bridge address (userland proxy) or their own.
    assert not limits.trusts(str(bridge)), "clients could then choose their X-Forwarded-For"
    assert not limits.trusts("203.0.113.7")
    assert not limits.trusts("127.0.0.1")
    for entry in limits.trusted_proxies:
        assert ipaddress.ip_network(entry, strict=False).subnet_of(subnet)


# --- deploy/nginx.conf.template -----------------------------------------------------------------


class Directive:
    def __init__(self, name: str, args: list[str], block: list[Directive] | None) -> None:
        self.name, self.args, self.block = name, args, block

    def __repr__(self) -> str:
        return f"{self.name} {' '.join(self.args)}"


def parse_nginx(text: str) -> list[Directive]:
    """nginx's syntax: `name args;` and `name args { ... }`, quotes and # comments."""
    tokens = re.findall(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|#[^\n]*|[{};]|[^\s{};'"#]+""", text)
    tokens = [t for t in tokens if not t.startswith("#")]
    position = 0

    def block() -> list[Directive]:
        nonlocal position
        result: list[Directive] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                result.append(Directive(words[0], words[1:], None))
                words = []
            elif token == "{":
                result.append(Directive(words[0], words[1:], block()))
                words = []
            elif token == "}":
                assert not words, f"unterminated directive {words}"
                return result
            else:
                words.append(unquote(token) if token[0] in "'\"" else token)
        assert not words, f"unterminated directive {words}"
        return result

    directives = block()
    assert position == len(tokens), "unbalanced braces"
    return directives


def unquote(token: str) -> str:
    """A quoted nginx argument's text: nginx undoes these escapes inside quotes."""
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m[1], m[0]), token[1:-1])


# Where compose.yaml mounts the template: the nginx image renders /etc/nginx/templates/*.template
# (NGINX_ENVSUBST_TEMPLATE_DIR and _SUFFIX's defaults) into NGINX_ENVSUBST_OUTPUT_DIR at start.
NGINX_TEMPLATE_IN_IMAGE = "/etc/nginx/templates/nginx.conf.template"
# `$NAME` or `${NAME}`, as envsubst reads them.
_ENVSUBST_NAME = re.compile(r"\$(?:\{(?P<braced>\w+)\}|(?P<bare>\w+))")


def nginx_env() -> dict[str, str]:
    services = interpolate(raw_compose(), {})["services"]
    return environment(services[service_named(services, "nginx:")])


def rendered_nginx_conf(resolvers: str = DOCKER_DNS) -> str:
    """The template as the image's entrypoint writes it: envsubst of the variables that match
    NGINX_ENVSUBST_FILTER, with NGINX_LOCAL_RESOLVERS set to the container's DNS servers."""
    env = nginx_env()
    container_env = {**env, "NGINX_LOCAL_RESOLVERS": resolvers, "HOSTNAME": "nginx", "HOME": "/"}
    names = {name for name in container_env if re.search(env["NGINX_ENVSUBST_FILTER"], name)}

    def substitute(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        return container_env[name] if name in names else match[0]

    return _ENVSUBST_NAME.sub(substitute, NGINX_TEMPLATE.read_text(encoding="utf-8"))


def nginx_conf() -> list[Directive]:
    return parse_nginx(rendered_nginx_conf())


def directives_in(block: list[Directive], name: str) -> list[Directive]:
    return [d for d in block if d.name == name]


def nginx_block(*path: str) -> list[Directive]:
    """The body of http > ... > path, where each step is unique."""
    block = nginx_conf()
    for name in ("http", *path):
        (found,) = [d for d in directives_in(block, name) if d.block is not None]
        block = found.block or []
    return block


def proxy_location() -> list[Directive]:
    """The `location` that proxies to the replicas (and, inherited, its server's settings)."""
    server = nginx_block("server")
    (location,) = [
        d for d in directives_in(server, "location") if directives_in(d.block or [], "proxy_pass")
    ]
    # Directives set in http or server apply unless the location sets them itself.
    inherited = [*nginx_block(), *server]
    own = location.block or []
    return [*own, *(d for d in inherited if d.name not in {o.name for o in own})]


def only(block: list[Directive], name: str) -> list[str]:
    (directive,) = directives_in(block, name)
    return directive.args


def nginx_listen_port() -> int:
    (listen,) = directives_in(nginx_block("server"), "listen")
    return int(listen.args[0].rsplit(":", 1)[-1])


def size_bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def test_nginx_streams_without_buffering() -> None:
    location = proxy_location()
    assert only(location, "proxy_buffering") == ["off"]
    assert only(location, "proxy_http_version") == ["1.1"]
    # Keep nginx obeying the gateway's `X-Accel-Buffering: no`.
    for directive in directives_in(location, "proxy_ignore_headers"):
        assert "X-Accel-Buffering" not in directive.args
    # gzip holds output back until it has enough to compress (off is also nginx's default).
    assert all(d.args == ["off"] for d in directives_in(location, "gzip"))


def test_nginx_waits_long_enough_for_slow_answers(compose_config: GatewayConfig) -> None:
    read_timeout = duration_seconds(only(proxy_location(), "proxy_read_timeout")[0])
    # The first byte may wait for the provider's whole timeout.
    assert read_timeout > float(compose_config.router_settings["timeout"])


def test_nginx_passes_client_address_and_request_id() -> None:
    headers = {
        d.args[0].lower(): d.args[1] for d in directives_in(proxy_location(), "proxy_set_header")
    }
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    request_id = headers["x-request-id"]
    assert request_id.startswith("$")
    if request_id not in ("$http_x_request_id", "$request_id"):
        # A map that keeps the client's ID.
        (mapping,) = [d for d in directives_in(nginx_block(), "map") if d.args[1] == request_id]
        assert mapping.args[0] == "$http_x_request_id"
        values = {d.name: d.args[0] for d in mapping.block or []}
        assert values == {"default": "$http_x_request_id", "": "$request_id"}
    if headers.get("connection") is not None:  # with upstream keepalive
        assert headers["connection"] == ""


def test_nginx_body_limit_matches_the_gateway_default() -> None:
    limit = Settings.model_fields["max_body_bytes"].default
    assert size_bytes(only(proxy_location(), "client_max_body_size")[0]) == limit
    # An oversized body is refused in the gateway's own error shape.
    (error_page,) = directives_in(nginx_block("server"), "error_page")
    assert error_page.args[0] == "413"
    named = error_page.args[-1]
    (handler,) = [d for d in directives_in(nginx_block("server"), "location") if d.args == [named]]
    status, body = only(handler.block or [], "return")
    assert status == "413"
    error = json.loads(body)["error"]
    assert error["type"] == "request_too_large"
    assert str(limit) in error["message"]


def test_nginx_balances_over_the_gateway_service(services: dict[str, dict[str, Any]]) -> None:
    gateway = services[gateway_service(services)]
    port = {**dockerfile_env(), **environment(gateway)}["GATEWAY_PORT"]
    (upstream,) = directives_in(nginx_block(), "upstream")
    (server,) = directives_in(upstream.block or [], "server")
    # The service name, which Docker's DNS answers with every replica's address.
    assert server.args[0] == f"{gateway_service(services)}:{port}"
    assert only(proxy_location(), "proxy_pass") == [f"http://{upstream.args[0]}"]
    if "resolve" in server.args:
        assert directives_in(upstream.block or [], "zone"), "resolve needs a shared zone"
        assert directives_in(nginx_block(), "resolver"), "resolve needs a resolver"


def test_nginx_template_gets_only_the_engines_dns(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    env = nginx_env()
    # The entrypoint writes the template to /etc/nginx/nginx.conf, which nginx reads by default.
    assert env.get("NGINX_ENVSUBST_TEMPLATE_DIR", "/etc/nginx/templates") == str(
        PurePosixPath(NGINX_TEMPLATE_IN_IMAGE).parent
    )
    assert env.get("NGINX_ENVSUBST_TEMPLATE_SUFFIX", ".template") == ".template"
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    assert PurePosixPath(NGINX_TEMPLATE_IN_IMAGE).stem == "nginx.conf"
    # The entrypoint fills NGINX_LOCAL_RESOLVERS in from /etc/resolv.conf.
    assert env["NGINX_ENTRYPOINT_LOCAL_RESOLVERS"]
    # It alone is substituted: nginx's own $variables are kept whatever the environment holds.
    template = NGINX_TEMPLATE.read_text(encoding="utf-8")
    used = {m["braced"] or m["bare"] for m in _ENVSUBST_NAME.finditer(template)}
    assert "upstream_addr" in used  # the parse sees nginx's variables
    matched = {name for name in used if re.search(env["NGINX_ENVSUBST_FILTER"], name)}
    assert matched == {"NGINX_LOCAL_RESOLVERS"}
    for name in ("PATH", "HOME", "HOSTNAME", "NGINX_ENVSUBST_FILTER", "NGINX_LOCAL_RESOLVERS_X"):
        assert not re.search(env["NGINX_ENVSUBST_FILTER"], name), name
    assert "${" not in rendered_nginx_conf()
    assert only(nginx_block(), "resolver")[0] == DOCKER_DNS
    # The one DNS server in nginx's resolv.conf is the engine's: Docker keeps its embedded DNS
    # there whatever `dns` says, and podman then lists only aardvark-dns, which listens on the
    # network's gateway address. Any other server would not know `gateway`.
    nginx = services[service_named(services, "nginx:")]
    assert nginx["dns"] == [_network(compose)["gateway"]]


def _nginx_version(binary: str) -> tuple[int, ...]:
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=30)
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    assert found, result.stderr
    return tuple(int(part) for part in found.groups())


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    binary = shutil.which("nginx")
    if binary is None:
        pytest.skip("no nginx binary on PATH (compose.yaml runs it in its image)")
    if _nginx_version(binary) < NGINX_RESOLVE_SINCE:
        pytest.skip(f"{binary} predates nginx 1.27.3, which `resolve` in an upstream needs")
    (tmp_path / "logs").mkdir()  # `-t` writes its pid file under the prefix
    conf = tmp_path / "nginx.conf"
    conf.write_text(rendered_nginx_conf(), encoding="utf-8")
    result = subprocess.run(
        [binary, "-t", "-p", f"{tmp_path}{os.sep}", "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_keeps_metrics_off_the_public_port() -> None:
    server = nginx_block("server")
    (metrics,) = [d for d in directives_in(server, "location") if d.args == ["=", "/metrics"]]
    assert only(metrics.block or [], "return") == ["404"]
