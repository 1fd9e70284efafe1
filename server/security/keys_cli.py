"""``python -m server.keys``: manage the API-key file.

::

    python -m server.keys new --id chatbot-eu --role decide --file keys.json
    python -m server.keys list --file keys.json
    python -m server.keys revoke --id chatbot-eu --file keys.json

``new`` prints the generated key once, on stdout, and stores only its salted hash:
copy it into the client's secret store right away, it cannot be shown again. The
server reads the file at startup, so restart it (or roll the pods) after a change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.errors import KeyFileError
from server.security.keys import KeyRecord, generate_key, hash_key, read_key_file, write_key_file
from server.security.policy import ROLES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m server.keys", description="Manage API keys.")
    sub = p.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="create a key, print it once, store its hash")
    new.add_argument("--id", required=True, help="unique name, e.g. the calling team or bot")
    new.add_argument(
        "--role", action="append", required=True, choices=sorted(ROLES), help="repeatable"
    )
    lst = sub.add_parser("list", help="list key ids and roles (hashes are not shown)")
    revoke = sub.add_parser("revoke", help="delete a key")
    revoke.add_argument("--id", required=True)
    for cmd in (new, lst, revoke):
        cmd.add_argument("--file", type=Path, required=True, help="key file (.json/.yaml)")
    return p


def _load(path: Path, must_exist: bool) -> list[KeyRecord]:
    if not path.exists() and not must_exist:
        return []
    return read_key_file(path, ROLES)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        records = _load(args.file, must_exist=args.command != "new")
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "list":
        for r in records:
            print(f"{r.id}\t{','.join(sorted(r.roles))}")
        return 0
    if args.command == "revoke":
        kept = [r for r in records if r.id != args.id]
        if len(kept) == len(records):
            print(f"error: no key with id {args.id!r}", file=sys.stderr)
            return 1
        write_key_file(args.file, kept)
        print(f"revoked {args.id!r}; restart the server to apply", file=sys.stderr)
        return 0
    if any(r.id == args.id for r in records):
        print(f"error: id {args.id!r} already exists; revoke it first", file=sys.stderr)
        return 1
    key = generate_key()
    write_key_file(args.file, [*records, KeyRecord(args.id, hash_key(key), frozenset(args.role))])
    print(key)
    print(
        f"stored the hash of key {args.id!r} in {args.file}; the key above is not "
        "stored anywhere and will not be shown again",
        file=sys.stderr,
    )
    return 0
