"""Stable ring identity across analysis runs: ring ids, lineage and score history.

Community detection labels its communities afresh on every run, so ``candidate`` 7 today
has nothing to do with ``candidate`` 7 yesterday. :func:`assign_ring_ids` gives each ring
candidate a *ring id* that survives reruns: a candidate that is mostly made of the members
of a ring of the previous run keeps that ring's id; any other candidate gets a new id.

Matching
--------
A candidate ``C`` and a previous ring ``P`` are related when their **overlap coefficient**
``|C & P| / min(|C|, |P|)`` reaches ``min_overlap`` (0.5 by default). The overlap
coefficient, unlike Jaccard similarity, stays at 1 when a ring grows or sheds members,
so a ring that grows (even to many times its size) or shrinks keeps its id. Each previous
ring passes its id to at most one candidate and each candidate takes at most one id:
related pairs are taken greedily, best first, ordered by Jaccard similarity
``|C & P| / |C | P|`` (so when a ring splits, the piece most like the old ring keeps the
id, not a small fragment that happens to lie inside it), then ``|C & P|``, then the
overlap coefficient, then ring id and the candidate's smallest member (so the result does
not depend on row order). All intersections come from one sparse product of the candidate x
account and ring x account incidence matrices.

Events (the ``ring_lineage`` rows)
----------------------------------
``continued``
    the candidate took the id of its only related previous ring;
``merged``
    the candidate is related to several previous rings (``parents``), and took the id of
    the best matching one;
``split``
    the candidate is related to previous rings whose ids went to other candidates: it is
    a piece broken off them, with a new id;
``new``
    the candidate is related to no previous ring;
``dissolved``
    a previous ring related to no candidate at all (its id is retired this run).

A previous ring related to candidates but whose id went nowhere (it merged into another
ring) gets no row of its own: it appears in the ``parents`` of the ``merged`` row.

New ids
-------
A new ring's id is ``R`` and 16 hex digits of a 64-bit hash of its member set (a sum of
per-member SplitMix64 hashes), so the same candidates always get the same ids, whatever
their order or ``candidate`` labels. Should the id be taken already (in the previous run
or this one), the hash is re-mixed until it is free. A ring that dissolves and comes back
later with exactly the member set it was first seen with gets its old id back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import InvalidInput
from graph_service.tables import binary_incidence, require_columns
from graph_service.typing import I64

__all__ = [
    "CANDIDATE_COLUMNS",
    "HISTORY_SCHEMA",
    "LINEAGE_SCHEMA",
    "PREVIOUS_COLUMNS",
    "RingAssignment",
    "RingEvent",
    "assign_ring_ids",
    "member_set_ring_ids",
]

log = logging.getLogger(__name__)

#: Columns a candidates table must have (``analyse(...).ring_candidates`` has them).
CANDIDATE_COLUMNS: Final[tuple[str, ...]] = ("candidate", "members", "score")

#: Columns a previous rings table must have.
PREVIOUS_COLUMNS: Final[tuple[str, ...]] = ("ring_id", "members")

#: One row per ring event of a run.
LINEAGE_SCHEMA: Final = pa.schema(
    [
        pa.field("run_version", pa.string(), nullable=False),
        pa.field("ring_id", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("parents", pa.list_(pa.string()), nullable=False),
    ]
)

#: One row per ring per run: the ring's score and size in that run.
HISTORY_SCHEMA: Final = pa.schema(
    [
        pa.field("ring_id", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
    ]
)

_MEMBERS_TYPE: Final = pa.list_(pa.int64())
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)


class RingEvent(StrEnum):
    """What happened to a ring in a run (see the module notes)."""

    NEW = "new"
    CONTINUED = "continued"
    SPLIT = "split"
    MERGED = "merged"
    DISSOLVED = "dissolved"


@dataclass(frozen=True, slots=True)
class RingAssignment:
    """Ring ids for one run's candidates, with lineage and history rows.

    Attributes
    ----------
    rings : pa.Table
        The candidates table, row for row, with ``ring_id`` (string) first and
        ``event`` (string), ``parents`` (list<string>: the related previous rings, the one
        whose id was kept first) and ``size`` (int64, distinct members) added.
    lineage : pa.Table
        ``LINEAGE_SCHEMA``: one row per candidate, plus one ``dissolved`` row per
        previous ring related to no candidate.
    history : pa.Table
        ``HISTORY_SCHEMA``: one row per candidate for this run.
    """

    rings: pa.Table
    lineage: pa.Table
    history: pa.Table

    def event_counts(self) -> dict[str, int]:
        """Number of lineage rows per event, every event present (zeros included)."""
        events = self.lineage.column("event").to_pylist()
        return {e.value: events.count(e.value) for e in RingEvent}

    def ids_by_event(self, event: RingEvent) -> list[str]:
        """Ring ids whose lineage row this run has ``event``, sorted."""
        mask = pc.equal(self.lineage.column("event"), event.value)
        return sorted(self.lineage.filter(mask).column("ring_id").to_pylist())


def assign_ring_ids(
    previous: pa.Table | None,
    candidates: pa.Table,
    *,
    version: str,
    min_overlap: float = 0.5,
) -> RingAssignment:
    """Give this run's ring candidates stable ring ids, matched against the previous run.

    Parameters
    ----------
    previous : pa.Table or None
        The rings of the previous run: ``ring_id`` (string, unique) and ``members``
        (list<int64>); ``None`` or an empty table on the first run.
    candidates : pa.Table
        This run's candidates: ``candidate`` (int64), ``members`` (list<int64>, non-empty,
        no account in two candidates), ``score`` (float64 in [0, 1]); other columns are
        carried through.
    version : str
        The run's version, written in the lineage and history rows.
    min_overlap : float
        Overlap coefficient from which a candidate and a previous ring are related, in
        (0, 1].

    Returns
    -------
    RingAssignment

    Raises
    ------
    InvalidInput
        If a required column is missing or ill-typed, a members list is null or empty or
        holds nulls, an account is in two candidates, a score is null or outside [0, 1],
        a previous ring id is null or repeated, or ``min_overlap`` is outside (0, 1].

    Examples
    --------
    >>> import pyarrow as pa
    >>> first = assign_ring_ids(
    ...     None, pa.table({"candidate": [0], "members": [[1, 2, 3]], "score": [0.9]}),
    ...     version="v1")
    >>> first.lineage.column("event").to_pylist()
    ['new']
    >>> grown = pa.table({"candidate": [5], "members": [[1, 2, 3, 4]], "score": [0.8]})
    >>> second = assign_ring_ids(first.rings, grown, version="v2")
    >>> second.rings.column("ring_id") == first.rings.column("ring_id")
    True

    Notes
    -----
    O(M log M) for M members of candidates and previous rings together (one sort to
    index accounts, one sparse product whose entries are the related pairs), plus a few
    vectorised rounds of greedy matching over those pairs.
    """
    if not 0.0 < min_overlap <= 1.0:
        raise InvalidInput(f"min_overlap must be in (0, 1], got {min_overlap}")
    require_columns(candidates, CANDIDATE_COLUMNS, "candidates")
    cand_sizes, cand_values = _members(candidates, "candidates")
    if cand_values.size:
        distinct, counts = np.unique(cand_values, return_counts=True)
        if (counts > 1).any():
            shared = distinct[counts > 1][:5].tolist()
            raise InvalidInput(
                f"candidates must not share accounts; accounts {shared} appear more than once"
            )
    scores = _scores(candidates)
    if previous is None:
        previous = pa.table({"ring_id": pa.array([], pa.string()), "members": []}).cast(
            pa.schema([("ring_id", pa.string()), ("members", _MEMBERS_TYPE)])
        )
    require_columns(previous, PREVIOUS_COLUMNS, "previous rings")
    prev_ids = _previous_ids(previous)
    prev_sizes, prev_values = _members(previous, "previous rings")

    # Previous rings in ring-id order, so that index order breaks ties by id.
    prev_order = np.argsort(prev_ids, kind="stable")
    n_cand, n_prev = len(cand_sizes), len(prev_ids)
    cand_rows = np.repeat(np.arange(n_cand), cand_sizes)
    prev_rank = np.empty(n_prev, np.int64)
    prev_rank[prev_order] = np.arange(n_prev)
    prev_rows = prev_rank[np.repeat(np.arange(n_prev), prev_sizes)]
    sorted_prev_ids = prev_ids[prev_order]

    _, account = np.unique(np.concatenate([cand_values, prev_values]), return_inverse=True)
    n_accounts = int(account.max()) + 1 if account.size else 0
    cand_matrix = binary_incidence(cand_rows, account[: cand_values.size], n_cand, n_accounts)
    prev_matrix = binary_incidence(prev_rows, account[cand_values.size :], n_prev, n_accounts)
    cand_size = np.asarray(cand_matrix.sum(axis=1)).ravel()
    prev_size = np.asarray(prev_matrix.sum(axis=1)).ravel()

    shared = (cand_matrix @ prev_matrix.T).tocoo()
    pair_cand = shared.row.astype(np.int64)
    pair_prev = shared.col.astype(np.int64)
    common = shared.data.astype(np.float64)
    overlap = common / np.minimum(cand_size[pair_cand], prev_size[pair_prev])
    jaccard = common / (cand_size[pair_cand] + prev_size[pair_prev] - common)
    related = overlap >= min_overlap
    pair_cand, pair_prev = pair_cand[related], pair_prev[related]
    overlap, jaccard, common = overlap[related], jaccard[related], common[related]

    smallest_member = _smallest_members(cand_sizes, cand_values)
    order = np.lexsort((smallest_member[pair_cand], pair_prev, -overlap, -common, -jaccard))
    pair_cand, pair_prev = pair_cand[order], pair_prev[order]
    cand_match = _greedy_matching(pair_cand, pair_prev, n_cand, n_prev)

    n_parents = np.bincount(pair_cand, minlength=n_cand)
    matched = cand_match >= 0
    event = np.where(
        matched,
        np.where(n_parents > 1, RingEvent.MERGED.value, RingEvent.CONTINUED.value),
        np.where(n_parents > 0, RingEvent.SPLIT.value, RingEvent.NEW.value),
    ).astype(object)

    ring_ids = np.empty(n_cand, dtype=object)
    ring_ids[matched] = sorted_prev_ids[cand_match[matched]]
    fresh = np.flatnonzero(~matched)
    ring_ids[fresh] = _fresh_ids(
        cand_sizes, cand_values, fresh, taken=set(prev_ids.tolist()) | set(ring_ids[matched])
    )

    # Parents per candidate: the kept id first, then by match quality.
    kept_first = (cand_match[pair_cand] != pair_prev).astype(np.int8)
    parent_order = np.lexsort((np.arange(pair_cand.size), kept_first, pair_cand))
    parents = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(n_parents)]).astype(np.int32)),
        pa.array(sorted_prev_ids[pair_prev[parent_order]].tolist(), pa.string()),
    )

    ring_id_array = pa.array(ring_ids.tolist(), pa.string())
    rings = candidates
    if "size" in rings.column_names:
        rings = rings.drop_columns(["size"])
    for name in ("ring_id", "event", "parents"):
        if name in rings.column_names:
            rings = rings.drop_columns([name])
    rings = rings.add_column(0, "ring_id", ring_id_array)
    rings = rings.append_column("event", pa.array(event.tolist(), pa.string()))
    rings = rings.append_column("parents", parents)
    rings = rings.append_column("size", pa.array(cand_size.astype(np.int64)))

    dissolved = np.flatnonzero(np.bincount(pair_prev, minlength=n_prev) == 0)
    dissolved_ids = sorted_prev_ids[dissolved].tolist()
    lineage = pa.table(
        {
            "run_version": pa.array([version] * (n_cand + len(dissolved_ids)), pa.string()),
            "ring_id": pa.concat_arrays([ring_id_array, pa.array(dissolved_ids, pa.string())]),
            "event": pa.array(
                event.tolist() + [RingEvent.DISSOLVED.value] * len(dissolved_ids), pa.string()
            ),
            "parents": pa.concat_arrays(
                [parents, pa.array([[]] * len(dissolved_ids), pa.list_(pa.string()))]
            ),
        },
        schema=LINEAGE_SCHEMA,
    )
    history = pa.table(
        {
            "ring_id": ring_id_array,
            "version": pa.array([version] * n_cand, pa.string()),
            "score": scores,
            "size": pa.array(cand_size.astype(np.int64)),
        },
        schema=HISTORY_SCHEMA,
    )
    assignment = RingAssignment(rings=rings, lineage=lineage, history=history)
    log.info(
        "ring ids assigned",
        extra={"version": version, "candidates": n_cand, **assignment.event_counts()},
    )
    return assignment


def member_set_ring_ids(members: pa.Array | pa.ChunkedArray) -> list[str]:
    """The content ring id of each member set (``R`` + 16 hex digits).

    Parameters
    ----------
    members : pa.Array or pa.ChunkedArray
        list<int64> member sets; the order of members and repeats do not matter.

    Returns
    -------
    list of str
        One id per set.

    Raises
    ------
    InvalidInput
        If a set is null, empty or holds nulls.

    Notes
    -----
    O(M log M) for M members (each set is made distinct first).
    """
    table = pa.table({"members": members})
    sizes, values = _members(table, "members")
    return [f"R{h:016x}" for h in content_hashes(sizes, values).tolist()]


# -- helpers -------------------------------------------------------------------------------


def _members(table: pa.Table, what: str) -> tuple[I64, I64]:
    """Sizes of each ``members`` list and all members flattened, as int64 arrays."""
    column = table.column("members")
    value_type = getattr(column.type, "value_type", None)
    if value_type is None or not pa.types.is_integer(value_type):
        raise InvalidInput(f"{what}: 'members' must be a list of integers, got {column.type}")
    lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if lists.null_count:
        raise InvalidInput(f"{what}: 'members' has null lists")
    sizes = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    if (sizes == 0).any():
        raise InvalidInput(f"{what}: 'members' has empty lists (row {int(np.argmin(sizes))})")
    flat = lists.flatten()
    if flat.null_count:
        raise InvalidInput(f"{what}: 'members' lists hold nulls")
    return sizes, flat.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _scores(candidates: pa.Table) -> pa.Array:
    column = candidates.column("score")
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise InvalidInput(f"candidates: 'score' must be numeric, got {column.type}")
    scores = column.cast(pa.float64()).combine_chunks()
    values = scores.to_numpy(zero_copy_only=False)
    if scores.null_count or np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        raise InvalidInput("candidates: every 'score' must be a number in [0, 1]")
    return scores


def _previous_ids(previous: pa.Table) -> npt.NDArray[np.object_]:
    column = previous.column("ring_id")
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InvalidInput(f"previous rings: 'ring_id' must be a string, got {column.type}")
    if column.null_count:
        raise InvalidInput("previous rings: 'ring_id' has nulls")
    ids = np.array(column.to_pylist(), dtype=object)
    if len(set(ids.tolist())) != len(ids):
        raise InvalidInput("previous rings: 'ring_id' values repeat")
    return ids


def _smallest_members(sizes: I64, values: I64) -> I64:
    if not sizes.size:
        return np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.minimum.reduceat(values, starts)


def _greedy_matching(
    pair_cand: I64,
    pair_prev: I64,
    n_cand: int,
    n_prev: int,
) -> I64:
    """Greedy one-to-one matching of pairs listed best first; candidate -> previous or -1.

    Each round takes every pair that is the best remaining pair of both its ends (the
    globally best remaining pair always is), which gives exactly the greedy matching.
    """
    cand_match = np.full(n_cand, -1, np.int64)
    prev_match = np.full(n_prev, -1, np.int64)
    alive = np.ones(pair_cand.size, bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        best = np.zeros(idx.size, np.int8)
        best[np.unique(pair_cand[idx], return_index=True)[1]] += 1
        best[np.unique(pair_prev[idx], return_index=True)[1]] += 1
        taken = idx[best == 2]
        cand_match[pair_cand[taken]] = pair_prev[taken]
        prev_match[pair_prev[taken]] = pair_cand[taken]
        alive &= (cand_match[pair_cand] < 0) & (prev_match[pair_prev] < 0)
    return cand_match


def _splitmix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser, elementwise (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = values + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def content_hashes(sizes: I64, values: I64) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each member set (order and repeats ignored): ``values`` holds the
    members of set 0, then set 1, ..., ``sizes`` how many each."""
    if not sizes.size:
        return np.zeros(0, np.uint64)
    set_rows = np.repeat(np.arange(sizes.size), sizes)
    # Distinct members per set: sort by (set, member), keep the first of each run.
    order = np.lexsort((values, set_rows))
    v, r = values[order], set_rows[order]
    first = np.ones(v.size, bool)
    first[1:] = (v[1:] != v[:-1]) | (r[1:] != r[:-1])
    v, r = v[first], r[first]
    set_start = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
    with np.errstate(over="ignore"):
        sums = np.add.reduceat(_splitmix64(v.astype(np.uint64)), set_start)
        distinct = np.diff(np.append(set_start, v.size)).astype(np.uint64)
        return _splitmix64(sums ^ _splitmix64(distinct))


def _fresh_ids(
    sizes: I64,
    values: I64,
    rows: I64,
    *,
    taken: set[str],
) -> list[str]:
    """Content ids of the member sets at ``rows``, re-mixed where an id is taken."""
    if not rows.size:
        return []
    hashes = content_hashes(sizes, values)
    ids: list[str] = []
    used = set(taken)
    for h in hashes[rows].tolist():
        value = np.uint64(h)
        ring_id = f"R{int(value):016x}"
        while ring_id in used:
            value = _splitmix64(np.array([value], np.uint64))[0]
            ring_id = f"R{int(value):016x}"
        used.add(ring_id)
        ids.append(ring_id)
    return ids
