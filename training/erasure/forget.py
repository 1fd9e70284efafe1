"""What ``python -m training forget`` erases, in order, and the erasure record lines.

The order, the places and the record are described in :mod:`training.commands.forget`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from training.store_args import store_settings

AUDIT_KEY_ENV = "PERSONALIZATION_AUDIT_HMAC_KEY"
ERASURE_KEY_ENV = "PERSONALIZATION_ERASURE_HMAC_KEY"
AUDIT_LOG_ENV = "PERSONALIZATION_AUDIT_LOG_PATH"
RECORD_NAME = "erasures.jsonl"
_T = TypeVar("_T")


def read_key(path: Path | None, *env_names: str) -> str | None:
    if path is not None:
        return path.read_text().strip() or None
    for name in env_names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def unique(items: Sequence[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


def _stores(args: argparse.Namespace) -> list[str]:
    kinds = args.online_store or [store_settings().online_store]
    kinds = unique(kinds)
    if "sqlite" not in kinds:
        from modelio.store import repo_config

        db = Path(repo_config(args.repo, "sqlite").online_store.path)
        if (db if db.is_absolute() else args.repo / db).exists():
            kinds.insert(0, "sqlite")
    return kinds


def erase(args: argparse.Namespace, customer_ids: list[str]) -> list[Any]:
    """Every store and file, in order; returns the list of Outcome."""
    from training.erasure.logs import erase_audit_log, erase_jsonl
    from training.erasure.offline import erase_offline
    from training.erasure.online import erase_online, join_key
    from training.erasure.types import Outcome

    outcomes: list[Outcome] = []
    for kind in _stores(args):
        try:
            key = join_key(args.repo, kind, args.redis)
            outcomes.append(erase_online(args.repo, kind, args.redis, customer_ids, key))
        except Exception as exc:  # unreachable Redis, locked SQLite...: report, go on
            outcomes.append(Outcome("online", kind, "values", error=f"{type(exc).__name__}: {exc}"))
    outcomes.extend(erase_offline(args.data_dir, customer_ids, unique(args.extra_parquet)))
    outcomes.extend(_erase_decision_logs(args, customer_ids))
    if args.redis:
        outcomes.extend(_erase_events(args, customer_ids))
    audit_key = read_key(args.audit_hmac_key_file, AUDIT_KEY_ENV)
    if args.audit_log is not None:
        try:
            outcomes.append(erase_audit_log(args.audit_log, customer_ids, audit_key))
        except Exception as exc:
            outcomes.append(
                Outcome("logs", str(args.audit_log), "lines", error=f"{type(exc).__name__}: {exc}")
            )
    for path in unique(args.logs):
        try:
            outcomes.append(erase_jsonl(path, customer_ids, audit_key))
        except Exception as exc:
            outcomes.append(
                Outcome("logs", str(path), "lines", error=f"{type(exc).__name__}: {exc}")
            )
    return outcomes


def _erase_decision_logs(args: argparse.Namespace, customer_ids: list[str]) -> list[Any]:
    """The decision/outcome log parts under ``--log-dir`` and, with ``--redis``, the
    log streams (``--stream-prefix``), on a Redis Cluster wherever their keys live."""
    from training.erasure.decision_logs import erase_logs
    from training.erasure.types import Outcome
    from training.feedback.streams import DEFAULT_PREFIX, connect

    log_dir = getattr(args, "log_dir", None)
    log_dir = log_dir if log_dir is not None and log_dir.is_dir() else None
    prefix = getattr(args, "stream_prefix", DEFAULT_PREFIX)
    client = None
    if args.redis:
        try:
            client = connect(args.redis)
        except Exception as exc:
            place = f"redis {prefix}:*"
            error = f"{type(exc).__name__}: {exc}"
            return [
                Outcome("logs", place, "entries", error=error),
                *erase_logs(log_dir, None, prefix, customer_ids),
            ]
    try:
        return erase_logs(log_dir, client, prefix, customer_ids)
    except Exception as exc:
        return [
            Outcome(
                "logs", f"decision logs {log_dir}", "rows", error=f"{type(exc).__name__}: {exc}"
            )
        ]


def _erase_events(args: argparse.Namespace, customer_ids: list[str]) -> list[Any]:
    """The behavioural-event streams and their applied-id markers on ``--redis``."""
    from training.erasure.events import erase_events
    from training.erasure.types import Outcome
    from training.feedback.streams import connect

    stream, dead = args.events_stream, args.events_dead_letter_stream
    try:
        return erase_events(connect(args.redis), customer_ids, stream, dead)
    except Exception as exc:
        return [Outcome("logs", f"redis {stream}", "entries", error=f"{type(exc).__name__}: {exc}")]


def _redact(text: str, customer_ids: list[str]) -> str:
    """An error message fit for the record: no customer id in it."""
    for cid in sorted(customer_ids, key=len, reverse=True):
        text = text.replace(cid, "<customer id>")
    return text


def erasure_records(customer_ids: list[str], outcomes: list[Any], key: str | None) -> list[dict]:
    from training.erasure.record import key_id, now_iso, subject

    ts = now_iso()
    errors = [_redact(f"{o.area} {o.place}: {o.error}", customer_ids) for o in outcomes if o.error]
    records = []
    for cid in customer_ids:
        removed: dict[str, dict[str, int]] = {"online": {}, "offline": {}, "logs": {}}
        for o in outcomes:
            if o.count(cid):
                removed[o.area][o.place] = o.count(cid)
        records.append({
            "ts": ts,
            "subject": subject(cid, key),
            "key_id": key_id(key) if key is not None else None,
            "status": "incomplete" if errors else "complete",
            "total": sum(sum(v.values()) for v in removed.values()),
            "removed": removed,
            "errors": errors,
        })  # fmt: skip
    return records
