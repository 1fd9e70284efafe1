"""One line per bench entry: what it measures (the results table's last column)."""

from __future__ import annotations

ENTRY_NOTES = {
    "echo": "bare gRPC server, same proto service and grpc.server settings; empty response",
    "echo_full": "`echo` answering a canned DecideResponse of the real size (our floor)",
    "echo_aio": "`echo` on grpc.aio instead of the thread-pool server (the flavour alone)",
    "echo_full_c1": "`echo_full`, one caller, one call at a time",
    "decide_c1": "`decide`, one caller, one call at a time (a bot calling turn by turn)",
    "transport": "our server (interceptors, validation, converters) around an engine that "
    "returns one precomputed decision: no features, no models",
    "decide": "`python -m server`, Redis online store (the product)",
    "batch100": "our DecideBatch, 100 turns per call",
    "naive": "per call Feast `get_online_features(feature_service)` + onnxruntime",
    "feast_batch100": "naive server's DecideBatch: one Feast call for 100 ids + onnxruntime",
    "feast_listen": "`feast listen` GetOnlineFeatures, 1 id: features only, no models",
    "decide_2w": "`python -m server --workers 2` (one per core), load from 2 client processes",
    "decide_nolog": "`decide` with `decision_log=off`: the decision log's cost, same run",
    "decide_shadow": "`decide` with an experiment scoring one shadow version on every call "
    "(logged): the shadow's cost, same run",
    "decide_conv": "`decide`, each call a turn of a conversation (1 + Exp(0.45) turns, mean "
    "2.8; state read with the customer, compare-and-set after the answer): conversation "
    "state's cost",
    "decide_conv_long": "`decide_conv` with conversations of 30 turns (states up to the 20 "
    "decisions they keep): the largest states' cost",
    "decide_traced": "`decide` with OpenTelemetry tracing on (spans made and batched, then "
    "discarded): tracing's cost, same run",
}
