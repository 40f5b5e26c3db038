"""The current verdict per account, read from the append-only label history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from graph_service.labels import account_verdicts, latest_account_labels

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _labels(rows: list[tuple[str, int | None, str, int]]) -> pa.Table:
    """(entity_type, entity_id, label, day) rows as ``store.labels()`` returns them."""
    return pa.table(
        {
            "entity_type": pa.array([r[0] for r in rows], pa.string()),
            "entity_id": pa.array([r[1] for r in rows], pa.int64()),
            "label": pa.array([r[2] for r in rows], pa.string()),
            "ts": pa.array([T0 + timedelta(days=r[3]) for r in rows], pa.timestamp("us", "UTC")),
            "author": pa.array(["analyst"] * len(rows), pa.string()),
        }
    )


def test_a_later_verdict_replaces_an_earlier_one_whatever_the_row_order() -> None:
    """Account 1 was fraud, then cleared; account 2 was cleared, then confirmed fraud. The
    rows arrive newest first: time decides, not position."""
    table = _labels(
        [
            ("Account", 1, "legit", 5),
            ("Account", 2, "fraud", 5),
            ("Account", 1, "fraud", 1),
            ("Account", 2, "legit", 1),
        ]
    )
    latest = latest_account_labels(table)
    assert dict(
        zip(latest.column("entity_id").to_pylist(), latest.column("label").to_pylist(), strict=True)
    ) == {
        1: "legit",
        2: "fraud",
    }
    fraud, legit = account_verdicts(table)
    assert fraud.tolist() == [2] and legit.tolist() == [1]


def test_of_two_verdicts_at_the_same_time_the_later_row_wins() -> None:
    """Same timestamp: the row written last stands."""
    table = _labels([("Account", 7, "fraud", 3), ("Account", 7, "legit", 3)])
    assert latest_account_labels(table).column("label").to_pylist() == ["legit"]


def test_labels_of_other_entities_and_of_accounts_not_in_the_graph_are_left_out() -> None:
    """A device label, and an account label without a store id (the account is not in the
    graph yet), give no account verdict."""
    table = _labels(
        [("Device", 3, "fraud", 1), ("Account", None, "fraud", 1), ("Account", 4, "fraud", 2)]
    )
    fraud, legit = account_verdicts(table)
    assert fraud.tolist() == [4] and legit.size == 0


def test_no_labels_give_empty_verdicts_of_the_right_types() -> None:
    """An empty label table: empty int64 id arrays and an empty latest table with its columns."""
    empty = _labels([])
    latest = latest_account_labels(empty)
    assert latest.num_rows == 0
    assert latest.column_names == ["entity_id", "label", "ts", "author"]
    fraud, legit = account_verdicts(empty)
    assert fraud.dtype == np.int64 and fraud.size == 0 and legit.size == 0
