"""``python -m bench.naive_server --port N --repo R --redis H:P --models-dir M``.

The straightforward way to serve the same models, as KServe's Feast transformer
sample does it: per call, Feast's SDK ``store.get_online_features(features=<feature
service>, entity_rows=[...])``, then onnxruntime on the rows. Decide reads one entity
row; DecideBatch (the ``feast_batch100`` entry) reads all of the batch's rows in one
``get_online_features`` call and runs each model once over the batch.

Request parsing, input encoding, the policy and the response are the project's own
code (``server.transport.convert``, ``modelio.context``, ``server.engine.assemble``),
so the comparison isolates the feature path and the per-call model plumbing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import grpc
import numpy as np

from bench.base import baseline_parser, grpc_server, serve_until_signal
from modelio.context import encode_inputs, vector
from modelio.conversation import conversation_inputs
from modelio.manifest import current_version_dir, load_manifest, uses_conversation
from modelio.vocab import ACTIONS
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.engine.assemble import Assembler, prepare
from server.features.base import CustomerFeatures
from server.settings import Settings
from server.transport.convert import (
    batch_from_proto,
    decision_request_from_proto,
)
from server.transport.convert_decision import decision_to_proto

Kind = Literal["segment", "escalation", "nba"]


class NaiveModels:
    """One plain onnxruntime session per model of the current version."""

    def __init__(self, models_dir: Path) -> None:
        import onnxruntime as ort

        version_dir = current_version_dir(models_dir)
        self.manifest = load_manifest(version_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # as many threads as the real server uses
        options.inter_op_num_threads = 1
        self.sessions = {
            kind: ort.InferenceSession(
                str(version_dir / spec.path), options, providers=["CPUExecutionProvider"]
            )
            for kind, spec in self.manifest.models.items()
        }

    def run(self, kind: Kind, rows: np.ndarray) -> np.ndarray:
        spec = self.manifest.models[kind]
        out = self.sessions[kind].run([spec.output], {spec.input_name: rows})[0]
        if kind == "segment":
            return out.reshape(-1)
        return out[:, 1] if out.ndim == 2 and out.shape[1] > 1 else out.reshape(-1)


class NaiveServicer(pb_grpc.PersonalizationServiceServicer):
    """Feast SDK + onnxruntime per call."""

    def __init__(self, store: Any, models: NaiveModels, settings: Settings) -> None:
        self.store = store
        self.models = models
        self.settings = settings
        self.service = store.get_feature_service(models.manifest.feature_service)
        self.assembler = Assembler(models.manifest)
        self.inputs = tuple(models.manifest.models["escalation"].inputs)
        self.conversational = uses_conversation(models.manifest)
        self.segment_inputs = tuple(models.manifest.models["segment"].inputs)

    def Decide(self, request: pb.DecideRequest, context: Any) -> pb.DecideResponse:
        req = decision_request_from_proto(
            request, max_customer_id_length=self.settings.max_customer_id_length
        )
        return self._decide([req])[0]

    def DecideBatch(self, request: pb.DecideBatchRequest, context: Any) -> pb.DecideBatchResponse:
        reqs = batch_from_proto(
            request,
            max_batch_size=self.settings.max_batch_size,
            max_customer_id_length=self.settings.max_customer_id_length,
        )
        return pb.DecideBatchResponse(responses=self._decide(reqs))

    def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: Any
    ) -> pb.RecordOutcomeResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive baseline only decides")
        raise AssertionError("context.abort() returned")

    def RecordOutcomeBatch(
        self, request: pb.RecordOutcomeBatchRequest, context: Any
    ) -> pb.RecordOutcomeBatchResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the naive baseline only decides")
        raise AssertionError("context.abort() returned")

    def _features(self, ids: list[str]) -> list[CustomerFeatures]:
        rows = [{"customer_id": cid} for cid in ids]
        table = self.store.get_online_features(features=self.service, entity_rows=rows).to_dict()
        now = time.time()
        out = []
        for i, cid in enumerate(ids):
            values = {k: v[i] for k, v in table.items() if k != "customer_id" and v[i] is not None}
            out.append(CustomerFeatures(cid, values, {"feast": now} if values else {}))
        return out

    def _decide(self, reqs: list[Any]) -> list[pb.DecideResponse]:
        found = self._features([r.customer_id for r in reqs])
        now = time.time()
        prepared = [prepare(r, f, now) for r, f in zip(reqs, found, strict=True)]
        defaults = self.models.manifest.defaults
        encoded = [encode_inputs(p.raw, p.req.context, defaults) for p in prepared]
        if self.conversational:  # no conversation state here: every turn is a first one
            for e, p in zip(encoded, prepared, strict=True):
                ctx = p.req.context
                at_s = ctx.event_time.timestamp()
                e.update(conversation_inputs(None, at_s, ctx.sentiment, ctx.issue_category))
        matrix = np.asarray([vector(e, self.inputs) for e in encoded], dtype=np.float32)
        seg_rows = np.asarray([vector(e, self.segment_inputs) for e in encoded], dtype=np.float32)
        labels = self.models.run("segment", seg_rows)
        risks = self.models.run("escalation", matrix)
        n, k = len(reqs), len(ACTIONS)
        nba_rows = np.hstack(
            [np.repeat(matrix, k, axis=0), np.tile(np.eye(k, dtype=np.float32), (n, 1))]
        )
        scores = self.models.run("nba", nba_rows).reshape(n, k)
        return [
            decision_to_proto(
                self.assembler.decision(p, int(labels[i]), float(risks[i]), scores[i].tolist())
            )
            for i, p in enumerate(prepared)
        ]


def main(argv: list[str] | None = None) -> None:
    """Run the naive server until SIGTERM."""
    from modelio.store import open_store

    parser = baseline_parser("python -m bench.naive_server", __doc__ or "")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--redis", required=True, help="host:port of the online store")
    parser.add_argument("--models-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings()
    store = open_store(args.repo, "redis", args.redis)
    servicer = NaiveServicer(store, NaiveModels(args.models_dir), settings)
    servicer._features(["warm-up"])  # first call loads the registry and connects
    server = grpc_server(settings)
    pb_grpc.add_PersonalizationServiceServicer_to_server(servicer, server)
    print(f"naive server ready at {datetime.now(UTC).isoformat()}", flush=True)
    serve_until_signal(server, args.host, args.port)


if __name__ == "__main__":
    main()
