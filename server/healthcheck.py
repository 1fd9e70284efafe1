"""``python -m server.healthcheck``: exit 0 only if the local server reports SERVING.

Used by the container HEALTHCHECK. The port comes from ``PERSONALIZATION_PORT``
(default 50051) unless ``--target`` is given. For a TLS server pass ``--ca`` (and
``--cert``/``--key`` under mutual TLS); with ``auth_health`` on, the API key comes
from ``$PERSONALIZATION_CLIENT_API_KEY`` or ``--api-key-file``.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.security import client_tls


def check(
    target: str,
    service: str = "",
    timeout_s: float = 2.0,
    channel: grpc.Channel | None = None,
    metadata: list[tuple[str, str]] | None = None,
) -> bool:
    """True if ``target`` answers the gRPC health check for ``service`` with SERVING.

    ``channel`` (closed afterwards) replaces the default plaintext one, e.g. for TLS.
    """
    with channel or grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        try:
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=timeout_s,
                metadata=metadata or None,
            )
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name}", file=sys.stderr)  # type: ignore[attr-defined]
            return False
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(status, file=sys.stderr if reply.status != reply.SERVING else sys.stdout)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def main(argv: list[str] | None = None) -> int:
    # Read the env var directly rather than Settings(): a probe must not fail
    # because some unrelated setting is invalid.
    port = os.environ.get("PERSONALIZATION_PORT", "50051")
    parser = argparse.ArgumentParser(prog="python -m server.healthcheck")
    parser.add_argument("--target", default=f"127.0.0.1:{port}", help="host:port to probe")
    parser.add_argument("--service", default="", help="service name; '' = whole server")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds")
    client_tls.add_arguments(parser)
    args = parser.parse_args(argv)
    channel = client_tls.channel(args, args.target)
    metadata = client_tls.metadata(args)
    return 0 if check(args.target, args.service, args.timeout, channel, metadata) else 1


if __name__ == "__main__":
    sys.exit(main())
