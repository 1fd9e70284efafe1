"""``python -m training forget CUSTOMER_ID...``: erase customers everywhere we keep them.

For each id, in this order (see docs/privacy.md):

1. the Feast online store(s) -- ``--online-store`` (repeatable; default
   ``$PERSONALIZATION_ONLINE_STORE`` or sqlite) plus the repository's SQLite file
   whenever it exists. The next request for the customer is then answered
   ``unknown_customer``, without personalization;
2. every parquet table under the data folder (and ``--extra-parquet`` files or
   folders, e.g. exported training sets) with a ``customer_id`` column (feature
   sources, raw tables, decision and outcome logs, ground truth), plus the rows of
   tables linked to removed rows by ``ticket_id`` / ``decision_id``;
3. the decision and outcome logs: parquet parts under ``--log-dir`` (default ``logs``,
   when it exists) -- decisions by ``customer_id``, outcomes by the removed decisions'
   ``decision_id`` -- and, with ``--redis``, the log streams ``<--stream-prefix>:decisions``
   / ``:outcomes`` and their dead-letter streams (scanned, XDEL), and the behavioural-event
   stream, its dead letters and applied-id markers (``--events-stream``);
4. the audit log (``--audit-log``, default ``$PERSONALIZATION_AUDIT_LOG_PATH``; hashed
   lines need ``$PERSONALIZATION_AUDIT_HMAC_KEY`` or ``--audit-hmac-key-file``) and any
   other JSON-lines logs given with ``--logs``.

Then one line per customer is appended to the erasure record (``--record``, default
``<data>/erasures.jsonl``) holding a keyed hash of the id, never the id, and what
was removed where; finally the raw bytes of the data folder and the logs are searched
for the ids as a safety net. Running it again removes nothing more and says so.

Exit status: 0 done; 1 some place failed (re-run once fixed: it is idempotent);
2 bad arguments; 3 erased, but an id's bytes are still found in a file (listed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from training.erasure.events import EVENTS_DEAD_LETTER_STREAM, EVENTS_STREAM
from training.erasure.forget import (
    AUDIT_KEY_ENV,
    AUDIT_LOG_ENV,
    ERASURE_KEY_ENV,
    RECORD_NAME,
    erase,
    erasure_records,
    read_key,
    unique,
)
from training.store_args import add_online_store

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RESIDUAL = 0, 1, 2, 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("customer_ids", nargs="+", metavar="CUSTOMER_ID")
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="parquet tables (default: REPO/data)"
    )
    add_online_store(
        parser,
        "store(s) to erase from, repeatable; default $PERSONALIZATION_ONLINE_STORE or "
        "sqlite. The SQLite file is always cleaned when it exists.",
        repeatable=True,
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="host:port[,host:port...][,password=...]; env PERSONALIZATION_REDIS",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=Path("logs"),
        help="decision/outcome log parts (python -m training drain-log), cleaned if present",
    )
    parser.add_argument(
        "--stream-prefix",
        default="personalization",
        help="log streams <prefix>:decisions/outcomes, cleaned with --redis",
    )
    parser.add_argument(
        "--events-stream",
        default=EVENTS_STREAM,
        help="behavioural-event stream (python -m server.events), cleaned with --redis, "
        "with its applied-id markers",
    )
    parser.add_argument(
        "--events-dead-letter-stream",
        default=EVENTS_DEAD_LETTER_STREAM,
        help="refused events, cleaned with --redis",
    )
    parser.add_argument(
        "--audit-log",
        type=Path,
        default=None,
        help=f"the server's audit log (default ${AUDIT_LOG_ENV})",
    )
    parser.add_argument(
        "--audit-hmac-key-file",
        type=Path,
        default=None,
        help=f"file holding the audit HMAC key (default ${AUDIT_KEY_ENV}); needed to find "
        "hashed audit lines",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="other JSON-lines logs to clean (decision/outcome logs, rotated audit logs)",
    )
    parser.add_argument(
        "--extra-parquet",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="more parquet files or folders to clean, e.g. exported training sets "
        "(artifacts/training_set.parquet)",
    )
    parser.add_argument(
        "--record", type=Path, default=None, help=f"erasure record (default DATA/{RECORD_NAME})"
    )
    parser.add_argument(
        "--erasure-key-file",
        type=Path,
        default=None,
        help=f"key hashing ids in the record (default ${ERASURE_KEY_ENV}, else the audit key)",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the raw-byte search for leftovers"
    )


def _report(customer_ids: list[str], outcomes: list[Any], out: TextIO) -> None:
    for n, cid in enumerate(customer_ids, 1):
        print(f"[{n}/{len(customer_ids)}] {cid}", file=out)
        total = 0
        for o in outcomes:
            count = o.count(cid)
            if not count:
                continue
            total += count
            detail = o.detail.get(cid) or {}
            if o.unit == "keys":  # a Redis hash holds every view: name them
                extra = f" (views: {', '.join(detail)})" if detail else ""
            else:
                extra = f" ({', '.join(f'{k} {v}' for k, v in detail.items())})" if detail else ""
            unit = o.unit[:-1] if count == 1 else o.unit
            print(f"    {o.area:<8} {o.place}: {count} {unit}{extra}", file=out)
        if total:
            print(f"    removed {total} in all", file=out)
        else:
            print("    nothing found: already erased or never stored", file=out)


def run(args: argparse.Namespace) -> int:
    from training.erasure.record import append_records
    from training.erasure.verify import files_under, find_ids

    out = sys.stdout
    customer_ids = unique(args.customer_ids)
    if any(not cid or cid != cid.strip() for cid in customer_ids):
        print("forget: customer ids must be non-empty, without surrounding spaces", file=sys.stderr)
        return EXIT_USAGE
    args.data_dir = args.data_dir or args.repo / "data"
    if not (args.repo / "feature_store.yaml").is_file() or not args.data_dir.is_dir():
        # A mistyped path must not look like "nothing found".
        print(f"forget: no Feast repository at {args.repo} with data in {args.data_dir}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if args.audit_log is None and os.environ.get(AUDIT_LOG_ENV, "").strip():
        args.audit_log = Path(os.environ[AUDIT_LOG_ENV].strip())
    record_path: Path = args.record or args.data_dir / RECORD_NAME
    try:
        record_key = read_key(args.erasure_key_file, ERASURE_KEY_ENV, AUDIT_KEY_ENV)
        if args.audit_hmac_key_file is not None:
            read_key(args.audit_hmac_key_file)
    except OSError as exc:
        print(f"forget: cannot read key file: {exc}", file=sys.stderr)
        return EXIT_USAGE

    started = time.perf_counter()
    print(f"forget: {len(customer_ids)} customer(s); data {args.data_dir}", file=out)
    outcomes = erase(args, customer_ids)
    _report(customer_ids, outcomes, out)
    failed = [o for o in outcomes if o.error]
    for o in failed:
        print(f"FAILED {o.area} {o.place}: {o.error}", file=out)
    append_records(record_path, erasure_records(customer_ids, outcomes, record_key))
    how = "keyed hash" if record_key else "unlinkable hash (no erasure or audit key set)"
    print(
        f"erasure record: {len(customer_ids)} line(s) appended to {record_path} ({how})", file=out
    )

    code = EXIT_FAILED if failed else EXIT_OK
    if not args.no_verify:
        audit = [args.audit_log] if args.audit_log else []
        logs_dir = [args.log_dir] if args.log_dir.is_dir() else []
        places = [args.data_dir, *args.extra_parquet, *logs_dir, *audit, *args.logs]
        residual = find_ids(files_under(places), customer_ids)
        for cid, paths in residual.items():
            listed = ", ".join(str(p) for p in paths)
            print(f"WARNING: bytes of {cid} still found in: {listed}", file=out)
        if residual and not failed:
            code = EXIT_RESIDUAL
        elif not residual:
            print("verify: no file under the data folder or the logs holds an id", file=out)
    status = {EXIT_OK: "done", EXIT_FAILED: "INCOMPLETE", EXIT_RESIDUAL: "done, with leftovers"}
    print(f"forget: {status[code]} in {time.perf_counter() - started:.1f}s", file=out)
    return code
