"""Experiments over real channels: a real server on port 0 around a real engine.

LoadExperiment, Decide's arm and version, the decision log's arm and shadow rows,
refusal of a bad experiment, PromoteArm (with and without moving models/current), the
admin role and the audit lines of every switch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelio.experiment import load_experiment, write_experiment
from modelio.logrecords import DECISIONS
from modelio.manifest import current_version_dir
from personalization.v1 import admin_pb2 as admin_pb
from personalization.v1 import admin_pb2_grpc as admin_grpc
from personalization.v1 import personalization_pb2 as pb
from server.engine.decide import DecisionEngine
from server.models.runner import ModelRunner
from server.security.keys import KeyRecord, generate_key, hash_key, write_key_file
from server.security.policy import ADMIN, DECIDE
from tests.support.engines import ENGAGEMENT, NOW_TS, PROFILE, SUPPORT, ScriptedReader, features
from tests.support.experiments import experiment, experiment_versions, linked_models
from tests.support.record_logs import MemoryLog
from tests.support.servers import Running, make_request

Code = grpc.StatusCode
CUSTOMERS = [f"C{i:05d}" for i in range(80)]


@pytest.fixture(scope="module")
def source(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return experiment_versions(model_dir, tmp_path_factory.mktemp("admin-exp"))


@pytest.fixture
def models(source: Path, tmp_path: Path) -> Path:
    return linked_models(source, tmp_path / "models")


@pytest.fixture
def serve(
    start_server: Callable[..., Running], models: Path
) -> Iterator[Callable[..., tuple[Running, MemoryLog]]]:
    """Factory: a started server on ``models`` with a real engine and a MemoryLog."""
    engines: list[DecisionEngine] = []

    def start(**overrides: Any) -> tuple[Running, MemoryLog]:
        log = MemoryLog()
        values = {**PROFILE, **SUPPORT, **ENGAGEMENT}
        reader = ScriptedReader({c: features(c, values) for c in CUSTOMERS})
        engine = DecisionEngine(ModelRunner.load(models), reader, clock=lambda: NOW_TS, log=log)
        engines.append(engine)
        run = start_server(engine, models_dir=models, **overrides)
        run.wait_health("SERVING")
        return run, log

    yield start
    for engine in engines:
        engine.close()


def admin(run: Running) -> admin_grpc.AdminServiceStub:
    return admin_grpc.AdminServiceStub(run.channel)


def decide_all(run: Running) -> list[pb.DecideResponse]:
    batch = pb.DecideBatchRequest(requests=[make_request(c) for c in CUSTOMERS])
    return list(run.stub.DecideBatch(batch, timeout=30).responses)


def test_load_experiment_then_decide_reports_arm_and_version(
    serve: Callable[..., tuple[Running, MemoryLog]], models: Path
) -> None:
    run, log = serve()
    assert {r.arm for r in decide_all(run)} == {""}
    exp = experiment(shadow=["v3"])
    write_experiment(models, exp)
    reply = admin(run).LoadExperiment(admin_pb.LoadExperimentRequest(), timeout=30)
    assert reply.name == "exp" and list(reply.shadow_versions) == ["v3"]
    assert [(a.name, a.version, a.share, a.control) for a in reply.arms] == [
        ("control", "v1", 0.75, True),
        ("explore", "v2", 0.25, False),
    ]
    log.rows.clear()
    responses = decide_all(run)
    version = {"control": "v1", "explore": "v2"}
    assert {r.arm for r in responses} == {"control", "explore"}
    for cid, r in zip(CUSTOMERS, responses, strict=True):
        assert r.arm == exp.arm_of(cid).name and r.model_version == version[r.arm]
        one = run.stub.Decide(make_request(cid), timeout=10)  # same customer, same arm
        assert (one.arm, one.model_version) == (r.arm, r.model_version)
    rows = log.of(DECISIONS)
    served = {r["decision_id"]: r for r in rows if not r["arm"].startswith("shadow:")}
    shadow = [r for r in rows if r["arm"] == "shadow:v3"]
    assert len(shadow) == len(served)
    for r in responses:
        assert served[r.decision_id]["arm"] == r.arm
        assert f"{r.decision_id}:shadow:v3" in {s["decision_id"] for s in shadow}


def test_bad_experiment_is_refused_and_the_old_one_keeps_serving(
    serve: Callable[..., tuple[Running, MemoryLog]], models: Path
) -> None:
    run, _ = serve()
    write_experiment(models, experiment())
    admin(run).LoadExperiment(admin_pb.LoadExperimentRequest(), timeout=30)
    before = [(r.arm, r.model_version) for r in decide_all(run)]
    bad_arms = [
        {"name": "control", "version": "v1", "weight": 1},
        {"name": "broken", "version": "bad", "weight": 1},
    ]
    write_experiment(models, experiment(arms=bad_arms))
    with pytest.raises(grpc.RpcError) as info:
        admin(run).LoadExperiment(admin_pb.LoadExperimentRequest(), timeout=30)
    assert info.value.code() == Code.FAILED_PRECONDITION
    assert "version 'bad' refused" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:  # ReloadModels("") reads the same file
        admin(run).ReloadModels(admin_pb.ReloadModelsRequest(), timeout=30)
    assert info.value.code() == Code.FAILED_PRECONDITION
    assert [(r.arm, r.model_version) for r in decide_all(run)] == before


@pytest.mark.parametrize("move_current", [False, True])
def test_promote_makes_one_arm_serve_everything(
    serve: Callable[..., tuple[Running, MemoryLog]], models: Path, move_current: bool
) -> None:
    run, _ = serve()
    write_experiment(models, experiment(shadow=["v3"]))
    admin(run).LoadExperiment(admin_pb.LoadExperimentRequest(), timeout=30)
    request = admin_pb.PromoteArmRequest(arm="explore", move_current=move_current)
    reply = admin(run).PromoteArm(request, timeout=30)
    served = {(r.arm, r.model_version) for r in decide_all(run)}
    if move_current:
        assert served == {("", "v2")} and reply.current_version == "v2"
        assert current_version_dir(models).name == "v2"
        assert not (models / "experiment.json").exists()
        assert [a.version for a in reply.serving.arms] == ["v2"] and reply.serving.name == ""
    else:
        assert served == {("explore", "v2")} and reply.current_version == "v1"
        on_disk = load_experiment(models)
        assert on_disk is not None and [a.name for a in on_disk.arms] == ["explore"]
        assert list(reply.serving.shadow_versions) == []
    with pytest.raises(grpc.RpcError) as info:
        admin(run).PromoteArm(admin_pb.PromoteArmRequest(arm="control"), timeout=30)
    assert info.value.code() == (
        Code.FAILED_PRECONDITION if move_current else Code.INVALID_ARGUMENT
    )


def test_admin_experiment_rpcs_need_the_admin_role_and_are_audited(
    serve: Callable[..., tuple[Running, MemoryLog]], models: Path, tmp_path: Path
) -> None:
    decide_key, admin_key = generate_key(), generate_key()
    keys = tmp_path / "keys.json"
    write_key_file(
        keys,
        [
            KeyRecord("bot", hash_key(decide_key), frozenset({DECIDE})),
            KeyRecord("ops", hash_key(admin_key), frozenset({ADMIN})),
        ],
    )
    audit = tmp_path / "audit.jsonl"
    run, _ = serve(api_keys_file=keys, audit_log_path=audit)
    write_experiment(models, experiment())

    def bearer(key: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {key}")]

    calls: list[Callable[..., Any]] = [
        lambda md: admin(run).LoadExperiment(admin_pb.LoadExperimentRequest(), metadata=md),
        lambda md: admin(run).PromoteArm(admin_pb.PromoteArmRequest(arm="explore"), metadata=md),
    ]
    for call in calls:
        for metadata, code in [
            (None, Code.UNAUTHENTICATED),
            (bearer(decide_key), Code.PERMISSION_DENIED),
        ]:
            with pytest.raises(grpc.RpcError) as info:
                call(metadata)
            assert info.value.code() == code
    assert run.engine.experiment.experiment is None  # type: ignore[attr-defined]
    for call in calls:
        call(bearer(admin_key))
    with pytest.raises(grpc.RpcError):
        admin(run).PromoteArm(admin_pb.PromoteArmRequest(arm="nope"), metadata=bearer(admin_key))
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    admin_lines = [x for x in lines if "AdminService" in x["rpc"]]
    assert [(x["rpc"].rsplit("/", 1)[1], x["status"], x["principal"]) for x in admin_lines] == [
        ("LoadExperiment", "OK", "ops"),
        ("PromoteArm", "OK", "ops"),
        ("PromoteArm", "INVALID_ARGUMENT", "ops"),
    ]
    assert "experiment exp" in admin_lines[0]["detail"]
    assert admin_lines[1]["detail"].startswith("promote arm=explore move_current=False: ")
    assert "customer_id" not in admin_lines[0]
