"""Single transfers read back from the stored event files."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graph_service.errors import InvalidInput
from graph_service.transfers import TRANSFER_EXPORT_SCHEMA, transfer_events

_ACCOUNTS = pa.table({"id": pa.array([0, 1, 2], pa.int64()), "key": ["A0", "A1", "A2"]})


def _events(path: Path, rows: list[tuple[str, str, str | None, int, float | None]]) -> Path:
    pq.write_table(
        pa.table(
            {
                "event_type": [r[0] for r in rows],
                "account_id": [r[1] for r in rows],
                "counterparty_account_id": pa.array([r[2] for r in rows], pa.string()),
                "ts": pa.array(
                    [datetime(2026, 1, r[3], tzinfo=UTC) for r in rows], pa.timestamp("us", "UTC")
                ),
                "amount": pa.array([r[4] for r in rows], pa.float64()),
            }
        ),
        path,
    )
    return path


def test_transfers_between_known_accounts_come_back_with_their_ids_oldest_first(
    tmp_path: Path,
) -> None:
    """Transfers of two files, with account keys mapped to ids and ordered by time;
    events without a counterparty, to the payer itself or to an account not in the graph
    are left out; a missing amount counts as 0, as in the links."""
    first = _events(
        tmp_path / "a.parquet",
        [
            ("transfer", "A0", "A1", 5, 10.0),
            ("payment", "A0", None, 2, 3.0),
            ("transfer", "A1", "A1", 3, 4.0),
            ("transfer", "A1", "B9", 3, 4.0),
        ],
    )
    second = _events(tmp_path / "b.parquet", [("transfer", "A2", "A0", 1, None)])
    table = transfer_events([first, second], _ACCOUNTS)
    assert table.schema == TRANSFER_EXPORT_SCHEMA
    assert [(r["src"], r["dst"], r["amount"]) for r in table.to_pylist()] == [
        (2, 0, 0.0),
        (0, 1, 10.0),
    ]


def test_a_missing_event_file_is_reported_and_the_rest_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An event file gone from disk is named in a warning; the other files still count."""
    kept = _events(tmp_path / "a.parquet", [("transfer", "A0", "A1", 5, 10.0)])
    with caplog.at_level(logging.WARNING, logger="graph_service.transfers"):
        table = transfer_events([tmp_path / "gone.parquet", kept], _ACCOUNTS)
    assert table.num_rows == 1
    assert "event files missing" in caplog.text
    assert transfer_events([], _ACCOUNTS).num_rows == 0


def test_accounts_without_a_key_column_are_refused() -> None:
    """The accounts table must hold ``id`` and ``key``."""
    with pytest.raises(InvalidInput, match="key"):
        transfer_events([], pa.table({"id": pa.array([0], pa.int64())}))
