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


def test_the_correlation_of_benign_evidence_is_read_from_communities_not_shapes() -> None:
    """Thousands of money-flow shapes with no evidence at all would make evidence look
    rarer in groups than it is: the estimate over communities and identifier sharers is
    the same with or without them."""
    import pyarrow as pa

    from scoring.flow_candidates import FLOW_COLUMNS
    from scoring.ring_selection import with_community_correlation
    from scoring.surprise import ChannelEvidence

    rng = np.random.default_rng(5)
    communities = [list(range(4 * g, 4 * g + 4)) for g in range(300)]
    shapes = [
        sorted(rng.choice(np.arange(1200, 6000), 5, replace=False).tolist()) for _ in range(3000)
    ]
    active = np.zeros((6000, 1), np.bool_)
    active[:1200, 0] = np.repeat(rng.random(300) < 0.1, 4)
    channels = ChannelEvidence(
        names=("device",),
        strength=active.astype(float),
        active=active,
        rate=np.array([active.mean()]),
        per_member=np.array([True]),
    )
    accounts = np.arange(6000)

    def table(shape_rows: list[list[int]]) -> pa.Table:
        members = communities + shape_rows
        pattern = [None] * len(communities) + ["fan_in"] * len(shape_rows)
        columns = {name: pa.nulls(len(members)) for name in FLOW_COLUMNS}
        columns["flow_pattern"] = pa.array(pattern, pa.string())
        columns["flow_span_days"] = pa.array(
            [None] * len(communities) + [3.0] * len(shape_rows), pa.float64()
        )
        return pa.table({"members": members, **columns})

    alone = with_community_correlation(table([]), accounts, channels).correlation
    with_shapes = with_community_correlation(table(shapes), accounts, channels).correlation
    assert alone is not None and with_shapes is not None
    assert alone[0] > 0.5
    assert with_shapes[0] == alone[0]
