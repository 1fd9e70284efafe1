"""Fixtures of this folder: every kustomization of deploy/k8s rendered once, and
``start_server`` (tests/support/servers) for the client balancing test."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.support.k8s import K8S, OVERLAYS, Doc, load_renderer, overlay_dir
from tests.support.servers import start_server

__all__ = ["example_secrets", "rendered", "renderer", "start_server"]


@pytest.fixture(scope="session")
def renderer() -> ModuleType:
    return load_renderer()


@pytest.fixture(scope="session")
def rendered(renderer: ModuleType) -> dict[str, list[Doc]]:
    """Overlay name -> its objects (base included, as an overlay of nothing)."""
    return {name: renderer.render(overlay_dir(name)) for name in OVERLAYS}


@pytest.fixture(scope="session")
def example_secrets(renderer: ModuleType) -> list[Doc]:
    """The Secrets production expects to exist (created by hand, not by the overlay)."""
    return list(renderer.load_documents(K8S / "overlays" / "production" / "secrets.example.yaml"))
