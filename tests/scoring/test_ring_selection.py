"""Tests for ``scoring.ring_selection``: the most significant disjoint readings kept."""

from __future__ import annotations

import numpy as np


def test_overlapping_candidates_keep_the_most_significant_reading() -> None:
    """Candidates of two community levels that share members: the more significant one
    wins, then candidates disjoint from it; ties go to the larger candidate."""
    from scoring.ring_selection import most_significant_disjoint

    # candidate 0 = {0,1,2,3} (coarse), 1 = {0,1} and 2 = {2,3} (fine), 3 = {4,5}.
    group = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3])
    rows = np.array([0, 1, 2, 3, 0, 1, 2, 3, 4, 5])
    sizes = np.array([4, 2, 2, 2])
    coarse_wins = most_significant_disjoint(group, rows, np.array([5.0, 3.0, 2.0, 0.0]), sizes, 4)
    assert coarse_wins.tolist() == [True, False, False, True]
    fine_wins = most_significant_disjoint(group, rows, np.array([2.0, 3.0, 2.5, 0.0]), sizes, 4)
    assert fine_wins.tolist() == [False, True, True, True]
    tie = most_significant_disjoint(group, rows, np.zeros(4), sizes, 4)
    assert tie.tolist() == [True, False, False, True]


def test_a_shape_keeps_the_members_a_community_picked_before_it_left() -> None:
    """A community (more significant) takes one account of a fan of six: the fan keeps
    its other five (two thirds or more); a community losing one member is not kept, nor
    a shape left with less than two thirds of itself."""
    from scoring.ring_selection import disjoint_owners

    # candidate 0: community {0, 1, 2}; candidate 1: fan {2..7}; candidate 2: fan {0, 1, 8}
    members = [[0, 1, 2], [2, 3, 4, 5, 6, 7], [0, 1, 8]]
    rows = np.concatenate([np.asarray(m) for m in members])
    sizes = np.array([len(m) for m in members])
    group = np.repeat(np.arange(3), sizes)
    significance = np.array([5.0, 3.0, 2.0])
    shape = np.array([False, True, True])
    owner = disjoint_owners(group, rows, significance, sizes, 3, remainder=shape, min_size=3)
    assert owner.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, -1]
    plain = disjoint_owners(group, rows, significance, sizes, 3, min_size=3)
    assert plain.tolist() == [0, 0, 0, -1, -1, -1, -1, -1, -1]
