"""Ring candidates: membership beyond the community core
(:func:`scoring.candidates.attach_members`), rings cut into the pieces their members form
(:func:`scoring.candidates.separate_pieces`), merchant groups, and the typology guess."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from graph_service.model import NODE_TYPE_CODE, NodeType
from scoring.candidates import (
    _with_piece_candidates,
    attach_members,
    separate_pieces,
)


def _projection(n: int, edges: list[tuple[int, int, float]]) -> Any:
    """The fields of an account projection that attaching reads: accounts 0..n-1."""
    src = np.array([min(a, b) for a, b, _ in edges], np.int64)
    dst = np.array([max(a, b) for a, b, _ in edges], np.int64)
    return SimpleNamespace(
        accounts=np.arange(n, dtype=np.int64),
        src=src,
        dst=dst,
        src_row=src,
        dst_row=dst,
        weight=np.array([w for _, _, w in edges], np.float64),
    )


def _attach(
    projection: Any,
    rings: dict[int, list[int]],
    eligible: list[int],
    target: list[bool],
    min_ties: int = 1,
    shows: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Attach with every account active in one channel that tells about every ring,
    unless ``shows`` says otherwise."""
    n = projection.accounts.shape[0]
    shows = shows or (np.ones((n, 1), np.bool_), np.ones((len(rings), 1), np.bool_))
    flat = np.array([m for r in sorted(rings) for m in rings[r]], np.int64)
    group = np.array([r for r in sorted(rings) for _ in rings[r]], np.int64)
    allowed = np.zeros(projection.accounts.shape[0], np.bool_)
    allowed[eligible] = True
    members, kept, kept_group = attach_members(
        projection, flat, group, len(rings), allowed, np.array(target), min_ties, shows
    )
    assert kept.tolist() == [m for ms in members.to_pylist() for m in ms]
    assert kept_group.tolist() == [r for r, ms in enumerate(members.to_pylist()) for _ in ms]
    listed: list[list[int]] = members.to_pylist()
    return listed


def test_a_risky_account_tied_to_a_significant_ring_joins_it() -> None:
    """A mule that receives from one member and has risk of its own joins the ring; an
    account tied the same way without risk of its own does not."""
    projection = _projection(6, [(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (0, 3, 1.0), (1, 4, 1.0)])
    rings = _attach(projection, {0: [0, 1, 2]}, eligible=[3], target=[True])
    assert rings == [[0, 1, 2, 3]]


def test_only_significant_rings_take_members() -> None:
    """A ring below the significance bar takes nobody: attaching follows evidence, it does
    not grow every dense group."""
    projection = _projection(4, [(0, 1, 1.0), (1, 2, 1.0), (0, 3, 1.0)])
    assert _attach(projection, {0: [0, 1, 2]}, eligible=[3], target=[False]) == [[0, 1, 2]]


def test_min_ties_is_the_number_of_members_tied_to_the_account() -> None:
    """With ``min_ties=2``, an account tied to one member stays out, one tied to two joins."""
    edges = [(0, 1, 1.0), (1, 2, 1.0), (0, 3, 1.0), (0, 4, 0.5), (1, 4, 0.5)]
    projection = _projection(5, edges)
    assert _attach(projection, {0: [0, 1, 2]}, eligible=[3, 4], target=[True], min_ties=2) == [
        [0, 1, 2, 4]
    ]


def test_an_account_tied_to_two_rings_joins_the_one_with_most_ties_then_weight() -> None:
    """Most ties first; between equal ties, the heavier total weight."""
    edges = [
        (0, 1, 1.0),
        (2, 3, 1.0),
        # account 6: one tie to ring 0, two to ring 1
        (0, 6, 3.0),
        (2, 6, 0.5),
        (3, 6, 0.5),
        # account 7: one tie to each, heavier to ring 0
        (1, 7, 2.0),
        (3, 7, 1.0),
    ]
    projection = _projection(8, edges)
    rings = _attach(projection, {0: [0, 1], 1: [2, 3]}, eligible=[6, 7], target=[True, True])
    assert rings == [[0, 1, 7], [2, 3, 6]]


def test_a_member_of_an_insignificant_group_moves_but_no_ring_member_does() -> None:
    """An account in an insignificant group (its household, say) moves to the significant
    ring it is tied to and leaves the group; a member of a significant ring never moves,
    however risky and however tied to another ring."""
    edges = [(0, 1, 1.0), (3, 4, 1.0), (4, 5, 1.0), (0, 5, 1.0), (1, 3, 1.0), (1, 2, 1.0)]
    projection = _projection(6, edges)
    rings = _attach(
        projection,
        {0: [0, 1, 2], 1: [3, 4, 5]},
        eligible=[0, 1, 2, 3, 4, 5],
        target=[True, False],
    )
    assert rings == [[0, 1, 2, 3, 5], [4]]


def test_nothing_chains_through_an_attached_account() -> None:
    """Ties count to the ring's members before attaching: the risky neighbour of an
    attached account stays out."""
    projection = _projection(5, [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 4, 1.0)])
    assert _attach(projection, {0: [0, 1, 2]}, eligible=[3, 4], target=[True]) == [[0, 1, 2, 3]]


def test_an_attached_account_shows_the_evidence_of_the_ring_it_joins() -> None:
    """With the channels given, a risky account joins a ring only if it is active in a
    channel that tells about that ring: a risky VPN user tied to a ring passing money on
    stays out, a risky account passing money on joins; tied to two rings, it joins the
    one whose evidence it shows even with fewer ties."""
    edges = [(0, 1, 1.0), (2, 3, 1.0), (0, 4, 1.0), (1, 5, 1.0), (2, 5, 1.0), (3, 5, 1.0)]
    projection = _projection(6, edges)
    # channels: money, network; ring 0 tells by money, ring 1 by the network channel
    active = np.zeros((6, 2), np.bool_)
    active[4] = [False, True]  # 4: a VPN user tied to ring 0
    active[5] = [True, False]  # 5: passes money on; one tie to ring 0, two to ring 1
    telling = np.array([[True, False], [False, True]])
    rings = _attach(
        projection,
        {0: [0, 1], 1: [2, 3]},
        eligible=[4, 5],
        target=[True, True],
        shows=(active, telling),
    )
    assert rings == [[0, 1, 5], [2, 3]]


@pytest.mark.parametrize("eligible", [[], [3]])
def test_no_rings_or_no_ties_change_nothing(eligible: list[int]) -> None:
    """No rings gives no rings; an eligible account with no tie to a ring stays out."""
    projection = _projection(4, [(0, 1, 1.0), (1, 2, 1.0)])
    assert _attach(projection, {}, eligible=eligible, target=[]) == []
    assert _attach(projection, {0: [0, 1, 2]}, eligible=eligible, target=[True]) == [[0, 1, 2]]


def test_one_kind_of_evidence_alone_is_not_corroborated() -> None:
    """Two kinds of evidence, or one with confirmed fraud or the model's verdict behind it,
    corroborate a ring; one kind alone does not, however strong; weak channels (surprise
    below 1) are no witness."""
    from scoring.candidates import corroborated
    from scoring.surprise import LABELLED, MODEL

    names = ("coordination", "money", LABELLED, MODEL)
    surprise = np.array(
        [
            [9.0, 0.0, 0.0, 0.0],  # a family opening together: one kind alone
            [3.0, 2.0, 0.0, 0.0],  # two kinds
            [0.0, 4.0, 1.5, 0.0],  # money, and confirmed fraud among the members
            [0.0, 4.0, 0.0, 1.0],  # money, and the model's verdicts
            [5.0, 0.9, 0.9, 0.9],  # one kind, the rest below the bar
            [0.0, 0.0, 0.0, 0.0],  # nothing
        ]
    )
    assert corroborated(surprise, names).tolist() == [False, True, True, True, False, False]


def test_the_network_context_alone_is_no_second_witness() -> None:
    """Proxy IPs and rooted phones are context (VPN users, hobbyists), not behaviour:
    money passed on with proxies behind it stays one kind of evidence, while money with
    the members opening together, or with the model's verdicts, is corroborated."""
    from scoring.candidates import corroborated
    from scoring.surprise import MODEL

    names = ("coordination", "money", "network", MODEL)
    surprise = np.array(
        [
            [0.0, 4.0, 3.0, 0.0],  # money and proxies
            [2.0, 4.0, 3.0, 0.0],  # money, opened together, proxies
            [0.0, 4.0, 3.0, 1.5],  # money, proxies, and the model's verdicts
        ]
    )
    assert corroborated(surprise, names).tolist() == [False, True, True]


def test_without_an_entity_model_every_ring_counts_as_corroborated() -> None:
    """No model, no second witness to ask: the ring test alone decides."""
    from scoring.candidates import corroborated

    surprise = np.array([[9.0, 0.0], [0.0, 0.0]])
    assert corroborated(surprise, ("coordination", "money")).tolist() == [True, True]
    assert corroborated(np.zeros((0, 2)), ("coordination", "money")).shape == (0,)


def test_a_member_shows_the_ring_evidence_only_in_a_channel_that_tells_about_the_ring() -> None:
    """Activity in a channel the ring's evidence is concentrated in counts; activity in
    another channel (a household's VPN beside a ring passing money on) does not, nor does
    a channel outside the ring test."""
    from scoring.candidates import shows_the_ring_evidence, telling_channels
    from scoring.surprise import ChannelEvidence

    names = ("money", "network", "known_fraud")
    active = np.array(
        [
            [True, False, False],  # passes money on
            [False, True, False],  # VPN only
            [False, False, True],  # near known fraud only (not a per-member channel)
            [False, True, False],  # VPN, in a ring whose evidence is the network
        ]
    )
    channels = ChannelEvidence(
        names=names,
        strength=active.astype(float),
        active=active,
        rate=active.mean(axis=0),
        per_member=np.array([True, True, False]),
    )
    surprise = np.array([[4.0, 0.5, 6.0], [0.0, 2.0, 0.0]])
    telling = telling_channels(channels, surprise)
    shows = shows_the_ring_evidence(active, telling, np.arange(4), np.array([0, 0, 0, 1]))
    assert shows.tolist() == [True, False, False, True]


def _memberships(rows: list[tuple[int, int, str, int, float]]) -> Any:
    """A projection whose identifier links are ``(account, identifier, kind, share_count,
    first use in days)``; identifiers with ``share_count`` above 9 are super nodes."""
    from graph_service.model import NODE_TYPE_CODE, NodeType

    day = 86_400_000_000
    return SimpleNamespace(
        memberships=SimpleNamespace(
            account=np.array([r[0] for r in rows], np.int64),
            identifier=np.array([r[1] for r in rows], np.int64),
            node_type=np.array([NODE_TYPE_CODE[NodeType(r[2])] for r in rows], np.uint8),
            share_count=np.array([r[3] for r in rows], np.int64),
            first_ts=np.array([int(r[4] * day) for r in rows], np.int64),
            super_node=np.array([r[3] > 9 for r in rows], np.bool_),
        )
    )


def test_the_accounts_that_took_up_one_merchant_together_are_a_candidate() -> None:
    """Three accounts first paying one merchant within a week are a group; a shop's
    regulars who came over months, a merchant two accounts pay, a super node and another
    kind of identifier are not. A repeated link counts its first use once."""
    from graph_service.model import NODE_TYPE_CODE, NodeType
    from scoring.candidates import sharers_of_identifiers

    rows = [
        (1, 100, "Merchant", 3, 10.0),
        (2, 100, "Merchant", 3, 12.0),
        (3, 100, "Merchant", 3, 16.5),
        (3, 100, "Merchant", 3, 40.0),  # the same link again, later: its first use counts
        (1, 101, "Merchant", 3, 10.0),  # regulars: over months
        (4, 101, "Merchant", 3, 70.0),
        (5, 101, "Merchant", 3, 130.0),
        (1, 102, "Merchant", 2, 10.0),  # two accounts are a pair
        (2, 102, "Merchant", 2, 10.0),
        *[(a, 103, "Merchant", 12, 10.0) for a in range(10, 22)],  # a super node
        (1, 104, "Device", 3, 10.0),  # a kind not asked for
        (2, 104, "Device", 3, 10.0),
        (3, 104, "Device", 3, 10.0),
    ]
    week = 7 * 86_400_000_000
    label, kind, members, size = sharers_of_identifiers(
        _memberships(rows), (NodeType.MERCHANT,), 3, week
    )
    assert label.tolist() == [100]
    assert kind.tolist() == [NODE_TYPE_CODE[NodeType.MERCHANT]]
    assert members.tolist() == [1, 2, 3]
    assert size.tolist() == [3]
    none = sharers_of_identifiers(_memberships(rows[:1]), (NodeType.MERCHANT,), 3, week)
    assert [a.tolist() for a in none] == [[], [], [], []]


def test_merchant_groups_are_candidates_beside_the_communities_and_say_so() -> None:
    """The candidates table names the identifier kind of each group made by one
    (null for a community); the rings it makes lead their reasons with it."""
    import pyarrow as pa

    from graph_service.model import NodeType
    from scoring.analysis import AnalysisConfig
    from scoring.candidates import candidates_of_every_level, led_by_what_was_taken_up
    from scoring.flow_rings import transfer_links

    rows = [(a, 100, "Merchant", 3, 10.0 + a) for a in (1, 2, 3)]
    projection = _memberships(rows)
    projection.accounts = np.array([1, 2, 3, 4], np.int64)
    projection.money_flow = transfer_links([], [])
    signals = SimpleNamespace(community_levels=[])
    table = candidates_of_every_level(projection, signals, AnalysisConfig())
    assert table.column("members").to_pylist() == [[1, 2, 3]]
    assert table.column("identifier_type").to_pylist() == [NodeType.MERCHANT.value]
    off = AnalysisConfig(identifier_candidates=())
    assert candidates_of_every_level(projection, signals, off).num_rows == 0

    reasons = pa.array([["A", "B", "C"], ["A"]], pa.list_(pa.string()))
    led = led_by_what_was_taken_up(reasons, pa.array(["Merchant", None], pa.string()), 3)
    assert led.to_pylist() == [["TOOK_UP_ONE_MERCHANT_TOGETHER", "A", "B"], ["A"]]
    unchanged = led_by_what_was_taken_up(reasons, pa.array([None, None], pa.string()), 3)
    assert unchanged.to_pylist() == reasons.to_pylist()


#: How a pair of accounts is tied, for :func:`_linked`.
_HOME = "home"  # one home IP and address, nothing else
_DEVICE = "device"
_MONEY = "money"  # living together, but money moved between them too


def _linked(n: int, edges: list[tuple[int, int, str]]) -> Any:
    """The fields of an account projection that cutting rings into pieces reads."""
    bit = {t: 1 << NODE_TYPE_CODE[t] for t in NodeType}
    home = bit[NodeType.IP] | bit[NodeType.ADDRESS]
    kinds = {_HOME: home, _DEVICE: bit[NodeType.DEVICE], _MONEY: home}
    src = np.array([min(a, b) for a, b, _ in edges], np.int64)
    dst = np.array([max(a, b) for a, b, _ in edges], np.int64)
    return SimpleNamespace(
        accounts=np.arange(n, dtype=np.int64),
        src_row=src,
        dst_row=dst,
        living_together=np.array([how in (_HOME, _MONEY) for *_, how in edges], np.bool_),
        transfer_weight=np.array([1.0 if how == _MONEY else 0.0 for *_, how in edges]),
        kinds_shared=np.array([kinds[how] for *_, how in edges], np.int64),
    )


def _pieces(
    projection: Any, rings: dict[int, list[int]], min_size: int = 4
) -> tuple[list[int], list[list[int]]]:
    """(the ring each new ring came from, the new rings' members)."""
    flat = np.array([m for r in sorted(rings) for m in rings[r]], np.int64)
    group = np.array([r for r in sorted(rings) for _ in rings[r]], np.int64)
    parent, kept, kept_group = separate_pieces(projection, flat, group, len(rings), min_size)
    members: list[list[int]] = [[] for _ in range(parent.size)]
    for m, g in zip(kept.tolist(), kept_group.tolist(), strict=True):
        members[g].append(m)
    assert kept_group.tolist() == sorted(kept_group.tolist()), "ordered by group"
    assert sorted(kept.tolist()) == sorted(flat.tolist()), "no member lost or repeated"
    return parent.tolist(), members


def _crew(first: int, how: str = _DEVICE) -> list[tuple[int, int, str]]:
    """Four accounts tied in a chain."""
    return [(first + i, first + i + 1, how) for i in range(3)]


def test_two_crews_joined_only_by_a_shared_home_become_two_rings() -> None:
    """Two device-sharing crews of four, tied to each other by two members living
    together, are two rings."""
    projection = _linked(8, [*_crew(0), *_crew(4), (3, 4, _HOME)])
    assert _pieces(projection, {0: list(range(8))}) == ([0, 0], [[0, 1, 2, 3], [4, 5, 6, 7]])


def test_crews_tied_by_anything_but_a_shared_home_stay_one_ring() -> None:
    """A device, or money between people living together, holds a ring together."""
    for how in (_DEVICE, _MONEY):
        projection = _linked(8, [*_crew(0), *_crew(4), (3, 4, how)])
        assert _pieces(projection, {0: list(range(8))}) == ([0], [list(range(8))]), how


def test_crews_joined_through_an_account_left_out_of_the_ring_are_two_rings() -> None:
    """The go-between that pruning left out does not hold the ring together."""
    projection = _linked(9, [*_crew(0), *_crew(4), (3, 8, _DEVICE), (8, 4, _DEVICE)])
    assert _pieces(projection, {0: list(range(8))}) == ([0, 0], [[0, 1, 2, 3], [4, 5, 6, 7]])


def test_a_piece_smaller_than_min_size_joins_the_largest_and_the_ring_stays_whole() -> None:
    """Four and three: one large piece only, so nothing is cut; a lone member joins the
    largest piece of a ring that is cut."""
    projection = _linked(7, [*_crew(0), (4, 5, _DEVICE), (5, 6, _DEVICE), (3, 4, _HOME)])
    assert _pieces(projection, {0: list(range(7))}) == ([0], [list(range(7))])
    assert _pieces(projection, {0: list(range(7))}, min_size=3) == (
        [0, 0],
        [[0, 1, 2, 3], [4, 5, 6]],
    )
    lone = _linked(10, [*_crew(0), *_crew(5, _DEVICE), (0, 9, _DEVICE), (3, 5, _HOME)])
    assert _pieces(lone, {0: [0, 1, 2, 3, 4, 5, 6, 7, 8]}) == (
        [0, 0],
        [[0, 1, 2, 3, 4], [5, 6, 7, 8]],
    )


def test_a_ring_held_together_by_shared_homes_alone_stays_whole() -> None:
    """Synthetic identities at drop addresses: no piece of min_size, the ring stays."""
    projection = _linked(8, [(i, i + 1, _HOME) for i in range(7)])
    assert _pieces(projection, {0: list(range(8))}) == ([0], [list(range(8))])


def test_only_ties_inside_one_ring_count_and_the_parents_ascend() -> None:
    """A device tie to another ring's member joins nothing; pieces keep their ring's
    place, so the parents ascend."""
    edges = [*_crew(0), *_crew(4), *_crew(8), *_crew(12), (3, 8, _DEVICE), (7, 12, _DEVICE)]
    projection = _linked(16, edges)
    parent, members = _pieces(projection, {0: list(range(8)), 1: list(range(8, 16))})
    assert parent == [0, 0, 1, 1]
    assert members == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]


def test_no_members_cut_nothing() -> None:
    projection = _linked(2, [(0, 1, _DEVICE)])
    parent, flat, group = separate_pieces(
        projection, np.array([], np.int64), np.array([], np.int64), 0, 4
    )
    assert parent.tolist() == [] and flat.size == 0 and group.size == 0


def test_every_piece_after_the_first_gets_a_fresh_candidate_number() -> None:
    """Candidate numbers stay unique: the first piece keeps its ring's, the others count
    on past the largest in use."""
    rings = pa.table({"candidate": pa.array([3, 3, 3, 7, 9, 9], pa.int64())})
    split = np.array([True, True, True, False, True, True])
    assert _with_piece_candidates(rings, split).column("candidate").to_pylist() == [
        3,
        10,
        11,
        7,
        9,
        12,
    ]


def test_a_shape_with_exactly_a_communitys_members_is_tested_as_that_community() -> None:
    """A fan-in whose five accounts also took up one merchant together is marked as the
    same accounts as a candidate already tested on every channel: its test is the
    community family's (family 0), while it stays a shape (its pattern, its bursts). A
    fan with other members keeps its own family."""
    from scoring.analysis import AnalysisConfig
    from scoring.candidates import candidates_of_every_level
    from scoring.flow_candidates import candidate_family, shapes_and_bursts
    from scoring.flow_rings import transfer_links

    rows = [(a, 100, "Merchant", 5, 10.0 + a) for a in (1, 2, 3, 4, 5)]
    projection = _memberships(rows)
    projection.accounts = np.arange(1, 11, dtype=np.int64)
    projection.money_flow = transfer_links([1, 2, 3, 4, 6, 7, 8, 9], [5, 5, 5, 5, 10, 10, 10, 10])
    signals = SimpleNamespace(community_levels=[])
    table = candidates_of_every_level(projection, signals, AnalysisConfig())
    assert table.column("members").to_pylist() == [
        [1, 2, 3, 4, 5],
        [1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10],
    ]
    assert table.column("flow_pattern").to_pylist() == [None, "fan_in", "fan_in"]
    assert table.column("flow_as_community").to_pylist() == [None, True, False]
    family = candidate_family(table, 3)
    assert family[:2].tolist() == [0, 0] and family[2] > 0
    shape, burst = shapes_and_bursts(table, 3)
    assert shape.tolist() == [False, True, True]
    assert burst.tolist() == [False, True, True]
