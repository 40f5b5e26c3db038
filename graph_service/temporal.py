"""Time-window primitives over link tables, shared by the ring features and the GNN dataset."""

from __future__ import annotations

from typing import Final

import numpy as np

#: Microseconds in a day (store timestamps are µs since the epoch).
DAY_US: Final = 86_400 * 1_000_000


def signup_burst(
    row: np.ndarray, device: np.ndarray, first_ts: np.ndarray, n: int, *, window_us: int
) -> np.ndarray:
    """Largest number of *other* accounts first seen on one of an account's devices
    within ``window_us`` of the account itself.

    Parameters
    ----------
    row : ndarray of int64
        Account position of every device link.
    device : ndarray of int64
        Device store id of every link.
    first_ts : ndarray of int64
        First use of the device by the account (microseconds).
    n : int
        Number of accounts.
    window_us : int

    Returns
    -------
    ndarray of float64, shape (n,)

    Notes
    -----
    O(l log l) for l device links: one sort, two binary searches.
    """
    if row.shape[0] == 0:
        return np.zeros(n)
    rank = np.unique(device, return_inverse=True)[1].astype(np.int64)
    base = first_ts - int(first_ts.min())
    span = int(base.max()) + 2 * window_us + 1
    key = rank * span + base
    ordered = np.sort(key)
    low = np.searchsorted(ordered, key - window_us, side="left")
    high = np.searchsorted(ordered, key + window_us, side="right")
    others = (high - low - 1).astype(float)
    burst = np.zeros(n)
    np.maximum.at(burst, row, others)
    return burst
