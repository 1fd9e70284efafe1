"""deploy/k8s/render.py: the strategic-merge subset it implements, what it refuses, and
every overlay it renders validating against the bundled Kubernetes schemas (offline)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest

from tests.support.k8s import OVERLAYS, containers

#: The oldest Kubernetes minor the manifests promise to work on, and the newest bundled.
VERSIONS = ("1.31.0", kubernetes_validate.latest_version())


def test_strategic_merge_subset(renderer: ModuleType) -> None:
    base = {
        "probe": {"grpc": {"port": 1}, "periodSeconds": 5},
        "containers": [{"name": "a", "image": "x", "args": ["1", "2"]}],
        "volumeMounts": [{"mountPath": "/m", "name": "m"}],
        "ports": [{"port": 80, "name": "http"}],
    }
    patch = {
        "probe": {"grpc": None, "exec": {"command": ["true"]}},  # null deletes
        "containers": [{"name": "a", "args": ["3"]}, {"name": "b", "image": "y"}],
        "volumeMounts": [{"mountPath": "/n", "name": "n"}],
        "ports": [{"port": 80, "targetPort": 8080}],
    }
    merged = renderer.merge(base, patch)
    assert merged["probe"] == {"exec": {"command": ["true"]}, "periodSeconds": 5}
    # merged by name, the patch's new items first (as kustomize does), plain lists replaced
    assert merged["containers"] == [
        {"name": "b", "image": "y"},
        {"name": "a", "image": "x", "args": ["3"]},
    ]
    assert [m["mountPath"] for m in merged["volumeMounts"]] == ["/n", "/m"]
    assert merged["ports"] == [{"port": 80, "name": "http", "targetPort": 8080}]
    assert base["probe"] == {"grpc": {"port": 1}, "periodSeconds": 5}  # inputs untouched


def test_unsupported_kustomize_features_are_refused(renderer: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(renderer.RenderError, match="commonLabels"):
        renderer.render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("patches:\n  - patch: '{}'\n")
    with pytest.raises(renderer.RenderError, match="only 'path' patches"):
        renderer.render(tmp_path)


def test_a_patch_must_hit_exactly_one_object(renderer: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [cm.yaml]\npatches: [{path: p.yaml}]\n"
    )
    with pytest.raises(renderer.RenderError, match="matches 0"):
        renderer.render(tmp_path)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_validate_against_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, version: str
) -> None:
    for doc in rendered[overlay]:
        kubernetes_validate.validate(doc, version, strict=True)


def test_example_secrets_validate(example_secrets: list[dict[str, Any]]) -> None:
    for doc in example_secrets:
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)


def test_overlays_set_their_namespace_and_images(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, namespace in (
        ("embedded-demo", "personalization-demo"),
        ("production", "personalization"),
    ):
        docs = rendered[overlay]
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
            namespace
        }
        assert [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"] == [namespace]
    images = {
        c["image"]
        for d in rendered["production"]
        for c in containers(d)
        if c["image"].split(":")[0].endswith(("personalization", "personalization-training"))
    }
    assert images == {
        "registry.example.com/personalization:0.1.0",
        "registry.example.com/personalization-training:0.1.0",
    }
