"""Transfer-pattern features of named accounts (or every account) read from a store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import NodeType
from graph_service.store import GraphReader
from scoring.transfer_patterns import TransferPatternConfig, transfer_pattern_features

__all__ = ["store_transfer_patterns"]


def store_transfer_patterns(
    store: GraphReader,
    accounts: Sequence[str] | None = None,
    *,
    as_of: datetime | None = None,
    config: TransferPatternConfig | None = None,
) -> pa.Table:
    """The transfer-pattern features of ``accounts`` (keys), or of every account.

    Parameters
    ----------
    store : GraphReader
        Either backend: its ``export_transfers()`` is the input.
    accounts : sequence of str, optional
        Account keys (normalised as the store keys them). ``None``: every account with a
        transfer up to ``as_of``.
    as_of : datetime, optional
        Timezone-aware point in time (see :func:`transfer_pattern_features`).
    config : TransferPatternConfig, optional
        Default :class:`TransferPatternConfig()`.

    Returns
    -------
    pa.Table
        ``key`` (string) first, then the columns of :func:`transfer_pattern_features`,
        one row per account asked for, in the order asked; an account with no transfer
        up to ``as_of`` has a row whose counts are 0 and whose amounts and ratios are
        null (it moved no money, which is not the same as moving none of it on).

    Raises
    ------
    EntityNotFound
        If a key names no account in the store.
    InvalidInput
        For a naive ``as_of``.

    Notes
    -----
    The features of one account depend on its counterparties' transfers (cycles,
    scatter-gather), so the whole book is read: O(T log T) for T transfers, whatever
    the number of accounts asked for.
    """
    if accounts is not None:
        keys = list(accounts)
        ids = np.array([store.get_entity(NodeType.ACCOUNT, k).id for k in keys], np.int64)
    features = transfer_pattern_features(
        store.export_transfers(), as_of=as_of, config=config or TransferPatternConfig()
    )
    if accounts is None:
        ids = features.column("account").to_numpy()
        keys = _keys_of(store, ids)
    where = pc.index_in(pa.array(ids), value_set=features.column("account"))
    rows = features.take(where)
    columns = {"key": pa.array(keys, pa.string())}
    for name in features.column_names:
        column = rows.column(name)
        if name == "account":
            column = pa.array(ids)
        elif pa.types.is_integer(column.type):
            column = pc.fill_null(column, 0)
        columns[name] = column
    return pa.table(columns)


def _keys_of(store: GraphReader, ids: np.ndarray) -> list[str]:
    nodes = store.export_nodes()  # ordered by id
    at = np.searchsorted(nodes.column("id").to_numpy(), ids)
    keys: list[str] = nodes.column("key").take(pa.array(at)).to_pylist()
    return keys
