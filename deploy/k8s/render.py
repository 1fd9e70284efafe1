"""Render a kustomization of deploy/k8s without the kustomize binary.

CI has no kubectl/kustomize and downloads no binaries, so the manifests are rendered
here for validation (kubernetes-validate) and for the cross-reference tests. Only the
subset of kustomize this repository uses is implemented, and anything else is refused
rather than ignored: ``resources`` (files and directories), ``namespace``, ``patches``
(strategic-merge patch files: maps merge, ``null`` deletes a key, the Kubernetes lists
with a merge key merge item by item, new items first, other lists are replaced) and
``images``. Where ``kubectl`` exists, ``--compare-kubectl`` checks that ``kubectl
kustomize`` renders the same objects.

    python deploy/k8s/render.py deploy/k8s/overlays/production > production.yaml
    python deploy/k8s/render.py --compare-kubectl deploy/k8s/overlays/*
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "patches", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass"}
#: Strategic-merge keys of the lists this repository patches (as in the Kubernetes API).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
POD_SPEC_PATHS = (
    ("spec", "template", "spec"),  # Deployment, StatefulSet, Job
    ("spec", "jobTemplate", "spec", "template", "spec"),  # CronJob
)


class RenderError(ValueError):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _merge_list(base: list[Any], patch: list[Any], key: str) -> list[Any]:
    if not all(isinstance(i, dict) and key in i for i in base + patch):
        return patch
    out, added = [dict(item) for item in base], []
    for item in patch:
        match = next((i for i, old in enumerate(out) if old[key] == item[key]), None)
        if match is None:
            added.append(item)
        else:
            out[match] = merge(out[match], item)
    return added + out  # kustomize puts the patch's new items first


def merge(base: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge of ``patch`` into ``base`` (the subset described above)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for name, value in patch.items():
            if value is None:
                out.pop(name, None)
            elif name in out:
                out[name] = merge(out[name], value, name)
            else:
                out[name] = value
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        if field == "ports" and not all("containerPort" in p for p in base + patch):
            key = "port"  # a Service's ports
        return _merge_list(base, patch, key)
    return patch


def _identity(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs inside a workload object (none for other kinds)."""
    specs = []
    for path in POD_SPEC_PATHS:
        node: Any = doc
        for step in path:
            node = node.get(step) if isinstance(node, dict) else None
        if isinstance(node, dict) and "containers" in node:
            specs.append(node)
    return specs


def _set_images(docs: list[dict[str, Any]], images: list[dict[str, str]]) -> None:
    for doc in docs:
        for spec in pod_specs(doc):
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                name, _, tag = container["image"].partition(":")
                for image in images:
                    if image["name"] == name:
                        new_name = image.get("newName", name)
                        container["image"] = f"{new_name}:{image.get('newTag', tag or 'latest')}"


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects ``directory``'s kustomization.yaml describes."""
    spec = load_documents(directory / "kustomization.yaml")[0]
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise RenderError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        docs += render(path) if path.is_dir() else load_documents(path)
    for entry in spec.get("patches", []):
        if set(entry) != {"path"}:
            raise RenderError(f"{directory}: only 'path' patches are supported, got {entry}")
        for patch in load_documents(directory / entry["path"]):
            targets = [i for i, d in enumerate(docs) if _identity(d) == _identity(patch)]
            if len(targets) != 1:
                raise RenderError(f"{directory}: patch {_identity(patch)} matches {len(targets)}")
            docs[targets[0]] = merge(docs[targets[0]], patch)
    _set_images(docs, spec.get("images", []))
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = spec["namespace"]
    return docs


def _canonical(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(d, sort_keys=True) for d in docs)


def compare_with_kubectl(directory: Path) -> bool:
    """True if ``kubectl kustomize directory`` renders the same objects."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)], check=True, capture_output=True, text=True
    ).stdout
    theirs = [d for d in yaml.safe_load_all(out) if d]
    return _canonical(theirs) == _canonical(render(directory))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python deploy/k8s/render.py", description=__doc__)
    parser.add_argument("directories", type=Path, nargs="+")
    parser.add_argument("--compare-kubectl", action="store_true")
    args = parser.parse_args(argv)
    if args.compare_kubectl:
        differ = [d for d in args.directories if not compare_with_kubectl(d)]
        for directory in differ:
            print(f"{directory}: kubectl kustomize renders other objects", file=sys.stderr)
        return 1 if differ else 0
    docs = [doc for directory in args.directories for doc in render(directory)]
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
