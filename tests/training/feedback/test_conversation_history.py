"""``python -m training conversations``: the offline conversation state of logged traffic
is the shared fold of the logged turns and outcomes, point in time, written once.

The log (tests.support.decision_logs, modelio.logrecords' schema) holds three
conversations: "chat-a" (three turns; a failed outcome received before the next turn,
a success received only after the turn after next was decided), "chat-b" (an escalated
outcome, a shadow row, and a turn after more than the idle TTL: it starts over) and
"chat-c" (two turns with the same event time), plus a decision without a conversation,
a re-logged decision and an outcome of no decision.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.prepare import copy_repo
from modelio.conversation import (
    CONVERSATION_FEATURES,
    IDLE_TTL_S,
    ConversationState,
    after_outcome,
    after_turn,
    to_row,
)
from modelio.logrecords import DECISIONS, OUTCOMES
from modelio.store import open_store
from modelio.vocab import ACTIONS
from tests.support.decision_logs import T0, decision, outcome, write_part
from tests.support.feast import apply
from training.commands import conversations

S = timedelta(seconds=1)
SKEW = 2 * S  # the callers' clock (event_time) runs 2 s behind the server's (ts)


def _turn(
    decision_id: str, conversation: str, at: datetime, action: int, sentiment: float, **more: Any
) -> dict[str, Any]:
    row = decision(decision_id, ts=at, action_index=action, sentiment=sentiment)
    return {**row, "conversation_id": conversation, "event_time": at - SKEW, **more}


def _write_log(log_dir: Path) -> None:
    a1, a2, a3 = T0, T0 + 60 * S, T0 + 120 * S
    b1, b2 = T0 + 10 * S, T0 + 10 * S + timedelta(seconds=IDLE_TTL_S + 60)
    turns = [
        _turn("a1", "chat-a", a1, 0, -0.1, customer_id="C1"),
        _turn("b1", "chat-b", b1, 1, 0.4, customer_id="C2", issue_category="technical"),
        _turn("a2", "chat-a", a2, 2, -0.6, customer_id="C1", issue_category="technical"),
        # A shadow version's row of a2 (modelio.logrecords): never a turn.
        _turn("a2:shadow:v0", "chat-a", a2, 3, -0.6, arm="shadow:v0", customer_id="C1"),
        _turn("n1", "", a2, 0, 0.0, customer_id="C3"),  # no conversation: ignored
        _turn("a3", "chat-a", a3, 1, -0.3, customer_id="C1"),
        _turn("c1", "chat-c", a3, 0, 0.2, customer_id="C4"),
        _turn("c2", "chat-c", a3 + S, 1, 0.1, customer_id="C4", event_time=a3 - SKEW),
    ]
    write_part(log_dir, DECISIONS, turns, "part-a")
    later = [turns[0], _turn("b2", "chat-b", b2, 2, 0.0, customer_id="C2")]  # a1 re-logged
    write_part(log_dir, DECISIONS, later, "part-b")
    write_part(
        log_dir,
        OUTCOMES,
        [
            outcome("a1", a1, resolved=False, received_at=a1 + 30 * S),  # before a2
            outcome("b1", b1, resolved=True, escalated=True, received_at=b1 + 5 * S),
            outcome("a2", a2, resolved=True, received_at=a3 + 30 * S),  # after a3 was decided
            outcome("ghost", a1, received_at=a1 + S),  # of no logged decision
        ],
        "part-a",
    )


def _fold(steps: list[tuple[str, Any]]) -> list[ConversationState]:
    """The states after each turn, by hand: ("turn", args) and ("outcome", args)."""
    out: list[ConversationState] = []
    state: ConversationState | None = None
    for kind, args in steps:
        if kind == "turn":
            if state is not None:
                out.append(state)
            state = after_turn(state, *args)
        else:
            assert state is not None
            done = after_outcome(state, *args)
            assert done is not None
            state = done
    assert state is not None
    return [*out, state]


def _expected() -> pd.DataFrame:
    """Every row the command must write, computed with the shared fold."""
    at = {n: (T0 + s * S - SKEW) for n, s in (("a1", 0), ("a2", 60), ("a3", 120), ("b1", 10))}
    at["b2"] = T0 + 10 * S + timedelta(seconds=IDLE_TTL_S + 60) - SKEW
    a = _fold(
        [
            ("turn", (at["a1"].timestamp(), -0.1, "billing", ACTIONS[0], "a1")),
            ("outcome", ("a1", False)),
            ("turn", (at["a2"].timestamp(), -0.6, "technical", ACTIONS[2], "a2")),
            ("turn", (at["a3"].timestamp(), -0.3, "billing", ACTIONS[1], "a3")),
            ("outcome", ("a2", True)),
        ]
    )
    b1 = _fold(
        [
            ("turn", (at["b1"].timestamp(), 0.4, "technical", ACTIONS[1], "b1")),
            ("outcome", ("b1", False)),  # resolved but escalated: not a success
        ]
    )
    b2 = _fold([("turn", (at["b2"].timestamp(), 0.0, "billing", ACTIONS[2], "b2"))])
    c = _fold(
        [
            ("turn", (at["a3"].timestamp(), 0.2, "billing", ACTIONS[0], "c1")),
            ("turn", (at["a3"].timestamp(), 0.1, "billing", ACTIONS[1], "c2")),
        ]
    )
    rows = [
        ("chat-a", "C1", a[0], at["a1"]),
        ("chat-a", "C1", a[1], at["a2"]),
        ("chat-a", "C1", a[2], at["a3"]),
        ("chat-b", "C2", b1[0], at["b1"]),
        ("chat-b", "C2", b2[0], at["b2"]),
        ("chat-c", "C4", c[1], at["a3"]),  # one row per key: the later state
    ]
    return pd.DataFrame(
        [
            {"conversation_id": cid, "customer_id": cust, **to_row(s), "event_timestamp": when}
            for cid, cust, s, when in rows
        ]
    )


def _run(log_dir: Path, repo: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    args = argparse.Namespace(log_dir=log_dir, repo=repo, json=True)
    assert conversations.run(args) == 0
    return dict(json.loads(capsys.readouterr().out))


def _written(repo: Path) -> pd.DataFrame:
    frame = pq.read_table(repo / "data" / "conversation_state.parquet").to_pandas()
    return frame.sort_values(["conversation_id", "event_timestamp"], ignore_index=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of feature_repo/ after ``feast apply`` (its conversation file schema-only)."""
    path = copy_repo(tmp_path / "repo")
    apply(path)
    assert pq.read_metadata(path / "data" / "conversation_state.parquet").num_rows == 0
    return path


def test_rows_are_the_fold_of_the_logged_turns(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(tmp_path / "logs")
    report = _run(tmp_path / "logs", repo, capsys)
    got, want = _written(repo), _expected()
    columns = ["conversation_id", "customer_id", *CONVERSATION_FEATURES]
    pd.testing.assert_frame_equal(got[columns], want[columns], check_dtype=False)
    assert list(got["event_timestamp"]) == list(pd.to_datetime(want["event_timestamp"], utc=True))
    assert (got["created_timestamp"] == got["event_timestamp"]).all()
    # The failed outcome is in the state the next turn reads; the late success only after a3.
    assert list(got["outcomes"][:3]) == ["0", "0?", "01?"]
    assert list(got["outcomes"][3:5]) == ["0", "?"] and list(got["turns"][3:5]) == [1, 1]
    assert report | {"path": ""} == {
        "decisions": 7,  # a1..a3, b1, b2, c1, c2 (a1 once; no shadow, no n1)
        "without_conversation": 1,
        "conversations": 3,
        "outcomes_applied": 3,
        "outcomes_unmatched": 0,
        "outcomes_elsewhere": 1,
        "restarted": 1,
        "rows": 6,
        "added": 6,
        "replaced": 0,
        "file_rows": 6,
        "path": "",
    }


def test_rerun_rewrites_the_same_rows_and_keeps_others(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(tmp_path / "logs")
    _run(tmp_path / "logs", repo, capsys)
    first = _written(repo)
    again = _run(tmp_path / "logs", repo, capsys)
    assert (again["added"], again["replaced"], again["file_rows"]) == (0, 6, 6)
    pd.testing.assert_frame_equal(_written(repo), first)
    # A later log with one more outcome: the same keys, the row updated, nothing added.
    write_part(
        tmp_path / "logs",
        OUTCOMES,
        [outcome("a3", T0, resolved=False, received_at=T0 + 200 * S)],
        "part-b",
    )
    third = _run(tmp_path / "logs", repo, capsys)
    assert (third["added"], third["replaced"], third["file_rows"]) == (0, 6, 6)
    assert _written(repo)["outcomes"][2] == "010"


def test_an_outcome_changes_the_state_only_if_it_named_the_conversation(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As online: a RecordOutcome without the conversation ("") or naming another one
    leaves the state alone; one naming it (or a log from before the column) applies."""
    logs = tmp_path / "logs"
    turns = [_turn(f"d{i}", f"chat-{i}", T0 + i * S, 0, 0.0) for i in range(4)]
    write_part(logs, DECISIONS, turns, "part-a")
    named = ["chat-0", "", "chat-x", None]
    write_part(
        logs,
        OUTCOMES,
        [
            outcome(f"d{i}", T0, resolved=False, received_at=T0 + (i + 1) * S, conversation_id=c)
            for i, c in enumerate(named)
        ],
        "part-b",
    )
    report = _run(logs, repo, capsys)
    assert (report["outcomes_applied"], report["outcomes_elsewhere"]) == (2, 2)
    outcomes = dict(zip(_written(repo)["decision_ids"], _written(repo)["outcomes"], strict=True))
    assert outcomes == {"d0": "0", "d1": "?", "d2": "?", "d3": "0"}


def test_shadow_rows_are_ignored_even_without_their_arm(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    write_part(
        logs,
        DECISIONS,
        [
            _turn("s1", "chat-s", T0, 0, 0.0),
            _turn("s1:shadow:v9", "chat-s", T0 + S, 1, 0.0),  # arm lost (e.g. an old drain)
        ],
        "part-a",
    )
    report = _run(logs, repo, capsys)
    assert (report["decisions"], report["rows"]) == (1, 1)
    assert _written(repo)["decision_ids"].tolist() == ["s1"]


def test_feast_serves_the_written_state_point_in_time(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``get_historical_features`` with ``conversation_state_v1`` reads the written file:
    at each time the row of the latest turn at or before it, within the view's TTL."""
    _write_log(tmp_path / "logs")
    _run(tmp_path / "logs", repo, capsys)
    want = _expected()
    a2, a3 = want["event_timestamp"][1], want["event_timestamp"][2]
    b1, b2 = want["event_timestamp"][3], want["event_timestamp"][4]
    tiny = timedelta(microseconds=1)  # training.data.dataset.JUST_BEFORE
    asks = {
        ("chat-a", a3 - tiny): 1,  # what a3 was decided with: a2's row, a1's failure known
        ("chat-a", a3): 2,
        ("chat-a", a3 + timedelta(minutes=20)): 2,
        ("chat-b", b1 + timedelta(minutes=10)): 3,  # escalated: a failure
        ("chat-b", b2): 4,  # started over after the idle TTL
    }
    expired = {("chat-a", a2 - 60 * S - tiny), ("chat-b", b2 - tiny)}  # before a1; b1 too old
    keys = [*asks, *expired]
    entities = pd.DataFrame(keys, columns=["conversation_id", "event_timestamp"])
    entities["event_timestamp"] = pd.to_datetime(entities["event_timestamp"], utc=True)
    store = open_store(repo)
    service = store.get_feature_service("conversation_state_v1")
    got = store.get_historical_features(entity_df=entities, features=service).to_df()
    got["event_timestamp"] = pd.to_datetime(got["event_timestamp"], utc=True)
    by_key = {(r["conversation_id"], r["event_timestamp"]): r for r in got.to_dict("records")}
    for key, row in asks.items():
        served = by_key[(key[0], pd.Timestamp(key[1]))]
        assert {n: served[n] for n in CONVERSATION_FEATURES} == {
            n: want[n][row] for n in CONVERSATION_FEATURES
        }, key
    assert by_key[("chat-a", pd.Timestamp(a3 - tiny))]["outcomes"] == "0?"
    assert by_key[("chat-b", pd.Timestamp(b1 + timedelta(minutes=10)))]["outcomes"] == "0"
    for key in expired:  # Feast drops such an entity row or returns it without features
        served = by_key.get((key[0], pd.Timestamp(key[1])))
        assert served is None or pd.isna(served["turns"]), key


def test_command_line_prints_the_summary_and_checks_its_arguments(
    tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.__main__ import main

    _write_log(tmp_path / "logs")
    assert main(["conversations", "--log-dir", str(tmp_path / "logs"), "--repo", str(repo)]) == 0
    captured = capsys.readouterr()
    assert "[conversations] 3/3 merge into" in captured.err
    assert captured.out.splitlines()[-1].startswith(
        "conversations: 3 conversations, 6 rows written (6 new, 0 replaced), 6 in "
    )
    assert main(["conversations", "--log-dir", str(tmp_path / "none"), "--repo", str(repo)]) == 2
    assert "no log folder" in capsys.readouterr().err
    # A file with rows but not the view's layout is not overwritten.
    path = repo / "data" / "conversation_state.parquet"
    pd.DataFrame({"conversation_id": ["x"]}).to_parquet(path)
    assert main(["conversations", "--log-dir", str(tmp_path / "logs"), "--repo", str(repo)]) == 1
    assert "lacks conversation-state columns" in capsys.readouterr().err
    assert (
        pq.read_table(path).column_names[0] == "conversation_id"
        and pq.read_metadata(path).num_columns == 1
    )
