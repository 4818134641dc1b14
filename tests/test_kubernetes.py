"""deploy/kubernetes/, checked without a cluster (no kubectl, kustomize or Helm here).

The kustomization is rendered in Python (its `resources`, loaded with yaml), every object is
validated offline against the Kubernetes OpenAPI schemas (kubernetes-validate, strict), and the
wiring is asserted: ports, probes, the config volume, Secret keys, shutdown timing, security
context, selectors, /metrics on its own port (GATEWAY_METRICS_PORT) that only monitoring reaches.
Then a ConfigMap-style symlink swap is made under a running gateway that is answering requests.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from gateway.catalog import GATEWAY_CATALOG
from gateway.config import load_config
from gateway.settings import Settings
from tests.support.configs import config_for, model_entry
from tests.support.dockerfile import dockerfile_env
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.polling import SWITCH_DEADLINE, ready, wait_until
from tests.support.wire import answer_text, parse_lines

ROOT = Path(__file__).resolve().parent.parent
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
SCHEMA_VERSION = "1.31"  # oldest minor still supported upstream that kubernetes-validate ships
DOCKERFILE_UID = 10001  # Dockerfile: USER 10001:10001


def render() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((KUSTOMIZE / "kustomization.yaml").read_text("utf-8"))
    assert kustomization["kind"] == "Kustomization"
    # Anything kustomize would transform is not rendered here: keep the file to plain resources.
    assert set(kustomization) <= {"apiVersion", "kind", "resources"}, set(kustomization)
    objects = []
    for name in kustomization["resources"]:
        text = (KUSTOMIZE / name).read_text("utf-8")
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc is not None)
    listed = {p.name for p in KUSTOMIZE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == set(kustomization["resources"]), "every manifest is in the kustomization"
    return objects


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render()


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [c for c in pod_spec(objects)["containers"] if c["name"] == name]
    return found


def gateway_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The container that runs `gateway serve` (the repository's image)."""
    found = [c for c in pod_spec(objects)["containers"] if "gateway" in c.get("args", [])]
    assert len(found) == 1
    return found[0]


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in c.get("env", [])}


def port_number(c: dict[str, Any], port: int | str) -> int:
    """A named or numbered container port, as its number (it must be declared)."""
    for declared in c.get("ports", []):
        if port in (declared["name"], declared["containerPort"]):
            return int(declared["containerPort"])
    raise AssertionError(f"port {port!r} is not declared by container {c['name']}")


def pod_port(objects: list[dict[str, Any]], port: int | str) -> tuple[str, int]:
    for c in pod_spec(objects)["containers"]:
        for declared in c.get("ports", []):
            if port in (declared["name"], declared["containerPort"]):
                return c["name"], int(declared["containerPort"])
    raise AssertionError(f"no container declares port {port!r}")


def pod_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
    labels: dict[str, str] = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def gateway_ports(objects: list[dict[str, Any]]) -> tuple[int, int]:
    """GATEWAY_PORT and GATEWAY_METRICS_PORT as the gateway container sets them."""
    env = env_of(gateway_container(objects))
    return int(env["GATEWAY_PORT"]["value"]), int(env["GATEWAY_METRICS_PORT"]["value"])


def test_every_object_validates_against_the_kubernetes_schemas(
    objects: list[dict[str, Any]],
) -> None:
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    for o in objects:
        kubernetes_validate.validate(o, SCHEMA_VERSION, strict=True)
    assert one(objects, "HorizontalPodAutoscaler")["apiVersion"] == "autoscaling/v2"
    assert one(objects, "PodDisruptionBudget")["apiVersion"] == "policy/v1"


def test_the_gateway_listens_where_the_image_and_probes_say(objects: list[dict[str, Any]]) -> None:
    gw = gateway_container(objects)
    env = env_of(gw)
    port, metrics_port = gateway_ports(objects)
    assert port == int(dockerfile_env()["GATEWAY_PORT"])
    assert env["GATEWAY_HOST"]["value"] == "0.0.0.0"
    assert "GATEWAY_METRICS_HOST" not in env  # the metrics listener binds GATEWAY_HOST too
    assert port_number(gw, "http") == port
    assert port_number(gw, "metrics") == metrics_port
    probes = {kind: gw[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/health"
    assert probes["readinessProbe"]["path"] == "/health/ready"
    for probe in [*probes.values(), gw["startupProbe"]["httpGet"]]:
        assert port_number(gw, probe["port"]) == port


def test_the_container_settings_are_valid_and_move_metrics_off_the_api_port(
    objects: list[dict[str, Any]],
) -> None:
    """The gateway's own settings check accepts the container's plain values, and they put
    /metrics on a port of its own (gateway/settings.py refuses GATEWAY_METRICS_PORT ==
    GATEWAY_PORT; tests/test_metrics_port.py shows the main port then answers 404)."""
    env = env_of(gateway_container(objects))
    plain = {
        name.removeprefix("GATEWAY_").lower(): item["value"]
        for name, item in env.items()
        if name.startswith("GATEWAY_") and "value" in item
    }
    settings = Settings(_env_file=None, **plain)
    assert (settings.port, settings.metrics_port) == gateway_ports(objects)
    assert settings.metrics_port != settings.port
    assert settings.metrics_listen_host == "0.0.0.0"


def test_the_public_service_never_reaches_metrics(objects: list[dict[str, Any]]) -> None:
    """Services forward ports, not paths: the public one reaches only the gateway's API port,
    whose /metrics is a 404; the metrics port is reached only by the metrics Service."""
    port, metrics_port = gateway_ports(objects)
    assert [c["name"] for c in pod_spec(objects)["containers"]] == ["gateway"]  # no sidecar
    assert not [o for o in objects if o["kind"] == "ConfigMap" and "nginx" in o["metadata"]["name"]]

    public = one(objects, "Service", "llm-gateway")
    assert public["spec"]["type"] == "ClusterIP"
    assert selects(public["spec"]["selector"], pod_labels(objects))
    (public_port,) = public["spec"]["ports"]
    assert public_port["port"] == 80
    target = pod_port(objects, public_port["targetPort"])
    assert target == ("gateway", port) and target[1] != metrics_port

    metrics = one(objects, "Service", "llm-gateway-metrics")
    assert metrics["spec"]["type"] == "ClusterIP"
    assert selects(metrics["spec"]["selector"], pod_labels(objects))
    (mport,) = metrics["spec"]["ports"]
    assert mport["name"] == "metrics"
    assert pod_port(objects, mport["targetPort"]) == ("gateway", metrics_port)


def test_prometheus_annotations_name_the_metrics_port(objects: list[dict[str, Any]]) -> None:
    _, metrics_port = gateway_ports(objects)
    annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(metrics_port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_network_policy_opens_the_metrics_port_to_monitoring_only(
    objects: list[dict[str, Any]],
) -> None:
    policy = one(objects, "NetworkPolicy")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(objects))
    assert policy["policyTypes"] == ["Ingress"]
    port, metrics_port = gateway_ports(objects)
    opened: dict[int, list[Any]] = {}
    for rule in policy["ingress"]:
        ports = {pod_port(objects, p["port"])[1] for p in rule["ports"]}
        if metrics_port in ports:
            assert ports == {metrics_port}
            (source,) = rule["from"]
            assert source == {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
            }
        else:
            assert ports == {port}, "only the API port is open beyond monitoring"
        for number in ports:
            opened.setdefault(number, []).append(rule.get("from"))
    assert set(opened) == {port, metrics_port}


def test_the_model_map_is_a_configmap_directory_and_loads(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    gw = gateway_container(objects)
    config_path = PurePosixPath(env_of(gw)["GATEWAY_CONFIG"]["value"])
    (mount,) = [
        m for m in gw["volumeMounts"] if PurePosixPath(m["mountPath"]) == config_path.parent
    ]
    assert "subPath" not in mount and "subPathExpr" not in mount, "a subPath never updates"
    assert mount.get("readOnly") is True
    (volume,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == mount["name"]]
    configmap = one(objects, "ConfigMap", volume["configMap"]["name"])
    assert "items" not in volume["configMap"]
    text = configmap["data"][config_path.name]
    local = tmp_path / config_path.name
    local.write_text(text, encoding="utf-8")
    config = load_config(local, GATEWAY_CATALOG)
    assert "chat-model" in config.model_ids


def test_every_secret_reference_names_a_key_of_the_secret(objects: list[dict[str, Any]]) -> None:
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    refs = []
    for c in pod_spec(objects)["containers"]:
        for item in c.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.append((item["name"], ref))
        for source in c.get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets
    assert refs
    for name, ref in refs:
        secret = secrets[ref["name"]]
        keys = {**secret.get("data", {}), **secret.get("stringData", {})}
        assert ref["key"] in keys, f"{name}: {ref['key']} not in Secret {ref['name']}"
    env = env_of(gateway_container(objects))
    for required in ("REDIS_URL", "GATEWAY_API_KEYS", "OPENAI_API_KEY"):
        assert "secretKeyRef" in env[required]["valueFrom"], required
    # Placeholders only: nothing that looks like a real key.
    (secret,) = secrets.values()
    for key, value in secret["stringData"].items():
        assert value == "" or "REPLACE-ME" in value, key
    assert "PLACEHOLDERS ONLY" in (KUSTOMIZE / "secret.yaml").read_text("utf-8")


def test_termination_grace_outlasts_prestop_plus_shutdown_grace(
    objects: list[dict[str, Any]],
) -> None:
    spec = pod_spec(objects)
    gw = gateway_container(objects)
    grace = float(env_of(gw)["GATEWAY_SHUTDOWN_GRACE_SECONDS"]["value"])
    command = gw["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    assert 1 <= pre_stop <= 15
    assert spec["terminationGracePeriodSeconds"] > grace + pre_stop


def test_containers_run_locked_down(objects: list[dict[str, Any]]) -> None:
    spec = pod_spec(objects)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == DOCKERFILE_UID
    for c in spec["containers"]:
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True and isinstance(sc["runAsUser"], int)
        assert sc["runAsUser"] != 0
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        # Something writable for temp files, on an emptyDir.
        (tmp,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == tmp["name"]]
        assert "emptyDir" in volume
    assert gateway_container(objects)["securityContext"]["runAsUser"] == DOCKERFILE_UID


def test_hpa_and_pdb_target_the_deployment(objects: list[dict[str, Any]]) -> None:
    deployment = one(objects, "Deployment")
    labels = pod_labels(objects)
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    hpa = one(objects, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["minReplicas"] >= 2
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert selects(pdb["selector"]["matchLabels"], labels)
    # CPU utilisation is relative to the request: the gateway must declare one.
    assert gateway_container(objects)["resources"]["requests"]["cpu"]


# --- a ConfigMap update under a running gateway -------------------------------------------------


def kubelet_write(directory: Path, files: dict[str, str], stamp: str) -> None:
    """What the kubelet's atomic writer does: files in a new timestamped directory, then a new
    `..data` symlink renamed over the old one; `dir/<file>` -> `..data/<file>` never changes."""
    target = directory / stamp
    target.mkdir()
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
    new_link = directory / "..data_tmp"
    os.symlink(stamp, new_link)
    old = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    os.replace(new_link, directory / "..data")
    for name in files:
        if not (directory / name).is_symlink():
            os.symlink(f"..data/{name}", directory / name)
    if old is not None:
        for leftover in (directory / old).iterdir():
            leftover.unlink()
        (directory / old).rmdir()


STEADY = Reply(chunks=["steady ", "answers ", "through ", "the ", "swap"], chunk_delay=0.01)


class ChatLoop:
    """Chat requests one after another on their own connection pool until stopped, each
    checked: 200 and the whole answer, ending with finishReason "stop"."""

    def __init__(self, url: str, model: str = "chat-model") -> None:
        self.url = url
        self.model = model
        self.done = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chat-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        body = {"model": self.model, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("/api/chat", json=body)
                    failure = answer_problem(response)
                except httpx.HTTPError as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                if failure is not None:
                    self.failures.append(failure)
                self.done += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "a chat request hung"


def answer_problem(response: httpx.Response) -> str | None:
    """What is wrong with a chat answer, None when it is a complete 200."""
    if response.status_code != 200:
        return f"{response.status_code}: {response.text[:200]}"
    parts = parse_lines(response.text)
    if answer_text(response) != STEADY.text or parts[-1][1].get("finishReason") != "stop":
        return f"incomplete answer: {response.text[:300]!r}"
    return None


def test_live_reload_follows_a_configmap_symlink_swap(
    background_loop: Any, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """The issue's must-show: the kubelet's `..data` swap reloads a running gateway within its
    poll interval, with no failed request while it happens."""
    mounted = tmp_path / "gateway"
    mounted.mkdir()
    first = config_for(upstream)
    kubelet_write(
        mounted, {"litellm_config.yaml": yaml.safe_dump(first)}, "..2025_01_01_00_00_00.1"
    )
    path = mounted / "litellm_config.yaml"
    assert path.is_symlink()
    upstream.default = STEADY

    gateway = Gateway(background_loop, path, config_poll_seconds=0.1).start()
    client = gateway.client

    def model_ids() -> set[str]:
        return {m["id"] for m in client.get("/v1/models").json()["data"]}

    assert "added-by-configmap" not in model_ids()
    loop = ChatLoop(gateway.url)
    try:
        wait_until(lambda: loop.done >= 3, 30)  # requests are flowing before the swap
        second = config_for(upstream)
        second["model_list"].append(model_entry("added-by-configmap", upstream))
        kubelet_write(
            mounted, {"litellm_config.yaml": yaml.safe_dump(second)}, "..2025_01_01_00_01_00.2"
        )
        wait_until(lambda: "added-by-configmap" in model_ids(), SWITCH_DEADLINE + 1)
        switched_at = loop.done
        wait_until(lambda: loop.done >= switched_at + 3, 30)  # and still flowing after it
        loop.stop()

        assert loop.failures == [], f"{len(loop.failures)} of {loop.done} failed"
        assert ready(gateway)["config"]["generation"] == 2
        assert client.get("/health/ready").status_code == 200
        # The new model ID is served, and the models the map kept still are.
        for model in ("added-by-configmap", "chat-model"):
            assert answer_problem(gateway.chat(model=model)) is None, model
    finally:
        loop.stop()
        gateway.stop()


def test_the_gateway_config_stays_loadable_by_the_symlinked_path(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The shipped ConfigMap's text, laid out as the kubelet does, loads through the link."""
    text = one(objects, "ConfigMap", "llm-gateway-config")["data"]["litellm_config.yaml"]
    kubelet_write(tmp_path, {"litellm_config.yaml": text}, "..2025_01_01_00_00_00.1")
    assert load_config(tmp_path / "litellm_config.yaml", GATEWAY_CATALOG).model_ids
