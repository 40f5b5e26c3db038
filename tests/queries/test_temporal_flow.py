"""temporal_flow: time-respecting links and the longest chain, against brute force."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from queries.temporal_flow import LinkTransfers, longest_chain, time_respecting_links

Transfer = tuple[int, int, int, float]


def _links(transfers: list[Transfer]) -> dict[tuple[int, int], LinkTransfers]:
    grouped: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for src, dst, ts, amount in transfers:
        grouped.setdefault((src, dst), []).append((ts, amount))
    return {
        link: LinkTransfers.of([t for t, _ in rows], [a for _, a in rows])
        for link, rows in grouped.items()
    }


def brute_force(
    root: int, transfers: list[Transfer], direction: str, depth: int
) -> dict[tuple[int, int], tuple[int, int, float, int]]:
    """(hop, bound, moved amount, moved events) per link, from every transfer sequence."""
    forward = direction == "out"
    best_near: dict[tuple[int, int], tuple[int, int]] = {}  # link -> (hop, best near time)
    # Every sequence of at most depth transfers that chains in time, as a walk of links.
    frontier: list[tuple[int, int | None, int]] = [(root, None, 0)]  # (account, time, hops)
    for _ in range(depth):
        nxt: list[tuple[int, int | None, int]] = []
        for account, at, hops in frontier:
            for src, dst, ts, _ in transfers:
                near, far = (src, dst) if forward else (dst, src)
                if near != account:
                    continue
                if at is not None and (ts < at if forward else ts > at):
                    continue
                link = (src, dst)
                near_time = at if at is not None else (-(2**62) if forward else 2**62)
                hop, best = best_near.get(link, (hops + 1, near_time))
                better = min(best, near_time) if forward else max(best, near_time)
                best_near[link] = (min(hop, hops + 1), better)
                nxt.append((far, ts, hops + 1))
        frontier = nxt
    answer = {}
    for link, (hop, near_time) in best_near.items():
        times = [
            (ts, amount)
            for src, dst, ts, amount in transfers
            if (src, dst) == link and (ts >= near_time if forward else ts <= near_time)
        ]
        bound = min(t for t, _ in times) if forward else max(t for t, _ in times)
        answer[link] = (hop, bound, sum(a for _, a in times), len(times))
    return answer


def test_a_transfer_before_the_money_arrived_is_not_followed() -> None:
    """1 pays 2 at 10; 2 paid 3 at 5 (before) and 4 at 15 (after): only 2 -> 4 follows."""
    links = _links([(1, 2, 10, 7.0), (2, 3, 5, 1.0), (2, 4, 15, 2.0)])
    found = time_respecting_links(1, links, "out", 3)
    assert sorted(found) == [(1, 2), (2, 4)]
    assert (found[(2, 4)].hop, found[(2, 4)].bound_us, found[(2, 4)].moved_amount) == (2, 15, 2.0)


def test_equal_times_count_as_in_order() -> None:
    """Money arriving at 10 can leave at 10 (both directions)."""
    links = _links([(1, 2, 10, 1.0), (2, 3, 10, 1.0)])
    assert sorted(time_respecting_links(1, links, "out", 2)) == [(1, 2), (2, 3)]
    assert sorted(time_respecting_links(3, links, "in", 2)) == [(1, 2), (2, 3)]


def test_moved_amount_counts_only_transfers_within_the_bound() -> None:
    """2 receives at 10; of its transfers to 3 at 5, 10 and 20 only the last two move it on."""
    links = _links([(1, 2, 10, 100.0), (2, 3, 5, 1.0), (2, 3, 10, 2.0), (2, 3, 20, 4.0)])
    onward = time_respecting_links(1, links, "out", 2)[(2, 3)]
    assert (onward.bound_us, onward.moved_amount, onward.moved_events) == (10, 6.0, 2)


def test_a_longer_path_can_arrive_earlier_and_open_more_links() -> None:
    """1 -> 3 directly at 50, or 1 -> 2 -> 3 at 1 and 2: with depth 3, 3 -> 4 at 10 follows
    (reached at hop 2 via the direct link, bound from the earlier two-link arrival)."""
    links = _links([(1, 3, 50, 1.0), (1, 2, 1, 1.0), (2, 3, 2, 1.0), (3, 4, 10, 5.0)])
    assert (3, 4) not in time_respecting_links(1, links, "out", 2)
    found = time_respecting_links(1, links, "out", 3)
    assert (found[(3, 4)].hop, found[(3, 4)].bound_us) == (3, 10)
    assert found[(1, 3)].bound_us == 50


def test_following_money_in_mirrors_out() -> None:
    """Into 3: 2 -> 3 at 10; 1 -> 2 at 5 came before (kept), 0 -> 2 at 12 after (cut)."""
    links = _links([(2, 3, 10, 3.0), (1, 2, 5, 1.0), (0, 2, 12, 9.0)])
    found = time_respecting_links(3, links, "in", 2)
    assert sorted(found) == [(1, 2), (2, 3)]
    assert (found[(1, 2)].hop, found[(1, 2)].bound_us, found[(1, 2)].moved_amount) == (2, 5, 1.0)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("direction", ["out", "in"])
def test_matches_brute_force_on_random_graphs(seed: int, direction: str) -> None:
    """Hops, bounds and moved amounts equal those of enumerating every chained walk."""
    rng = random.Random(seed)
    transfers = [
        (src, dst, rng.randrange(20), float(rng.randrange(1, 9)))
        for src, dst in (rng.sample(range(6), 2) for _ in range(rng.randrange(1, 14)))
    ]
    for depth in (1, 2, 3, 4):
        found = time_respecting_links(0, _links(transfers), direction, depth)  # type: ignore[arg-type]
        got = {k: (v.hop, v.bound_us, v.moved_amount, v.moved_events) for k, v in found.items()}
        assert got == brute_force(0, transfers, direction, depth), (transfers, depth)


def test_bad_arguments_raise_value_error() -> None:
    """An unknown direction or a depth below 1 is a programming error."""
    with pytest.raises(ValueError, match="direction"):
        time_respecting_links(0, {}, "both", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="depth"):
        time_respecting_links(0, {}, "out", 0)


def _brute_chain(transfers: list[tuple[int, int, int]]) -> int:
    best = 0
    for n in range(1, len(transfers) + 1):
        for chain in itertools.permutations(transfers, n):
            if all(a[1] == b[0] and a[2] < b[2] for a, b in itertools.pairwise(chain)):
                best = max(best, n)
    return best


def test_longest_chain_known_answers() -> None:
    """A cycle in time order is 3 hops; a path out of order 1; same instant cannot chain;
    no transfers 0."""
    assert longest_chain(np.array([1, 2, 3]), np.array([2, 3, 1]), np.array([1, 2, 3])) == 3
    assert longest_chain(np.array([1, 2]), np.array([2, 3]), np.array([3, 2])) == 1
    assert longest_chain(np.array([1, 2]), np.array([2, 3]), np.array([5, 5])) == 1
    empty = np.array([], np.int64)
    assert longest_chain(empty, empty, empty) == 0
    with pytest.raises(ValueError, match="length"):
        longest_chain(np.array([1]), empty, empty)


@pytest.mark.parametrize("seed", range(20))
def test_longest_chain_matches_brute_force(seed: int) -> None:
    """The longest chain equals the longest of all orderings of the transfers that chain."""
    rng = random.Random(seed)
    transfers = [
        (src, dst, rng.randrange(6))
        for src, dst in (rng.sample(range(4), 2) for _ in range(rng.randrange(1, 7)))
    ]
    src, dst, ts = (np.array(column, np.int64) for column in zip(*transfers, strict=True))
    assert longest_chain(src, dst, ts) == _brute_chain(transfers)
