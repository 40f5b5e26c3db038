"""Tests for ``scoring.flow_candidates``: shapes of money as candidates of the ring test.

Test families by pattern and burst, the whole shape read before the shapes it holds and
before a community of exactly its members, and the reasons that name a shape.
"""

from __future__ import annotations

import numpy as np


def test_shapes_of_money_are_tested_by_pattern_and_burst() -> None:
    """Communities are family 0; a fan paid out within 30 days and one drawn out over
    months are tested apart, and apart from cycles."""
    import pyarrow as pa

    from scoring.flow_candidates import BURST_DAYS, candidate_family

    flow = pa.table(
        {
            "flow_pattern": pa.array([None, "fan_out", "fan_out", "cycle"], pa.string()),
            "flow_span_days": pa.array([None, 12.0, 200.0, 12.0], pa.float64()),
        }
    )
    family = candidate_family(flow, 4)
    assert family[0] == 0
    assert len({int(f) for f in family[1:]}) == 3
    assert candidate_family(None, 2).tolist() == [0, 0]
    assert BURST_DAYS == 30.0


def test_a_shape_of_money_says_its_shape_and_the_share_passed_on() -> None:
    """A fan-out within a day, a cycle that goes round in time order within a week (and
    one that cannot), and the share of the money members passed on to members."""
    import pyarrow as pa

    from scoring.flow_candidates import flow_reasons
    from scoring.flow_rings import transfer_links

    shape = pa.table(
        {
            "flow_pattern": pa.array(["fan_out", "cycle", "cycle", None]),
            "flow_links": pa.array([4, 3, 3, None], pa.int64()),
            "flow_hops": pa.array([1, 3, 3, None], pa.int64()),
            "flow_span_days": pa.array([0.5, 6.2, 6.2, None]),
            "flow_in_time_order": pa.array([None, True, False, None], pa.bool_()),
        }
    )
    # The cycle 10 -> 11 -> 12 -> 10: 11 passes on 90 of 100, 12 81 of 90, and 10, which
    # started it with 100, passes on at most the 81 it got back: 252 of 271.
    flow = transfer_links([10, 11, 12], [11, 12, 10], amount=[100.0, 90.0, 81.0])
    flat = np.array([1, 2, 3, 4, 5, 10, 11, 12, 20, 21, 22, 30, 31, 32])
    group = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    reasons = flow_reasons(shape, flow, flat, group)
    assert reasons[0] == ["FAN_OUT_TO_4_ACCOUNTS_IN_24H"]
    assert reasons[1] == ["CYCLE_OF_3_WITHIN_7_DAYS", "PASS_THROUGH_93_PCT"]
    assert reasons[2] == ["CYCLE_OF_3"]
    assert reasons[3] == []


def test_a_whole_shape_is_read_before_the_shape_it_holds() -> None:
    """A scatter-gather of six holds the fan-in of its sink (five accounts, more
    significant on its own): the whole shape inherits that significance and, larger,
    is picked; a shape holding one less than half its size inherits nothing, and
    communities inherit nothing."""
    from scoring.flow_candidates import shapes_read_whole

    members = [[1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6], [1, 2], [1, 2, 3, 4, 5, 6, 7]]
    rows = np.concatenate([np.asarray(m) for m in members])
    sizes = np.array([len(m) for m in members])
    group = np.repeat(np.arange(4), sizes)
    significance = np.array([1.0, 3.0, 5.0, 0.5])
    flow = np.array([True, True, True, False])
    read = shapes_read_whole(significance, flow, group, rows, sizes, 4)
    assert read.tolist() == [3.0, 3.0, 5.0, 0.5]


def test_a_drawn_out_shape_does_not_read_whole_over_a_burst_it_holds() -> None:
    """A fan drawn out over months holds its busiest month (six of its nine strangers):
    the burst keeps its own significance and the whole fan inherits none of it; a burst
    holding a burst is read whole as before."""
    from scoring.flow_candidates import shapes_read_whole

    members = [list(range(1, 11)), [1, 2, 3, 4, 5, 6, 10]]
    rows = np.concatenate([np.asarray(m) for m in members])
    sizes = np.array([len(m) for m in members])
    group = np.repeat(np.arange(2), sizes)
    significance = np.array([0.5, 4.0])
    flow = np.array([True, True])
    burst = np.array([False, True])
    read = shapes_read_whole(significance, flow, group, rows, sizes, 2, burst)
    assert read.tolist() == [0.5, 4.0]
    both = shapes_read_whole(significance, flow, group, rows, sizes, 2, np.array([True, True]))
    assert both.tolist() == [4.0, 4.0]


def test_a_shape_is_read_over_a_community_of_exactly_its_members() -> None:
    """The same accounts as a community and as a shape of money: the shape wins a tie
    and a community more significant than it; a shape with other members gains nothing."""
    from scoring.flow_candidates import shapes_over_the_same_community

    members = [[1, 2, 3], [1, 2, 3], [1, 2, 4]]
    rows = np.concatenate([np.asarray(m) for m in members])
    group = np.repeat(np.arange(3), 3)
    significance = np.array([2.0, 1.0, 0.5])
    flow = np.array([False, True, True])
    read = shapes_over_the_same_community(significance, flow, group, rows, 3)
    assert read[1] > read[0] == 2.0
    assert read[2] == 0.5
