"""Time-window primitives over link tables, shared by the ring features and the GNN dataset."""

from __future__ import annotations

from typing import Final

import numpy as np

#: Microseconds in an hour and in a day (store timestamps are µs since the epoch).
HOUR_US: Final = 3_600 * 1_000_000
DAY_US: Final = 24 * HOUR_US


class TimeKeys:
    """Order-preserving int64 keys of (group, time) pairs that cannot overflow.

    ``group * span + time`` in microseconds overflows int64 once store ids times the
    time range pass 9.2e18 (a few hundred thousand ids over a year). Here a group counts
    by its rank among ``groups`` and a time by the number of ``times`` before it, so a key
    stays below ``len(groups) * (len(times) + 1)``. Keys of the given times sort as the
    pairs do; a key for any other time (a window's edge) falls where that time would.

    Parameters
    ----------
    groups : ndarray of int64
        Every group a key will be asked for.
    times : ndarray of int64
        Every time whose pairs are sorted and searched.

    Examples
    --------
    >>> keys = TimeKeys(np.array([7, 7, 9]), np.array([50, 10, 30]))
    >>> ordered = np.sort(keys(np.array([7, 7, 9]), np.array([50, 10, 30])))
    >>> int(np.searchsorted(ordered, keys(np.array([7]), np.array([20]))[0]))  # first >= (7, 20)
    1
    >>> int(np.searchsorted(ordered, keys.after(np.array([7]), np.array([50]))[0]))  # past (7, 50)
    2
    """

    def __init__(self, groups: np.ndarray, times: np.ndarray) -> None:
        self._groups = np.unique(groups)
        self._times = np.unique(times)
        self._span = np.int64(self._times.shape[0] + 1)

    def __call__(self, group: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Keys of ``(group, time)``: at or before every pair of the group from ``time`` on."""
        return self._key(group, np.searchsorted(self._times, time, side="left"))

    def after(self, group: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Keys just past every pair of ``group`` at or before ``time``."""
        return self._key(group, np.searchsorted(self._times, time, side="right"))

    def _key(self, group: np.ndarray, rank: np.ndarray) -> np.ndarray:
        position = np.searchsorted(self._groups, group).astype(np.int64)
        return np.asarray(position * self._span + rank, np.int64)


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
    keys = TimeKeys(device, first_ts)
    ordered = np.sort(keys(device, first_ts))
    low = np.searchsorted(ordered, keys(device, first_ts - window_us), side="left")
    high = np.searchsorted(ordered, keys.after(device, first_ts + window_us), side="left")
    others = (high - low - 1).astype(float)
    burst = np.zeros(n)
    np.maximum.at(burst, row, others)
    return burst
