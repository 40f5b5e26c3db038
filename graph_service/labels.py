"""Reading the label table: the current verdict on every labelled account.

Labels are an append-only history (who said what, when); every consumer that needs the
verdict that stands today reads it through :func:`latest_account_labels`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import Label, NodeType

__all__ = ["account_label_table", "account_verdicts", "latest_account_labels"]


def latest_account_labels(labels: pa.Table) -> pa.Table:
    """The latest label of every labelled account in the graph.

    Parameters
    ----------
    labels : pa.Table
        ``store.labels()``.

    Returns
    -------
    pa.Table
        ``entity_id`` (int64), ``label`` (string), ``ts`` (int64 µs), ``author`` (string),
        ordered by ``ts`` then ``entity_id``. Of two labels with the same ``ts``, the later
        row wins.

    Notes
    -----
    O(l log l) for l labels.
    """
    if labels.num_rows == 0:
        return account_label_table(
            np.zeros(0, np.int64), pa.array([], pa.string()), np.zeros(0, np.int64), None
        )
    mask = pc.and_(
        pc.equal(labels.column("entity_type"), NodeType.ACCOUNT.value),
        pc.is_valid(labels.column("entity_id")),
    )
    rows = labels.filter(mask)
    ids = rows.column("entity_id").to_numpy().astype(np.int64)
    ts = rows.column("ts").cast(pa.int64()).fill_null(0).to_numpy()
    order = np.lexsort((np.arange(ids.shape[0]), ts, ids))
    last = np.r_[ids[order][1:] != ids[order][:-1], True] if ids.size else np.zeros(0, bool)
    keep = order[last]
    keep = keep[np.lexsort((ids[keep], ts[keep]))]
    author = rows.column("author") if "author" in rows.column_names else pa.nulls(rows.num_rows)
    return account_label_table(
        ids[keep],
        rows.column("label").take(pa.array(keep)),
        ts[keep],
        author.cast(pa.string()).take(pa.array(keep)),
    )


def account_verdicts(labels: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Sorted store ids of the accounts whose latest label is fraud, and of those whose
    latest label is legit (see :func:`latest_account_labels`).

    Notes
    -----
    O(l log l) for l labels.
    """
    latest = latest_account_labels(labels)
    ids = latest.column("entity_id").to_numpy()
    fraud = np.asarray(
        pc.equal(latest.column("label"), Label.FRAUD.value).to_numpy(zero_copy_only=False)
    )
    legit = np.asarray(
        pc.equal(latest.column("label"), Label.LEGIT.value).to_numpy(zero_copy_only=False)
    )
    return np.sort(ids[fraud]), np.sort(ids[legit])


def account_label_table(
    ids: np.ndarray, label: pa.Array, ts: np.ndarray, author: pa.Array | None
) -> pa.Table:
    """``entity_id, label, ts, author`` columns as :func:`latest_account_labels` returns them
    (``author`` all null when ``None``)."""
    return pa.table(
        {
            "entity_id": pa.array(ids, pa.int64()),
            "label": label,
            "ts": pa.array(ts, pa.int64()),
            "author": author if author is not None else pa.nulls(ids.shape[0], pa.string()),
        }
    )
