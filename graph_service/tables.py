"""Small array and table helpers every package needs, declared once.

Examples
--------
>>> import numpy as np
>>> distinct(np.array([3, 1, 3, 2])).tolist()
[1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from graph_service.errors import InvalidInput
from graph_service.typing import I64

__all__ = ["binary_incidence", "distinct", "require_columns"]


def distinct(values: I64) -> I64:
    """Sorted distinct values of an int64 array.

    Notes
    -----
    O(n log n): a sort and one comparison pass, faster than ``np.unique`` on the large id
    arrays of the analysis (no inverse or counts are built).
    """
    ordered = np.sort(values)
    if ordered.size == 0:
        return ordered
    result: I64 = ordered[np.r_[True, ordered[1:] != ordered[:-1]]]
    return result


def binary_incidence(rows: I64, cols: I64, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """0/1 ``n_rows x n_cols`` CSR matrix (float64) with a one at every ``(rows[i], cols[i])``;
    a pair listed twice counts once.

    Raises
    ------
    ValueError
        From scipy when an index is out of range.
    """
    matrix = sp.csr_matrix((np.ones(rows.size, np.float64), (rows, cols)), shape=(n_rows, n_cols))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def require_columns(table: pa.Table, columns: Sequence[str], what: str) -> None:
    """Check that ``table`` is a pyarrow Table holding ``columns``.

    Raises
    ------
    InvalidInput
        Naming ``what``, the missing columns and the columns it has.
    """
    if not isinstance(table, pa.Table):
        raise InvalidInput(f"{what} must be a pyarrow.Table, got {type(table)!r}")
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InvalidInput(
            f"{what}: missing column(s) {missing}; expected at least {list(columns)}, "
            f"got {table.column_names}"
        )
