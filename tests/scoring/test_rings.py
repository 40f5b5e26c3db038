"""Stable ring ids: matching to the previous run, lineage events, history, new ids."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pyarrow as pa
import pytest

from graph_service.errors import InvalidInput
from scoring.rings import (
    HISTORY_SCHEMA,
    LINEAGE_SCHEMA,
    RingAssignment,
    RingEvent,
    assign_ring_ids,
    member_set_ring_ids,
)


def _candidates(
    members: Sequence[Sequence[int]],
    scores: Sequence[float] | None = None,
    labels: Sequence[int] | None = None,
) -> pa.Table:
    n = len(members)
    return pa.table(
        {
            "candidate": pa.array(labels if labels is not None else range(n), pa.int64()),
            "members": pa.array([sorted(m) for m in members], pa.list_(pa.int64())),
            "score": pa.array(scores if scores is not None else [0.5] * n, pa.float64()),
            "typology": pa.array(["mule"] * n, pa.string()),
        }
    )


def _run(
    previous: RingAssignment | None,
    members: Sequence[Sequence[int]],
    version: str,
    **options: float,
) -> RingAssignment:
    return assign_ring_ids(
        previous.rings if previous is not None else None,
        _candidates(members),
        version=version,
        **options,
    )


def _id_of(assignment: RingAssignment, members: Sequence[int]) -> str:
    """The ring id given to the candidate with exactly these members."""
    for row in assignment.rings.select(["ring_id", "members"]).to_pylist():
        if row["members"] == sorted(members):
            ring_id: str = row["ring_id"]
            return ring_id
    raise AssertionError(f"no candidate {sorted(members)}")


def _lineage(assignment: RingAssignment) -> dict[str, tuple[str, list[str]]]:
    return {r["ring_id"]: (r["event"], r["parents"]) for r in assignment.lineage.to_pylist()}


def test_first_run_gives_every_candidate_a_new_content_id() -> None:
    """With no previous rings every candidate is new and gets R + 16 hex digits of its set."""
    first = _run(None, [[1, 2, 3], [7, 8]], "v1")
    ids = first.rings.column("ring_id").to_pylist()
    assert ids == member_set_ring_ids(pa.array([[1, 2, 3], [7, 8]]))
    assert all(len(i) == 17 and i.startswith("R") for i in ids) and len(set(ids)) == 2
    assert first.event_counts() == {
        "new": 2,
        "continued": 0,
        "split": 0,
        "merged": 0,
        "dissolved": 0,
    }
    assert first.lineage.schema == LINEAGE_SCHEMA and first.history.schema == HISTORY_SCHEMA


def test_new_ids_do_not_depend_on_row_order_or_candidate_labels() -> None:
    """The same member sets get the same ids in any row order, member order or labelling."""
    one = assign_ring_ids(None, _candidates([[1, 2, 3], [7, 8]], labels=[0, 1]), version="a")
    shuffled = pa.table(
        {
            "candidate": pa.array([42, 9], pa.int64()),
            "members": pa.array([[8, 7], [3, 1, 2]], pa.list_(pa.int64())),
            "score": [0.1, 0.2],
        }
    )
    two = assign_ring_ids(None, shuffled, version="b")
    assert two.rings.column("ring_id").to_pylist() == list(
        reversed(one.rings.column("ring_id").to_pylist())
    )


def test_rerun_on_unchanged_data_keeps_every_id_and_raises_nothing_new() -> None:
    """Identical candidates in a new run all continue their ring, nothing new or dissolved."""
    first = _run(None, [[1, 2, 3], [7, 8], [20, 21, 22, 23]], "v1")
    again = _run(first, [[20, 21, 22, 23], [7, 8], [1, 2, 3]], "v2")
    for members in ([1, 2, 3], [7, 8], [20, 21, 22, 23]):
        assert _id_of(again, members) == _id_of(first, members)
    assert again.event_counts()["continued"] == 3
    assert again.ids_by_event(RingEvent.NEW) == [] and again.ids_by_event(RingEvent.SPLIT) == []
    assert all(parents == [rid] for rid, (_, parents) in _lineage(again).items())


def test_growth_and_shrinkage_keep_the_id() -> None:
    """A ring that triples in size, or loses members, keeps its id (overlap coefficient 1)."""
    first = _run(None, [[1, 2, 3, 4]], "v1")
    ring = _id_of(first, [1, 2, 3, 4])
    grown = _run(first, [list(range(1, 13))], "v2")
    assert _id_of(grown, list(range(1, 13))) == ring
    assert _lineage(grown)[ring] == ("continued", [ring])
    shrunk = _run(grown, [[1, 2, 3]], "v3")
    assert _id_of(shrunk, [1, 2, 3]) == ring


def test_split_keeps_the_id_on_the_piece_most_like_the_old_ring() -> None:
    """One ring in two pieces: the larger piece continues the id, the other is a split."""
    first = _run(None, [list(range(1, 11))], "v1")
    ring = _id_of(first, list(range(1, 11)))
    split = _run(first, [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11]], "v2")
    assert _id_of(split, [4, 5, 6, 7, 8, 9, 10, 11]) == ring
    piece = _id_of(split, [1, 2, 3])
    assert piece != ring
    assert _lineage(split) == {ring: ("continued", [ring]), piece: ("split", [ring])}


def test_merge_keeps_the_best_parent_id_and_lists_every_parent() -> None:
    """Two rings in one: the id of the most similar parent is kept, both are parents."""
    first = _run(None, [[1, 2, 3, 4, 5, 6], [7, 8, 9]], "v1")
    big, small = _id_of(first, [1, 2, 3, 4, 5, 6]), _id_of(first, [7, 8, 9])
    merged = _run(first, [list(range(1, 10))], "v2")
    assert _id_of(merged, list(range(1, 10))) == big
    assert _lineage(merged) == {big: ("merged", [big, small])}
    assert merged.event_counts()["dissolved"] == 0


def test_ring_with_no_related_candidate_is_dissolved() -> None:
    """A previous ring that no candidate overlaps enough gets a dissolved row, no parents."""
    first = _run(None, [[1, 2, 3, 4], [7, 8]], "v1")
    gone = _id_of(first, [1, 2, 3, 4])
    # {1, 50, 51}: overlap coefficient 1/3 with the old ring, below 0.5.
    later = _run(first, [[7, 8], [1, 50, 51]], "v2")
    fresh = _id_of(later, [1, 50, 51])
    lineage = _lineage(later)
    assert lineage[gone] == ("dissolved", [])
    assert lineage[fresh] == ("new", [])
    assert later.ids_by_event(RingEvent.DISSOLVED) == [gone]
    assert later.rings.num_rows == 2  # dissolved rings are lineage rows only


def test_min_overlap_decides_whether_a_candidate_continues() -> None:
    """Overlap coefficient exactly at min_overlap relates; just below does not."""
    first = _run(None, [[1, 2, 3, 4]], "v1")
    ring = _id_of(first, [1, 2, 3, 4])
    half = [1, 2, 90, 91]  # overlap coefficient 2/4
    assert _id_of(_run(first, [half], "v2", min_overlap=0.5), half) == ring
    assert _id_of(_run(first, [half], "v2", min_overlap=0.51), half) != ring


def test_taken_content_id_is_remixed_to_stay_unique() -> None:
    """A split piece whose member set hashes to its parent's id gets a different id."""
    first = _run(None, [[1, 2]], "v1")
    ring = _id_of(first, [1, 2])
    grown = _run(first, [[1, 2, 3, 4, 5]], "v2")
    assert _id_of(grown, [1, 2, 3, 4, 5]) == ring
    split = _run(grown, [[1, 2], [3, 4, 5]], "v3")
    assert _id_of(split, [3, 4, 5]) == ring  # Jaccard 3/5 beats 2/5
    piece = _id_of(split, [1, 2])
    assert piece != ring and piece == _id_of(_run(grown, [[3, 4, 5], [1, 2]], "v3"), [1, 2])


def test_history_and_carried_columns() -> None:
    """History has score and distinct size per ring; candidate columns are carried over."""
    candidates = _candidates([[1, 2, 3], [7, 8]], scores=[0.9, 0.25])
    assignment = assign_ring_ids(None, candidates, version="v1")
    assert assignment.history.to_pylist() == [
        {"ring_id": _id_of(assignment, [1, 2, 3]), "version": "v1", "score": 0.9, "size": 3},
        {"ring_id": _id_of(assignment, [7, 8]), "version": "v1", "score": 0.25, "size": 2},
    ]
    rings = assignment.rings
    assert rings.column_names == [
        "ring_id",
        "candidate",
        "members",
        "score",
        "typology",
        "event",
        "parents",
        "size",
    ]
    assert rings.column("typology").to_pylist() == ["mule", "mule"]


def _oracle(
    previous: dict[str, set[int]], candidates: list[set[int]], min_overlap: float
) -> tuple[dict[int, str], dict[int, str], set[str]]:
    """Greedy matching and events by plain set arithmetic: (matches, events, dissolved)."""
    pairs = []
    for c, members in enumerate(candidates):
        for ring_id, old in previous.items():
            common = len(members & old)
            if not common:
                continue
            overlap = common / min(len(members), len(old))
            if overlap >= min_overlap:
                jaccard = common / len(members | old)
                pairs.append((-jaccard, -common, -overlap, ring_id, min(members), c))
    pairs.sort()
    matches: dict[int, str] = {}
    for *_, ring_id, _, c in pairs:
        if c not in matches and ring_id not in matches.values():
            matches[c] = ring_id
    parents = {c: sum(1 for p in pairs if p[-1] == c) for c in range(len(candidates))}
    events = {}
    for c in range(len(candidates)):
        if c in matches:
            events[c] = "merged" if parents[c] > 1 else "continued"
        else:
            events[c] = "split" if parents[c] else "new"
    related = {p[3] for p in pairs}
    return matches, events, set(previous) - related


@pytest.mark.parametrize("seed", range(6))
def test_matching_agrees_with_a_set_arithmetic_oracle(seed: int) -> None:
    """On random reshuffles of random rings, ids and events match the plain-Python oracle."""
    rng = random.Random(seed)
    accounts = list(range(400))
    rng.shuffle(accounts)
    old_sets, start = [], 0
    while start < 300:
        size = rng.randint(2, 12)
        old_sets.append(accounts[start : start + size])
        start += size
    first = _run(None, old_sets, "v1")
    previous = {
        r["ring_id"]: set(r["members"])
        for r in first.rings.select(["ring_id", "members"]).to_pylist()
    }
    # Next run: move ~20% of accounts to a random other ring or to fresh rings.
    owner = {a: i for i, members in enumerate(old_sets) for a in members}
    for account in list(owner):
        if rng.random() < 0.2:
            owner[account] = rng.randrange(len(old_sets) + 15)
    for account in accounts[300:340]:
        owner[account] = rng.randrange(len(old_sets) + 15)
    groups: dict[int, set[int]] = {}
    for account, group in owner.items():
        groups.setdefault(group, set()).add(account)
    new_sets = [sorted(g) for g in groups.values() if len(g) >= 2]
    rng.shuffle(new_sets)
    second = _run(first, new_sets, "v2", min_overlap=0.4)
    matches, events, dissolved = _oracle(previous, [set(m) for m in new_sets], 0.4)
    rows = second.rings.select(["ring_id", "event", "members"]).to_pylist()
    for c, row in enumerate(rows):
        assert row["event"] == events[c]
        if c in matches:
            assert row["ring_id"] == matches[c]
        else:
            assert row["ring_id"] not in previous
    assert set(second.ids_by_event(RingEvent.DISSOLVED)) == dissolved
    assert len(set(second.rings.column("ring_id").to_pylist())) == len(rows)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pa.table({"candidate": [0], "score": [0.5]}), r": missing column\(s\) \['members'\]"),
        (
            pa.table({"candidate": [0], "members": [[1, 2]]}),
            r": missing column\(s\) \['score'\]",
        ),
        (
            pa.table(
                {"candidate": [0], "members": pa.array([[]], pa.list_(pa.int64())), "score": [0.5]}
            ),
            "empty lists",
        ),
        (
            pa.table({"candidate": [0, 1], "members": [[1, 2], [2, 3]], "score": [0.5, 0.5]}),
            r"must not share accounts; accounts \[2\]",
        ),
        (pa.table({"candidate": [0], "members": [[1, 2]], "score": [1.5]}), r"in \[0, 1\]"),
        (pa.table({"candidate": [0], "members": [["a", "b"]], "score": [0.5]}), "list of integers"),
        (pa.table({"candidate": [0], "members": [[1, None]], "score": [0.5]}), "hold nulls"),
    ],
)
def test_bad_candidates_are_invalid_input(table: pa.Table, message: str) -> None:
    """Candidates with a missing column or bad members/scores raise a clear InvalidInput."""
    with pytest.raises(InvalidInput, match=message):
        assign_ring_ids(None, table, version="v1")


def test_bad_previous_rings_and_min_overlap_are_invalid_input() -> None:
    """Previous rings need unique string ids and members; min_overlap lies in (0, 1]."""
    candidates = _candidates([[1, 2]])
    with pytest.raises(InvalidInput, match=r"previous rings: missing column\(s\) \['ring_id'\]"):
        assign_ring_ids(pa.table({"members": [[1, 2]]}), candidates, version="v2")
    repeated = pa.table({"ring_id": ["R1", "R1"], "members": [[1, 2], [3, 4]]})
    with pytest.raises(InvalidInput, match="values repeat"):
        assign_ring_ids(repeated, candidates, version="v2")
    for bad in (0.0, 1.5):
        with pytest.raises(InvalidInput, match="min_overlap"):
            assign_ring_ids(None, candidates, version="v2", min_overlap=bad)
