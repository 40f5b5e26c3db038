"""Time-respecting money flow over single transfers: pure functions, no store access.

Money can only move on from an account after it arrived there. Given the single
transfers of some ``TRANSFERS_TO`` links (times in integer microseconds since the epoch),
these functions find which links a time-respecting path can use and how much moved on
them (:func:`time_respecting_links`), and the longest time-respecting chain of transfers
(:func:`longest_chain`). The query functions (:mod:`queries.money_flow`,
:mod:`queries.ring_flow`) read the transfers through the backend and call these, so both
backends share one implementation of the time rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from graph_service.typing import I64

__all__ = ["LinkTransfers", "TimedLink", "longest_chain", "time_respecting_links"]

#: Stand-ins for "any time": the account asked about holds its money from the start
#: (following money out) and can receive it until the end (following money in).
_EARLIEST: Final = np.iinfo(np.int64).min
_LATEST: Final = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class LinkTransfers:
    """The single transfers of one link, oldest first.

    Attributes
    ----------
    ts : I64, shape (n,)
        Transfer times in microseconds since the epoch, ascending.
    cumulative : numpy.ndarray of float64, shape (n + 1,)
        ``cumulative[i]`` is the sum of the first ``i`` amounts.
    """

    ts: I64
    cumulative: np.ndarray

    @classmethod
    def of(cls, times: Iterable[int], amounts: Iterable[float]) -> LinkTransfers:
        """The transfers ``zip(times, amounts)``, in any order.

        Examples
        --------
        >>> t = LinkTransfers.of([5, 1], [2.0, 3.0])
        >>> t.ts.tolist(), t.cumulative.tolist()
        ([1, 5], [0.0, 3.0, 5.0])
        """
        ts = np.fromiter(times, np.int64)
        values = np.fromiter(amounts, np.float64)
        order = np.argsort(ts, kind="stable")
        return cls(ts=ts[order], cumulative=np.concatenate(([0.0], np.cumsum(values[order]))))


@dataclass(frozen=True, slots=True)
class TimedLink:
    """A link that a time-respecting path can use.

    Attributes
    ----------
    hop : int
        Fewest links of a time-respecting path from the account that ends with this one.
    bound_us : int
        Following money out: the earliest time money can arrive over the link (its first
        transfer at or after the earliest arrival at its source). Following money in: the
        latest time money can leave over it and still reach the account (its last
        transfer at or before the latest departure from its destination).
    moved_amount : float
        Sum of the link's transfers within that bound.
    moved_events : int
        How many transfers ``moved_amount`` adds up.
    """

    hop: int
    bound_us: int
    moved_amount: float
    moved_events: int


def time_respecting_links(
    account_id: int,
    transfers: Mapping[tuple[int, int], LinkTransfers],
    direction: Literal["out", "in"],
    depth: int,
) -> dict[tuple[int, int], TimedLink]:
    """The links that time-respecting paths of at most ``depth`` links can use.

    Following money ``out`` of the account, a link ``u -> v`` can be used when it has a
    transfer at or after the earliest time money from the account reached ``u`` (the
    account itself holds its money from the start). Following money ``in``, the mirror:
    ``u -> v`` can be used when it has a transfer at or before the latest time money
    could leave ``v`` and still reach the account. Equal times count as in order.

    Parameters
    ----------
    account_id : int
        The account the paths start (``out``) or end (``in``) at.
    transfers : mapping of (src, dst) to LinkTransfers
        The single transfers of every link that may lie on such a path (a superset is
        fine: links no time-respecting path reaches are left out).
    direction : {"out", "in"}
        Follow money away from the account, or towards it.
    depth : int
        Most links on a path (at least 1).

    Returns
    -------
    dict of (src, dst) to TimedLink
        The usable links. Bounds and moved amounts use the best time at the link's near
        end over all time-respecting paths of at most ``depth - 1`` links.

    Raises
    ------
    ValueError
        On an unknown ``direction`` or ``depth < 1``.

    Examples
    --------
    >>> links = {(1, 2): LinkTransfers.of([10], [5.0]), (2, 3): LinkTransfers.of([4, 12], [1.0, 2.0])}
    >>> found = time_respecting_links(1, links, "out", 2)
    >>> [(k, v.hop, v.bound_us, v.moved_amount) for k, v in sorted(found.items())]
    [((1, 2), 1, 10, 5.0), ((2, 3), 2, 12, 2.0)]

    Notes
    -----
    A hop-bounded earliest-arrival search (Bellman-Ford over ``depth`` rounds): each
    round looks at the links out of (or into) the accounts whose time improved in the
    previous round, with a binary search in each link's times: O(depth * L * log T) for L
    links of at most T transfers each.
    """
    if direction not in ("out", "in"):
        raise ValueError(f"direction must be 'out' or 'in', not {direction!r}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    forward = direction == "out"
    adjacent: dict[int, list[tuple[int, int]]] = {}
    for link in transfers:
        adjacent.setdefault(link[0] if forward else link[1], []).append(link)
    best: dict[int, int] = {account_id: _EARLIEST if forward else _LATEST}
    changed = {account_id}
    found: dict[tuple[int, int], TimedLink] = {}
    for hop in range(1, depth + 1):
        improved: dict[int, int] = {}
        for near in sorted(changed):
            at = best[near]
            for link in adjacent.get(near, ()):
                timed = _within(transfers[link], at, forward)
                if timed is None:
                    continue
                bound, amount, events = timed
                previous = found.get(link)
                found[link] = TimedLink(previous.hop if previous else hop, bound, amount, events)
                far = link[1] if forward else link[0]
                current = improved.get(far, best.get(far))
                if current is None or (bound < current if forward else bound > current):
                    improved[far] = bound
        best.update(improved)
        changed = set(improved)
        if not changed:
            break
    return found


def _within(link: LinkTransfers, at: int, forward: bool) -> tuple[int, float, int] | None:
    """``(bound, moved amount, moved events)`` of a link given the time at its near end."""
    n = len(link.ts)
    if forward:
        first = int(np.searchsorted(link.ts, at, side="left"))
        if first == n:
            return None
        return int(link.ts[first]), float(link.cumulative[n] - link.cumulative[first]), n - first
    last = int(np.searchsorted(link.ts, at, side="right"))
    if last == 0:
        return None
    return int(link.ts[last - 1]), float(link.cumulative[last]), last


def longest_chain(src: I64, dst: I64, ts: I64) -> int:
    """Transfers in the longest time-respecting chain: each leaves the account the
    previous one paid, strictly later.

    Parameters
    ----------
    src, dst : I64, shape (n,)
        Payer and payee of each transfer.
    ts : I64, shape (n,)
        Times of the transfers (any order).

    Returns
    -------
    int
        0 when there are no transfers. Accounts may repeat along the chain; a transfer
        cannot (times strictly increase).

    Raises
    ------
    ValueError
        If the three arrays differ in length.

    Examples
    --------
    >>> longest_chain(np.array([1, 2, 3]), np.array([2, 3, 1]), np.array([10, 20, 30]))
    3
    >>> longest_chain(np.array([1, 2]), np.array([2, 3]), np.array([20, 10]))
    1

    Notes
    -----
    One pass over the transfers in time order, transfers of the same instant together:
    O(n log n) for the sort, O(n) after.
    """
    if not len(src) == len(dst) == len(ts):
        raise ValueError("src, dst and ts must have the same length")
    order = np.argsort(ts, kind="stable")
    ending: dict[int, int] = {}
    longest = 0
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and ts[order[end]] == ts[order[start]]:
            end += 1
        # Chains end at a payee only after the whole instant is seen: transfers at the
        # same time cannot follow one another.
        reached: dict[int, int] = {}
        for i in order[start:end]:
            length = ending.get(int(src[i]), 0) + 1
            payee = int(dst[i])
            reached[payee] = max(reached.get(payee, 0), length)
        for payee, length in reached.items():
            ending[payee] = max(ending.get(payee, 0), length)
            longest = max(longest, length)
        start = end
    return longest
