"""Single transfers between accounts, read back from the stored events.

Links aggregate a payer's transfers to one payee (count, sum, first and last time), which
is what the projection and the API need; money passed on by a mule is only visible
payment by payment (see ``scoring.pass_through``). Both backends keep every committed
event in Parquet (``events_files``), so the single transfers are read from there, with
the same account ids as the graph, by one DuckDB pass that needs no store-specific code.

Examples
--------
>>> empty = pa.table({"id": pa.array([], pa.int64()), "key": pa.array([], pa.string())})
>>> transfer_events([], empty).schema == TRANSFER_EXPORT_SCHEMA
True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from graph_service.model import LINK_TARGET_COLUMN, LinkType
from graph_service.tables import require_columns

__all__ = ["TRANSFER_EXPORT_SCHEMA", "transfer_events"]

log = logging.getLogger(__name__)

#: Columns of ``export_transfers``: one row per stored transfer, ordered by time.
TRANSFER_EXPORT_SCHEMA = pa.schema(
    [
        pa.field("src", pa.int64(), nullable=False),
        pa.field("dst", pa.int64(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
    ]
)


def transfer_events(files: Sequence[Path], accounts: pa.Table) -> pa.Table:
    """Every stored transfer between two accounts of the graph, oldest first.

    Parameters
    ----------
    files : sequence of Path
        The store's committed event files (``events_files()``); files that are gone
        from disk are left out with a warning (their transfers still count in the
        aggregated links).
    accounts : pa.Table
        ``id`` (int64) and ``key`` (string) of every account node.

    Returns
    -------
    pa.Table
        In :data:`TRANSFER_EXPORT_SCHEMA`, ordered by ``(ts, src, dst)``; transfers
        to the payer itself or with an end not among ``accounts``
        are left out. Every event naming a counterparty is a transfer (as for the
        ``TRANSFERS_TO`` links), so the rows of a link are exactly its ``n_events``.

    Raises
    ------
    InvalidInput
        When ``accounts`` lacks ``id`` or ``key``.

    Notes
    -----
    One scan of the event files (only the columns used) and two hash joins on the
    account key, in DuckDB.
    """
    require_columns(accounts, ("id", "key"), "accounts")
    present = [str(f) for f in files if Path(f).is_file()]
    if len(present) < len(files):
        log.warning(
            "event files missing: their transfers are read from the links only",
            extra={"missing": len(files) - len(present), "files": len(files)},
        )
    if not present:
        return TRANSFER_EXPORT_SCHEMA.empty_table()
    con = duckdb.connect()
    try:
        con.register("accounts", accounts.select(["id", "key"]))
        table = con.execute(
            "SELECT p.id AS src, q.id AS dst, e.ts, coalesce(e.amount, 0)::DOUBLE AS amount "
            "FROM read_parquet(?, union_by_name = true) e "
            "JOIN accounts p ON p.key = e.account_id "
            f"JOIN accounts q ON q.key = e.{LINK_TARGET_COLUMN[LinkType.TRANSFERS_TO]} "
            "WHERE e.account_id <> q.key "
            "ORDER BY e.ts, src, dst",
            [present],
        ).to_arrow_table()
    finally:
        con.close()
    return table.cast(TRANSFER_EXPORT_SCHEMA)
