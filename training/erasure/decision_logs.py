"""Remove customers from the decision and outcome logs: parquet parts and Redis streams.

Decisions are matched by ``customer_id``; outcomes carry no customer id, so they are
matched by the ``decision_id`` of a removed decision (found in the parquet parts or in
the decision stream). Parquet parts are rewritten like every other table
(:func:`training.erasure.offline.erase_table`: temp file, fsync, rename, fsync of the
folder; untouched when nothing matches). Streams are scanned (XRANGE) and matching
entries deleted (XDEL); dead-letter entries (malformed, so not parseable as rows) are
deleted when any field holds an id as a token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelio.logrecords import DECISIONS, OUTCOMES, STREAM_FIELD
from training.erasure.offline import CUSTOMER_COLUMN, _Match, erase_table, parquet_files
from training.erasure.types import Outcome
from training.feedback.streams import KINDS, dead_stream_name, scan, stream_name, text

Owners = dict[str, str]  # decision_id -> customer id


def erase_parquet_logs(
    log_dir: Path, kind: str, match: _Match, owners: Owners, collect: bool
) -> Outcome:
    """Rows of ``<log_dir>/<kind>`` parts matching ``match``; with ``collect``, record the
    removed rows' decision ids in ``owners``. Counts go to the customer of each row."""
    out = Outcome("logs", str(log_dir / kind), "rows")
    files = parquet_files(log_dir / kind)
    if not files:
        out.note = "no parquet parts"
    for path in files:
        try:
            counts, found = erase_table(path, match, ("decision_id",) if collect else ())
        except Exception as exc:  # report, go on with the other parts
            out.error = f"{path.name}: {type(exc).__name__}: {exc}"
            continue
        for key, n in counts.items():
            cid = key if collect else owners[key]
            out.removed[cid] = out.removed.get(cid, 0) + n
            out.detail.setdefault(cid, {}).setdefault("parts", 0)
            out.detail[cid]["parts"] += 1
        if collect:
            owners.update(found.get("decision_id", {}))
    return out


def _row(fields: dict[Any, Any]) -> dict[str, Any] | None:
    raw = fields.get(STREAM_FIELD) or fields.get(STREAM_FIELD.encode())
    try:
        row = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def erase_stream(
    client: Any, stream: str, key: str, wanted: dict[str, str], collect: Owners | None
) -> Outcome:
    """XDEL every entry of ``stream`` whose row's ``key`` is in ``wanted`` (value → customer)."""
    out = Outcome("logs", f"redis {stream}", "entries")
    doomed: list[str] = []
    for entry_id, fields in scan(client, stream):
        row = _row(fields)
        value = row.get(key) if row else None
        if not isinstance(value, str) or value not in wanted:
            continue
        cid = wanted[value]
        doomed.append(entry_id)
        out.removed[cid] = out.removed.get(cid, 0) + 1
        if collect is not None and isinstance(row, dict) and row.get("decision_id"):
            collect[str(row["decision_id"])] = cid
    for start in range(0, len(doomed), 500):
        client.xdel(stream, *doomed[start : start + 500])
    return out


def erase_dead(client: Any, stream: str, customer_ids: Sequence[str], owners: Owners) -> Outcome:
    """XDEL dead-letter entries whose fields mention an id or a removed decision id."""
    out = Outcome("logs", f"redis {stream}", "entries")
    wanted = {cid: cid for cid in customer_ids} | owners
    pattern = re.compile(
        "(?<![A-Za-z0-9])(" + "|".join(map(re.escape, sorted(wanted, key=len, reverse=True)))
        + ")(?![A-Za-z0-9])"
    )  # fmt: skip
    doomed = []
    for entry_id, fields in scan(client, stream):
        found = pattern.search(" ".join(text(v) for v in fields.values()))
        if found:
            doomed.append(entry_id)
            cid = wanted[found.group(1)]
            out.removed[cid] = out.removed.get(cid, 0) + 1
    if doomed:
        client.xdel(stream, *doomed)
    return out


def erase_logs(
    log_dir: Path | None, client: Any | None, prefix: str, customer_ids: Sequence[str]
) -> list[Outcome]:
    """Decisions, then their outcomes, from the parquet logs and (with ``client``) streams."""
    owners: Owners = {}
    outcomes: list[Outcome] = []
    by_customer = _Match(CUSTOMER_COLUMN, customer_ids)
    if log_dir is not None:
        outcomes.append(erase_parquet_logs(log_dir, DECISIONS, by_customer, owners, True))
    if client is not None:
        wanted = {cid: cid for cid in customer_ids}
        stream = stream_name(prefix, DECISIONS)
        outcomes.append(erase_stream(client, stream, CUSTOMER_COLUMN, wanted, owners))
    if log_dir is not None and owners:
        match = _Match("decision_id", owners)
        outcomes.append(erase_parquet_logs(log_dir, OUTCOMES, match, owners, False))
    if client is not None:
        stream = stream_name(prefix, OUTCOMES)
        outcomes.append(erase_stream(client, stream, "decision_id", dict(owners), None))
        for kind in KINDS:
            outcomes.append(
                erase_dead(client, dead_stream_name(prefix, kind), customer_ids, owners)
            )
    return outcomes
