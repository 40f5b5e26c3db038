"""Time-window primitives: the sign-up burst count on hand-built links, and the
(group, time) keys every window search sorts by."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_service.temporal import TimeKeys, signup_burst


def test_signup_burst_counts_others_within_the_window() -> None:
    """Four accounts on one device half a day apart, window 1 day: 2 or 3 others each."""
    row = np.array([0, 1, 2, 3, 4])
    device = np.array([9, 9, 9, 9, 8])
    day = 86_400_000_000
    first = np.array([0, day // 2, day, 3 * day // 2, 0])
    burst = signup_burst(row, device, first, 6, window_us=day)
    assert burst.tolist() == [2, 3, 3, 2, 0, 0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**40), st.integers(-(2**60), 2**60)), min_size=1, max_size=30
    ),
    st.integers(-(2**60), 2**60),
)
def test_time_keys_sort_as_the_pairs_do_and_place_any_time_between_them(
    pairs: list[tuple[int, int]], probe: int
) -> None:
    """Keys of the given (group, time) pairs order as the pairs do, for ids and times
    whose ``id * span + time`` would overflow; a key for any other time of a group falls
    after exactly the pairs of that group before it (``after``: at or before it)."""
    group = np.array([g for g, _ in pairs], np.int64)
    time = np.array([t for _, t in pairs], np.int64)
    keys = TimeKeys(group, time)
    key = keys(group, time)
    for i in range(len(pairs)):
        for j in range(len(pairs)):
            assert (key[i] < key[j]) == (pairs[i] < pairs[j])
    ordered = np.sort(key)
    g = group[:1]
    before = sum(1 for p in pairs if p < (int(g[0]), probe))
    at_or_before = sum(1 for p in pairs if p <= (int(g[0]), probe))
    assert int(np.searchsorted(ordered, keys(g, np.array([probe]))[0])) == before
    assert int(np.searchsorted(ordered, keys.after(g, np.array([probe]))[0])) == at_or_before
