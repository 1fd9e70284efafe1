"""AdminService handlers: operator RPCs (ReloadModels, LoadExperiment, PromoteArm).

The service goes through the same interceptors as the decision RPCs (access log, auth
with role ``admin``, error mapping) but not through the concurrency limiter, so an
operator can still reload while the server sheds decision load. Errors propagate to
``interceptors.ErrorInterceptor``: a refused version is ``ModelLoadError`` ->
FAILED_PRECONDITION with the reason as details.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from personalization.v1 import admin_pb2 as admin_pb
from personalization.v1 import admin_pb2_grpc as admin_grpc
from server.models.experiment import ServedExperiment
from server.models.reload import ModelReloader
from server.transport.access_log import annotate_access_log

ADMIN_SERVICE_NAME: str = admin_pb.DESCRIPTOR.services_by_name["AdminService"].full_name

#: Told what changed after a successful admin RPC: the version named in ReloadModels, or
#: "" when the result is what a reload of ``models/`` as it stands gives (ReloadModels
#: without a version, LoadExperiment, PromoteArm). ``--workers`` uses it to pass the
#: change on to the other worker processes (server.workers).
OnChange = Callable[[str], None]


class AdminServicer(admin_grpc.AdminServiceServicer):
    """Serves the AdminService from a :class:`~server.models.reload.ModelReloader`."""

    def __init__(self, reloader: ModelReloader, on_change: OnChange | None = None) -> None:
        self._reloader = reloader
        self._on_change = on_change

    def _changed(self, version: str) -> None:
        if self._on_change is not None:
            self._on_change(version)

    def ReloadModels(
        self, request: admin_pb.ReloadModelsRequest, context: grpc.ServicerContext
    ) -> admin_pb.ReloadModelsResponse:
        # The reload runs to completion even if the caller gives up meanwhile: a
        # half-done swap does not exist, and the log line records the outcome.
        result = self._reloader.reload(request.version.strip())
        annotate_access_log(model_version=result.loaded_version)
        self._changed(request.version.strip())
        return admin_pb.ReloadModelsResponse(
            previous_version=result.previous_version,
            loaded_version=result.loaded_version,
            message=result.message,
        )

    def LoadExperiment(
        self, request: admin_pb.LoadExperimentRequest, context: grpc.ServicerContext
    ) -> admin_pb.LoadExperimentResponse:
        served = self._reloader.load_experiment()
        annotate_access_log(model_version=served.default.bundle.version)
        self._changed("")
        return experiment_to_proto(served, f"serving {served.describe()}")

    def PromoteArm(
        self, request: admin_pb.PromoteArmRequest, context: grpc.ServicerContext
    ) -> admin_pb.PromoteArmResponse:
        result = self._reloader.promote(request.arm.strip(), request.move_current)
        annotate_access_log(model_version=result.serving.default.bundle.version)
        self._changed("")
        return admin_pb.PromoteArmResponse(
            serving=experiment_to_proto(result.serving, result.message),
            current_version=result.current_version,
        )


def experiment_to_proto(served: ServedExperiment, message: str) -> admin_pb.LoadExperimentResponse:
    """What serves, as the admin replies describe it (one arm "" without experiment)."""
    exp = served.experiment
    if exp is None:
        arm = served.arms[0]
        arms = [admin_pb.ExperimentArm(name=arm.name, version=arm.bundle.version, share=1.0)]
        return admin_pb.LoadExperimentResponse(arms=arms, message=message)
    bounds = exp.cumulative()
    arms = [
        admin_pb.ExperimentArm(name=a.name, version=a.version, share=hi - lo, control=a.control)
        for a, hi, lo in zip(exp.arms, bounds, (0.0, *bounds[:-1]), strict=True)
    ]
    return admin_pb.LoadExperimentResponse(
        name=exp.name, arms=arms, shadow_versions=list(exp.shadow), message=message
    )


def add_admin_service(
    server: grpc.Server, reloader: ModelReloader, on_change: OnChange | None = None
) -> None:
    admin_grpc.add_AdminServiceServicer_to_server(AdminServicer(reloader, on_change), server)
