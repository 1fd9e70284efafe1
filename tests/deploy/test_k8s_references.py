"""Cross-references of the rendered manifests: Service, PDB and HPA selectors hit the server
pods, probes use the gRPC health service on the server's port, ConfigMap keys are server
settings that validate, referenced Secrets, keys, ConfigMaps and volumes exist, setting
paths point into mounted files, the Jobs run real training commands, the image exposes the
ports the pods declare and the Redis seeds name pods of the StatefulSet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from server.running import HEALTH_SERVICES
from server.settings import Settings
from tests.support.k8s import (
    OVERLAYS,
    Doc,
    containers,
    of_kind,
    one,
    pod_labels,
    pod_specs,
    selects,
)
from training.__main__ import COMMANDS

PREFIX = "PERSONALIZATION_"
DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def _config(docs: list[Doc]) -> dict[str, str]:
    return dict(one(docs, "ConfigMap", "personalization-config")["data"])


def _server(docs: list[Doc]) -> Doc:
    return next(
        c for c in containers(one(docs, "Deployment", "personalization")) if c["name"] == "server"
    )


def _port(container: Doc, name: str) -> int:
    return next(int(p["containerPort"]) for p in container["ports"] if p["name"] == name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_pdb_and_hpa_select_the_server_pods(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    workloads = [d for d in docs if pod_specs(d)]
    for svc in of_kind(docs, "Service"):
        hits = [w for w in workloads if selects(svc["spec"]["selector"], pod_labels(w))]
        assert hits, f"Service {svc['metadata']['name']} selects no pods"
        names = {p["name"] for w in hits for c in containers(w) for p in c.get("ports", [])}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= names
    deployment = one(docs, "Deployment", "personalization")
    labels = pod_labels(deployment)
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    pdb = one(docs, "PodDisruptionBudget", "personalization")
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    hpa = one(docs, "HorizontalPodAutoscaler", "personalization")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "personalization",
    }
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"] and "replicas" not in deployment["spec"]
    headless = one(docs, "Service", "personalization-headless")["spec"]
    assert headless["clusterIP"] == "None" and not headless["publishNotReadyAddresses"]
    assert selects(headless["selector"], labels)


def _exec_health(probe: Doc) -> tuple[str, list[str]]:
    command = probe["exec"]["command"]
    assert command[:3] == ["python", "-m", "server.healthcheck"], command
    assert "--target" not in command  # the default target is 127.0.0.1:$PERSONALIZATION_PORT
    return command[command.index("--service") + 1], command


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_the_grpc_health_service_on_the_server_port(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    server, port = _server(docs), int(_config(docs)["PERSONALIZATION_PORT"])
    assert _port(server, "grpc") == port
    tls = "PERSONALIZATION_TLS_CERT_FILE" in _config(docs)
    for kind in ("startupProbe", "readinessProbe"):
        probe = server[kind]
        if tls:  # kubelet's gRPC probe has no TLS: server.healthcheck over TLS instead
            service, command = _exec_health(probe)
            assert "grpc" not in probe and "--ca" in command
        else:
            assert probe["grpc"]["port"] == port and "exec" not in probe
            service = probe["grpc"].get("service", "")
        assert service in HEALTH_SERVICES
    assert server["readinessProbe"] != server["startupProbe"]
    assert server["livenessProbe"]["tcpSocket"]["port"] == "grpc"  # never follows the store


def _env_names(docs: list[Doc]) -> set[str]:
    names = {
        k for d in of_kind(docs, "ConfigMap") for k in d.get("data", {}) if k.startswith(PREFIX)
    }
    for doc in docs:
        names |= {
            e["name"]
            for c in containers(doc)
            for e in c.get("env", [])
            if e["name"].startswith(PREFIX)
        }
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_keys_are_server_settings_and_validate(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    fields = {PREFIX + name.upper() for name in Settings.model_fields}
    names = _env_names(rendered[overlay])
    assert names and names <= fields, sorted(names - fields)
    values = {k[len(PREFIX) :].lower(): v for k, v in _config(rendered[overlay]).items()}
    settings = Settings.model_validate(values)  # every value validates (ports, switches, ...)
    assert settings.metrics_port and settings.metrics_host == "0.0.0.0"  # scrapeable


def _secret_refs(docs: list[Doc]) -> list[tuple[str, str]]:
    refs = []
    for spec in (s for d in docs for s in pod_specs(d)):
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                secret = volume["secret"]
                refs += [(secret["secretName"], i["key"]) for i in secret.get("items", [])]
        for c in spec["containers"] + spec.get("initContainers", []):
            refs += [
                (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                for e in c.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            ]
    return refs


def test_production_secrets_keys_and_file_settings_line_up(
    rendered: dict[str, list[Doc]], example_secrets: list[Doc]
) -> None:
    docs = rendered["production"]
    assert not of_kind(docs, "Secret")  # never applied with placeholder values
    secrets = {
        s["metadata"]["name"]: set(s.get("stringData", {})) | set(s.get("data", {}))
        for s in example_secrets
    }
    refs = _secret_refs(docs)
    assert {name for name, _ in refs} == {"personalization-api-keys", "personalization-tls"}
    for name, key in refs:
        assert key in secrets[name], f"{name} has no key {key}"
    # every file setting is a file some mounted volume provides
    server = _server(docs)
    spec = pod_specs(one(docs, "Deployment", "personalization"))[0]
    files = set()
    for mount in server["volumeMounts"]:
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        files |= {
            f"{mount['mountPath']}/{i['path']}" for i in volume.get("secret", {}).get("items", [])
        }
    config = _config(docs)
    for setting in ("API_KEYS_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        assert config[PREFIX + setting] in files
    for probe in ("startupProbe", "readinessProbe"):
        command = server[probe]["exec"]["command"]
        assert command[command.index("--ca") + 1] in files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_referenced_config_maps_and_claims_exist(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    maps = {d["metadata"]["name"] for d in of_kind(docs, "ConfigMap")}
    claims = {d["metadata"]["name"] for d in of_kind(docs, "PersistentVolumeClaim")}
    for doc in docs:
        templates = {
            t["metadata"]["name"] for t in doc.get("spec", {}).get("volumeClaimTemplates", [])
        }
        for spec in pod_specs(doc):
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in maps
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims
            mounted = {v["name"] for v in spec.get("volumes", [])} | templates
            for c in spec["containers"] + spec.get("initContainers", []):
                assert {m["name"] for m in c.get("volumeMounts", [])} <= mounted
                assert {e["configMapRef"]["name"] for e in c.get("envFrom", [])} <= maps


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_jobs_run_training_commands_on_the_mounted_repo(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    jobs = [d for d in rendered[overlay] if d["kind"] in ("Job", "CronJob")]
    training = [c for j in jobs for c in containers(j) if "personalization-training" in c["image"]]
    assert training
    for c in training:
        if "command" in c:  # the declarations copy
            assert c["command"][-1].startswith("cp -R /opt/feature_repo/. ")
            continue
        assert c["args"][0] in COMMANDS, c["args"]
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        for flag in ("--repo", "--models-dir", "--log-dir"):
            if flag in c["args"]:
                path = c["args"][c["args"].index(flag) + 1]
                assert any(path == m or path.startswith(m + "/") for m in mounts), (flag, path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_image_exposes_the_ports_the_pods_declare(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    exposed = {
        int(p)
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("EXPOSE")
        for p in line.split()[1:]
    }
    docs = rendered[overlay]
    config, server = _config(docs), _server(docs)
    ports = {int(config["PERSONALIZATION_PORT"]), int(config["PERSONALIZATION_METRICS_PORT"])}
    assert ports <= exposed and ports == {int(p["containerPort"]) for p in server["ports"]}
    annotations: dict[str, Any] = one(docs, "Deployment", "personalization")["spec"]["template"][
        "metadata"
    ]["annotations"]
    assert int(annotations["prometheus.io/port"]) == _port(server, "metrics")


def test_redis_seeds_name_pods_of_the_statefulset(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["production"]
    sts = one(docs, "StatefulSet", "redis-cluster")["spec"]
    port = _port(containers(one(docs, "StatefulSet", "redis-cluster"))[0], "redis")
    one(docs, "Service", sts["serviceName"])
    settings = Settings(online_store="redis_cluster", redis=_config(docs)["PERSONALIZATION_REDIS"])
    for host, seed_port in settings.redis_nodes():
        match = re.fullmatch(r"redis-cluster-(\d+)\.(.+)", host)
        assert match and int(match[1]) < sts["replicas"] and match[2] == sts["serviceName"]
        assert seed_port == port
