"""Reading the label table: the current verdict on every labelled account.

Labels are an append-only history (who said what, when); every consumer that needs the
verdict that stands today reads it through :func:`latest_account_labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import InvalidInput
from graph_service.model import Label, NodeType

__all__ = [
    "LabelEntry",
    "account_label_table",
    "account_verdicts",
    "checked_label_entries",
    "latest_account_labels",
]


@dataclass(frozen=True, slots=True)
class LabelEntry:
    """One verdict to append (see ``GraphStore.add_labels``).

    Attributes
    ----------
    node_type : NodeType
    key : str
        The entity's normalised key (it need not exist in the graph yet).
    label : {"fraud", "legit"}
    source : str
        Where the verdict comes from (``"api"``, ``"api:ring:<id>"``, a file...).
    author, reason : str or None
        Free text.
    ts : datetime or None
        When the verdict was reached (timezone-aware); default: the time of the write.
    """

    node_type: NodeType
    key: str
    label: str
    source: str
    author: str | None = None
    reason: str | None = None
    ts: datetime | None = None


def checked_label_entries(entries: Sequence[LabelEntry], *, now: datetime) -> list[LabelEntry]:
    """``entries`` checked, with ``ts`` defaulted to ``now``: what every backend writes.

    Raises
    ------
    InvalidInput
        Naming the first bad entry (by position): not a :class:`LabelEntry`, a node type
        that is not a ``NodeType``, a blank key or source, a label other than fraud or
        legit, or a naive ``ts``.
    """
    checked: list[LabelEntry] = []
    verdicts = {v.value for v in Label}
    for i, entry in enumerate(entries):
        if not isinstance(entry, LabelEntry):
            raise InvalidInput(f"label {i}: expected a LabelEntry, got {type(entry).__name__}")
        if not isinstance(entry.node_type, NodeType):
            raise InvalidInput(f"label {i}: node_type must be a NodeType, got {entry.node_type!r}")
        if not isinstance(entry.key, str) or not entry.key.strip():
            raise InvalidInput(f"label {i}: the entity key is blank")
        if entry.label not in verdicts:
            raise InvalidInput(
                f"label {i}: label must be one of {sorted(verdicts)}, got {entry.label!r}"
            )
        if not isinstance(entry.source, str) or not entry.source.strip():
            raise InvalidInput(f"label {i}: the source is blank")
        if entry.ts is not None and entry.ts.utcoffset() is None:
            raise InvalidInput(f"label {i}: ts must carry a timezone, got {entry.ts.isoformat()}")
        checked.append(entry if entry.ts is not None else replace(entry, ts=now))
    return checked


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
