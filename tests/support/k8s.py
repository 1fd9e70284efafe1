"""Helpers for the deploy/k8s tests: the renderer (deploy/k8s/render.py, a script loaded
from its path) and lookups in rendered objects."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ("base", "embedded-demo", "production")

Doc = dict[str, Any]


@cache
def load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def overlay_dir(name: str) -> Path:
    return K8S / name if name == "base" else K8S / "overlays" / name


def pod_specs(doc: Doc) -> list[Doc]:
    return list(load_renderer().pod_specs(doc))


def containers(doc: Doc) -> list[Doc]:
    """Every container and init container of a workload (none for other kinds)."""
    return [
        c for s in pod_specs(doc) for c in s.get("containers", []) + s.get("initContainers", [])
    ]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def pod_labels(doc: Doc) -> dict[str, str]:
    """The pod template labels of a workload."""
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"])
    return dict(doc["spec"]["template"]["metadata"]["labels"])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
