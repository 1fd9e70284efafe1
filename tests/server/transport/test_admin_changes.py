"""The admin servicer tells ``on_change`` (``--workers``: the supervisor) of each change
that succeeded, and of none that was refused."""

from __future__ import annotations

from typing import Any, cast

import pytest

from personalization.v1 import admin_pb2 as admin_pb
from server.errors import ModelLoadError
from server.models.reload import ModelReloader, ReloadResult
from server.transport.admin import AdminServicer


class Reloader:
    """Just ``reload``: refuses the version ``bad``."""

    def reload(self, version: str = "") -> ReloadResult:
        if version == "bad":
            raise ModelLoadError("refused")
        return ReloadResult("v1", version or "current", "ok")


def _servicer(heard: list[str]) -> AdminServicer:
    return AdminServicer(cast(ModelReloader, Reloader()), on_change=heard.append)


@pytest.mark.parametrize("version", ["", " v2 "])
def test_a_reload_is_passed_on_with_its_version(version: str) -> None:
    heard: list[str] = []
    request = admin_pb.ReloadModelsRequest(version=version)
    _servicer(heard).ReloadModels(request, cast(Any, None))
    assert heard == [version.strip()]


def test_a_refused_reload_is_not_passed_on() -> None:
    heard: list[str] = []
    with pytest.raises(ModelLoadError):
        _servicer(heard).ReloadModels(admin_pb.ReloadModelsRequest(version="bad"), cast(Any, None))
    assert heard == []
