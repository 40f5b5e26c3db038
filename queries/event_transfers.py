"""Single transfers of given ``TRANSFERS_TO`` links, read from the store's event files.

The graph keeps transfers aggregated per (payer, payee) link; every backend also keeps
each committed event in Parquet (``events_files``, see :mod:`graph_service.transfers`).
Time-respecting queries need the single transfers of the links they touch, so both
query backends answer ``MoneyFlowBackend.link_transfers`` through :func:`link_transfers`:
one DuckDB statement over the event files, joined with the wanted links by account key,
capped with ``LIMIT`` and interrupted at a timeout. The SQL text is constant; the files,
the links and the cap are bound parameters or a registered Arrow table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import duckdb
import numpy as np
import pyarrow as pa

from graph_service.errors import BackendUnavailable, InvalidInput, QueryTimeout
from graph_service.model import LINK_TARGET_COLUMN, LinkType
from graph_service.store import GraphReader
from graph_service.typing import I64
from queries.backends import Row

__all__ = ["EventFilesReadable", "link_transfers"]

log = logging.getLogger(__name__)

_COUNTERPARTY: Final = LINK_TARGET_COLUMN[LinkType.TRANSFERS_TO]

_LINK_TRANSFERS: Final = f"""
SELECT w.src, w.dst, epoch_us(e.ts) AS ts_us, coalesce(e.amount, 0)::DOUBLE AS amount
FROM read_parquet($files, union_by_name = true) e
JOIN _wanted w ON w.src_key = e.account_id AND w.dst_key = e.{_COUNTERPARTY}
WHERE e.ts IS NOT NULL
ORDER BY w.src, w.dst, ts_us, amount LIMIT $cap
"""


@runtime_checkable
class EventFilesReadable(Protocol):
    """A store that names its committed event files (both backends)."""

    def events_files(self) -> list[Path]:
        """Committed event Parquet files, in commit order."""
        ...


def link_transfers(
    store: GraphReader, src: I64, dst: I64, cap: int, *, timeout_s: float
) -> list[Row]:
    """The single transfers of the links ``src[i] -> dst[i]``.

    Parameters
    ----------
    store : GraphReader
        A store that also has ``events_files`` (both backends do).
    src, dst : I64, shape (n,)
        Account ids of the links' payers and payees.
    cap : int
        At most this many rows.
    timeout_s : float
        The read is interrupted after this many seconds.

    Returns
    -------
    list of rows
        ``(src, dst, ts_us, amount)`` (``SINGLE_TRANSFER_ROW``) ordered by src, dst, time,
        amount; a transfer without an amount counts 0. Event files gone from disk are
        left out with a warning.

    Raises
    ------
    BackendUnavailable
        If the store names no event files.
    InvalidInput
        If ``src`` and ``dst`` differ in length.
    QueryTimeout
        If the read runs past ``timeout_s``.

    Examples
    --------
    >>> link_transfers(store, np.array([0]), np.array([1]), 10, timeout_s=30)  # doctest: +SKIP
    [(0, 1, 1769954400000000, 100.0), (0, 1, 1769958000000000, 50.0)]

    Notes
    -----
    One scan of the event files (three columns and the time), hash-joined with the
    wanted links by key: O(events + links).
    """
    if not isinstance(store, EventFilesReadable):
        raise BackendUnavailable(f"store {store!r} names no event files")
    src_ids = np.asarray(src, np.int64)
    dst_ids = np.asarray(dst, np.int64)
    if src_ids.shape != dst_ids.shape:
        raise InvalidInput("src and dst must have the same length")
    if cap <= 0 or src_ids.size == 0:
        return []
    files = _present(store.events_files())
    if not files:
        return []
    keys = {e.id: e.key for e in store.get_entities(np.union1d(src_ids, dst_ids).tolist())}
    wanted = [(int(s), int(d)) for s, d in zip(src_ids, dst_ids, strict=True)]
    wanted = [(s, d) for s, d in wanted if s in keys and d in keys]
    table = pa.table(
        {
            "src": pa.array([s for s, _ in wanted], pa.int64()),
            "dst": pa.array([d for _, d in wanted], pa.int64()),
            "src_key": pa.array([keys[s] for s, _ in wanted], pa.string()),
            "dst_key": pa.array([keys[d] for _, d in wanted], pa.string()),
        }
    )
    con = duckdb.connect()
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        con.register("_wanted", table)
        return list(con.execute(_LINK_TRANSFERS, {"files": files, "cap": cap}).fetchall())
    except duckdb.InterruptException as exc:
        raise QueryTimeout(
            f"reading single transfers ran past its timeout of {timeout_s:g} s and was stopped"
        ) from exc
    finally:
        timer.cancel()
        con.close()


def _present(files: Sequence[Path]) -> list[str]:
    present = [str(f) for f in files if Path(f).is_file()]
    if len(present) < len(files):
        log.warning(
            "event files missing: their single transfers are left out",
            extra={"missing": len(files) - len(present), "files": len(files)},
        )
    return present
