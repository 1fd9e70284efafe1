"""What every baseline server of the bench shares: gRPC settings, flags and shutdown.

Baselines run in their own process (``python -m bench.echo_server --port N``)
with exactly the grpc.server options, thread pool and message limits of the real
server (``server.app``), so only the work inside the handler differs.
"""

from __future__ import annotations

import argparse
import signal
import threading
from concurrent import futures

import grpc

from server.app import server_options
from server.settings import Settings


def baseline_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """Flags common to all baseline servers."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    return parser


def grpc_server(settings: Settings) -> grpc.Server:
    """A grpc.Server configured like the real one (no interceptors, no health)."""
    return grpc.server(
        futures.ThreadPoolExecutor(settings.thread_pool_size, thread_name_prefix="rpc"),
        options=server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )


def serve_until_signal(server: grpc.Server, host: str, port: int) -> None:
    """Bind, start, and run until SIGTERM/SIGINT; then stop within one second."""
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound != port:
        raise SystemExit(f"could not bind {host}:{port}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"listening on {host}:{port}", flush=True)
    stop.wait()
    server.stop(1.0).wait()
