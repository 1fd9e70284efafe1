"""AdminService handlers: operator RPCs such as ReloadModels.

The service goes through the same interceptors as the decision RPCs (access log, auth
with role ``admin``, error mapping) but not through the concurrency limiter, so an
operator can still reload while the server sheds decision load. Errors propagate to
``interceptors.ErrorInterceptor``: a refused version is ``ModelLoadError`` ->
FAILED_PRECONDITION with the reason as details.
"""

from __future__ import annotations

import grpc

from personalization.v1 import admin_pb2 as admin_pb
from personalization.v1 import admin_pb2_grpc as admin_grpc
from server.models.reload import ModelReloader
from server.transport.access_log import annotate_access_log

ADMIN_SERVICE_NAME: str = admin_pb.DESCRIPTOR.services_by_name["AdminService"].full_name


class AdminServicer(admin_grpc.AdminServiceServicer):
    """Serves ReloadModels from a :class:`~server.models.reload.ModelReloader`."""

    def __init__(self, reloader: ModelReloader) -> None:
        self._reloader = reloader

    def ReloadModels(
        self, request: admin_pb.ReloadModelsRequest, context: grpc.ServicerContext
    ) -> admin_pb.ReloadModelsResponse:
        # The reload runs to completion even if the caller gives up meanwhile: a
        # half-done swap does not exist, and the log line records the outcome.
        result = self._reloader.reload(request.version.strip())
        annotate_access_log(model_version=result.loaded_version)
        return admin_pb.ReloadModelsResponse(
            previous_version=result.previous_version,
            loaded_version=result.loaded_version,
            message=result.message,
        )


def add_admin_service(server: grpc.Server, reloader: ModelReloader) -> None:
    admin_grpc.add_AdminServiceServicer_to_server(AdminServicer(reloader), server)
