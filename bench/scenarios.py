"""The servers and entries of the bench, and how each server is started and probed.

Entries (all closed loop, same concurrency, same client):

========================  ===============================  =========================
entry                     server                           call
========================  ===============================  =========================
``echo``                  bench.echo_server                Decide
``echo_full``             bench.echo_server --answer full  Decide
``echo_aio``              bench.echo_aio_server            Decide
``transport``             bench.transport_server           Decide
``decide``                ``python -m server`` (Redis)     Decide
``batch100``              ``python -m server`` (Redis)     DecideBatch of 100
``naive``                 bench.naive_server               Decide
``feast_batch100``        bench.naive_server               DecideBatch of 100
``feast_listen``          ``feast listen``                 GetOnlineFeatures, 1 id
``decide_2w``             ``python -m server``, 2 workers  Decide, 2 client procs
``decide_nolog``          ``python -m server``, log off    Decide
``decide_shadow``         ``python -m server``, 1 shadow   Decide
``decide_traced``         ``python -m server``, tracing    Decide
``echo_full_c1``          as ``echo_full``                 Decide, 1 caller
``decide_c1``             as ``decide``                    Decide, 1 caller
``decide_conv``           as ``decide``                    Decide in a conversation
``decide_conv_long``      as ``decide``                    ... of 30 turns
========================  ===============================  =========================

``decide_conv`` sends the same mix of Decides to the same server as ``decide``, each
one a turn of a conversation (``conversation_id``; ``loadgen.conversations``: one
customer, turn indices 1 to L with L drawn as ``decide`` draws turn indices, mean 2.8,
64 conversations in progress per caller): its state is read in the customer's pipeline
and updated by a compare-and-set after every answer, so the two give conversation
state's cost in the same run. ``decide_conv_long`` is the same with conversations of
30 turns, whose states grow to the 20 decisions a state keeps: the largest rows.

``decide`` runs as the product does, with the decision log on (the embedded parquet
sink in the bench's work folder); ``decide_nolog`` is the same server with
``decision_log=off``, so the two give the log's cost in the same run.

``decide_shadow`` is ``decide`` (log on) serving an experiment with one arm and one
shadow version (``models/experiment.json`` in its own models folder, whose versions
link to the bench's): the served version itself as the shadow, so its extra server CPU
per Decide is exactly one more scoring pass plus its decision-log row.

``decide_traced`` is ``decide`` with OpenTelemetry tracing on (``tracing=discard``):
every span is made and batched as with an OTLP collector, then dropped, so its extra
server CPU per Decide is tracing's cost on the request path without any network.

``decide_2w`` is the product as it should run on this 2-core machine: two worker
processes on one port. The kernel spreads connections, not calls, over the workers,
so its load comes from two client processes (two connections) with the same total
number of callers.

``transport`` is the product's gRPC layer with an engine that does nothing, so
``echo`` -> ``transport`` -> ``decide`` splits Decide's latency into what gRPC, our
transport and the engine cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bench.feast_listen import start_feast_listen
from bench.prepare import BenchData
from bench.procs import Child, ProcessGroup, base_env, free_port, python_module
from loadgen.workload import Workload, build_pool
from modelio.experiment import Arm, Experiment, write_experiment
from modelio.manifest import current_version_dir, set_current
from server.settings import Settings

READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Entry:
    """One row of the results table."""

    name: str
    server: str  # one of SERVERS
    rpc: str  # loadgen rpc: decide | batch | feast
    batch_size: int = 1
    processes: int = 0  # client processes; 0: the bench's --processes
    concurrency: int = 0  # closed-loop callers; 0: the bench's --concurrency
    conversations: int = 0  # > 0: Decides are conversation turns, this many in progress per caller
    conversation_turns: int = 0  # turns of each conversation (0: drawn, mean 2.8)


ENTRIES: tuple[Entry, ...] = (
    Entry("echo", "echo", "decide"),
    Entry("echo_full", "echo_full", "decide"),
    Entry("echo_aio", "echo_aio", "decide"),
    Entry("transport", "transport", "decide"),
    Entry("decide", "decide", "decide"),
    Entry("batch100", "decide", "batch", 100),
    Entry("naive", "naive", "decide"),
    Entry("feast_batch100", "naive", "batch", 100),
    Entry("feast_listen", "feast_listen", "feast"),
    Entry("decide_2w", "decide_2w", "decide", processes=2),
    Entry("decide_nolog", "decide_nolog", "decide"),
    Entry("decide_shadow", "decide_shadow", "decide"),
    Entry("decide_traced", "decide_traced", "decide"),
    # One caller, one call at a time: what a bot backend calling turn by turn pays.
    Entry("echo_full_c1", "echo_full", "decide", concurrency=1),
    Entry("decide_c1", "decide", "decide", concurrency=1),
    Entry("decide_conv", "decide", "decide", conversations=64),
    Entry("decide_conv_long", "decide", "decide", conversations=64, conversation_turns=30),
)
SERVERS: tuple[str, ...] = (
    "echo",
    "echo_full",
    "echo_aio",
    "transport",
    "decide",
    "naive",
    "feast_listen",
    "decide_2w",
    "decide_nolog",
    "decide_shadow",
    "decide_traced",
)
#: Servers that need no prepared data (they start while it is being prepared).
DATALESS: tuple[str, ...] = ("echo", "echo_full", "echo_aio", "transport")
DECIDE_WORKERS = {
    "decide": 1,
    "decide_2w": 2,
    "decide_nolog": 1,
    "decide_shadow": 1,
    "decide_traced": 1,
}
#: Servers built by ``server.app`` that take the decide server's ``--server-env``.
DECIDE_SETTINGS: tuple[str, ...] = (*DECIDE_WORKERS, "transport")


def server_command(
    name: str, port: int, data: BenchData | None
) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of bench server ``name`` (not feast_listen)."""
    if name == "echo_full":
        return python_module("bench.echo_server", "--port", str(port), "--answer", "full"), (
            base_env()
        )
    if name in DATALESS:
        return python_module(f"bench.{name}_server", "--port", str(port)), base_env()
    if data is None:
        raise ValueError(f"{name} needs the prepared data")
    if name == "naive":
        args = (
            "--port",
            str(port),
            "--repo",
            str(data.repo),
            "--redis",
            data.redis,
            "--models-dir",
            str(data.models_dir),
        )
        return python_module("bench.naive_server", *args), base_env()
    if name in DECIDE_WORKERS:
        env = base_env(
            PERSONALIZATION_WORKERS=str(DECIDE_WORKERS[name]),
            PERSONALIZATION_HOST="127.0.0.1",
            PERSONALIZATION_PORT=str(port),
            PERSONALIZATION_ONLINE_STORE="redis",
            PERSONALIZATION_REDIS=data.redis,
            PERSONALIZATION_FEATURE_REPO=str(data.repo),
            PERSONALIZATION_MODELS_DIR=str(
                shadow_models(data) if name == "decide_shadow" else data.models_dir
            ),
            PERSONALIZATION_DECISION_LOG="off" if name == "decide_nolog" else "file",
            PERSONALIZATION_DECISION_LOG_DIR=str(data.repo.parent / "decision-logs" / name),
            PERSONALIZATION_TRACING="discard" if name == "decide_traced" else "off",
        )
        return python_module("server"), env
    raise ValueError(f"unknown bench server {name!r}")


def shadow_models(data: BenchData) -> Path:
    """A models folder beside the bench's: its versions and ``current`` linked, plus an
    ``experiment.json`` with one arm (the current version) shadowed by that version."""
    root = data.repo.parent / "models-shadow"
    root.mkdir(parents=True, exist_ok=True)
    for version_dir in data.models_dir.iterdir():
        link = root / version_dir.name
        if version_dir.is_dir() and not link.exists():
            link.symlink_to(version_dir.resolve(), target_is_directory=True)
    version = current_version_dir(data.models_dir).name
    set_current(root, version)
    arm = Arm(name="main", version=version, weight=1.0, control=True)
    write_experiment(
        root, Experiment(name="bench-shadow", salt="bench", arms=(arm,), shadow=(version,))
    )
    return root


@dataclass
class Running:
    """A started bench server: its process, address and a request that must succeed."""

    name: str
    child: Child
    target: str
    rpc: str

    def wait_ready(self, known: tuple[str, ...], timeout_s: float = READY_TIMEOUT_S) -> None:
        """Block until one real call succeeds (raises with the server's log if never)."""
        probe = build_pool(Workload(rpc=self.rpc, known_ids=known, batch_size=1, pool_size=4))[0]
        method = Workload(rpc=self.rpc).method
        check = lambda: probe_call(self.target, method, probe)  # noqa: E731
        self.child.wait_until(check, timeout_s, "successful call")


def launch_server(
    group: ProcessGroup, name: str, data: BenchData | None, decide_env: dict[str, str] | None = None
) -> Running:
    """Start server ``name`` on a free port (without waiting for it).

    ``decide_env`` overrides the decide server's environment (e.g. its settings).
    """
    port = free_port()
    if name == "feast_listen":
        if data is None:
            raise ValueError("feast_listen needs the prepared data")
        child = start_feast_listen(group, data.repo, data.redis, port, Settings().thread_pool_size)
        rpc = "feast"
    else:
        cmd, env = server_command(name, port, data)
        if name in DECIDE_SETTINGS:
            env.update(decide_env or {})
        child = group.start(name, cmd, env)
        rpc = "decide"
    return Running(name, child, f"127.0.0.1:{port}", rpc)


def probe_call(target: str, method: str, payload: bytes) -> bool:
    """True if one call to ``method`` with ``payload`` returns OK within 2 s."""
    with grpc.insecure_channel(target) as channel:
        call: Any = channel.unary_unary(method)
        try:
            call(payload, timeout=2.0)
        except grpc.RpcError:
            return False
    return True
