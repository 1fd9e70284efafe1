"""Decision-log rows (``modelio.logrecords.DECISION_SCHEMA``) from what the engine used.

The request path only keeps references: a :class:`DecisionColumns` holds the batch's
prepared requests, its (Decision, Choice) pairs and the numpy input and score matrices
the models ran on, which costs a microsecond per batch. The rows, and then the Arrow
table, are built on the log's writer thread (``ArrowRows.arrow``), a column at a time:
one list per scalar column, the matrices handed to Arrow as flat buffers, the features
JSON encoded once per distinct customer. A dict per row and ``pa.Table.from_pylist``
cost about 40 µs per decision here; see docs/learning-loop.md for the log's measured
cost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from modelio.experiment import SHADOW_PREFIX
from modelio.logrecords import DECISION_SCHEMA
from modelio.policy import Choice
from modelio.vocab import ACTIONS
from server.engine.assemble import Prepared
from server.engine.types import Decision
from server.logs.base import ArrowRows

#: List columns the engine already holds as matrices, and their value types.
_MATRICES: dict[str, type[np.floating[Any]]] = {"inputs": np.float32, "scores": np.float64}
_ACTION_INDEX = {action: i for i, action in enumerate(ACTIONS)}
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def features_json(raw: Mapping[str, Any]) -> str:
    """The raw online features as a JSON object (``{}`` for unknown customers).

    orjson, not the standard library: a customer's ~20 features encode several times
    faster (numpy scalars and datetimes natively)."""
    if not raw:
        return "{}"
    try:
        return orjson.dumps(dict(raw), default=_json_default, option=_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        # Built on the log's writer thread for a whole flush: a value orjson cannot
        # encode (bytes, a huge int) must not cost the other rows, so it is logged as text.
        return json.dumps({str(k): str(v) for k, v in raw.items()})


def shadow_id(decision_id: str, version: str) -> str:
    """The decision id of a shadow version's row: ``<served id>:shadow:<version>``."""
    return f"{decision_id}:{SHADOW_PREFIX}{version}"


#: The columns of DECISION_SCHEMA kept per row, in the order :func:`_row` builds them;
#: the other two (``_MATRICES``) stay the engine's matrices.
_SCALARS = (
    "decision_id",
    "ts",
    "customer_id",
    "request_id",
    "conversation_id",
    "model_version",
    "arm",
    "channel",
    "device",
    "issue_category",
    "sentiment",
    "event_time",
    "time_zone",
    "locale",
    "turn_index",
    "features",
    "probabilities",
    "action",
    "action_index",
    "propensity",
    "escalation_probability",
    "segment_id",
    "personalized",
    "degraded",
    "degraded_reasons",
)


def _row(
    p: Prepared, d: Decision, c: Choice, ts: datetime, features: str, decision_id: str
) -> tuple[Any, ...]:
    ctx, nba = p.req.context, d.next_best_action
    return (
        decision_id,
        ts,
        p.req.customer_id,
        d.request_id,
        p.req.conversation_id,
        d.model_version,
        d.arm,
        ctx.channel,
        ctx.device,
        ctx.issue_category,
        ctx.sentiment,
        ctx.event_time,
        ctx.timezone,
        ctx.locale,
        ctx.turn_index,
        features,
        c.probabilities,
        nba.action,
        _ACTION_INDEX[nba.action],
        nba.propensity,
        d.escalation_risk.probability,
        d.segment.id,
        d.personalized,
        bool(d.degraded_reasons),
        d.degraded_reasons,
    )


class DecisionColumns(ArrowRows):
    """One decided batch's rows, in request order.

    The request path only takes references: the batch's prepared requests and
    (Decision, Choice) pairs (immutable), the numpy ``inputs`` (n, inputs; float32,
    what the escalation model read) and ``scores`` (n, actions; predicted successes).
    The row tuples and the features JSON are made on the log's writer thread
    (:meth:`values`), a flush's worth of rows in one loop: built per request instead,
    between a gRPC call's other work, the same code ran at several times the cost
    (docs/learning-loop.md). A shadow version's rows pass ``served``, the rows they
    shadow: their ids are the served ids suffixed (:func:`shadow_id`), and they share
    its time and features JSON.
    """

    def __init__(
        self,
        prepared: Sequence[Prepared],
        decided: Sequence[tuple[Decision, Choice]],
        inputs: np.ndarray,
        scores: np.ndarray,
        ts: datetime,
        served: DecisionColumns | None = None,
    ) -> None:
        self.inputs, self.scores = inputs, scores
        self.ts: datetime = ts if served is None else served.ts
        self._prepared, self._decided, self._served = prepared, decided, served
        self._values: list[tuple[Any, ...]] | None = None
        self._features: list[str] | None = None

    def __len__(self) -> int:
        return len(self._decided)

    @property
    def ids(self) -> list[str]:
        """The rows' decision ids."""
        if self._served is None:
            return [d.decision_id for d, _ in self._decided]
        pairs = zip(self._served.ids, self._decided, strict=True)
        return [shadow_id(i, d.model_version) for i, (d, _) in pairs]

    @property
    def features(self) -> list[str]:
        """Each row's raw features as JSON (the served rows', for a shadow)."""
        if self._features is None:
            served = self._served
            self._features = _features(self._prepared) if served is None else served.features
        return self._features

    @property
    def values(self) -> list[tuple[Any, ...]]:
        """One tuple per row, :data:`_SCALARS` order (built once)."""
        if self._values is None:
            ts = self.ts
            self._values = [
                _row(p, d, c, ts, f, i)
                for p, (d, c), f, i in zip(
                    self._prepared, self._decided, self.features, self.ids, strict=True
                )
            ]
        return self._values

    def build(self) -> pa.Table:
        return self.merged([self])

    @classmethod
    def merged(cls, parts: Sequence[ArrowRows]) -> pa.Table:
        """Many batches' rows as one table, each column converted once over all parts
        (a lone Decide is a batch of one; a table per row would cost more than it)."""
        own = [p for p in parts if isinstance(p, DecisionColumns)]
        values = list(zip(*(row for p in own for row in p.values), strict=True))
        by_name = dict(zip(_SCALARS, values, strict=True)) if values else {}
        arrays = []
        for f in DECISION_SCHEMA:
            if f.name in _MATRICES:
                matrices = [getattr(p, f.name) for p in own]
                arrays.append(_lists(matrices, _MATRICES[f.name]))
            else:
                arrays.append(pa.array(by_name.get(f.name, ()), type=f.type))
        return pa.Table.from_arrays(arrays, schema=DECISION_SCHEMA)


def _features(prepared: Sequence[Prepared]) -> list[str]:
    """Each request's features JSON, encoded once per distinct customer of the batch
    (a batch's repeats of a customer share one mapping)."""
    encoded: dict[int, str] = {}
    out = []
    for p in prepared:
        key = id(p.raw)
        if key not in encoded:
            encoded[key] = features_json(p.raw)
        out.append(encoded[key])
    return out


class WithShadows(ArrowRows):
    """A served batch's rows followed by its shadow versions' rows: one submit, so a
    full log in refuse mode takes all of them or none."""

    def __init__(self, served: DecisionColumns, shadows: Sequence[DecisionColumns]) -> None:
        self.parts = (served, *shadows)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def build(self) -> pa.Table:
        return DecisionColumns.merged(self.parts)

    def leaves(self) -> Sequence[ArrowRows]:
        return self.parts


def _lists(matrices: Sequence[np.ndarray], dtype: type[np.floating[Any]]) -> pa.Array:
    """Stacked (n, k) matrices as an Arrow list array of rows of k values, without a
    Python object per row: the flat values plus offsets."""
    values = np.ascontiguousarray(np.concatenate(matrices), dtype=dtype)
    n, k = values.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))


def _json_default(value: Any) -> Any:
    # Readers may hand back numpy scalars or datetimes; everything else is plain JSON.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
