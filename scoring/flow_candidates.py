"""Money-flow shapes as ring candidates: their columns, test families and reasons.

:func:`scoring.flow_rings.flow_ring_candidates` finds the shapes of money among strangers;
this module makes them candidates of the ring test (:mod:`scoring.candidates`): the
columns a shape carries to its ring (:data:`FLOW_COLUMNS`), the family of hypotheses each
shape is tested in (:func:`candidate_family`, :func:`family_channels`), how a whole shape
is read before the shapes it holds and before a community of exactly its members
(:func:`shapes_read_whole`, :func:`shapes_over_the_same_community`), and the reasons that
name the shape (:func:`flow_reasons`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from scoring.flow_rings import FlowPattern, flow_ring_candidates
from scoring.flow_rings.config import BURST_DAYS
from scoring.projection import AccountProjection, MoneyFlow
from scoring.surprise import LABELLED, MODEL

if TYPE_CHECKING:
    from scoring.analysis import AnalysisConfig

__all__ = [
    "BURST_DAYS",
    "FAMILIES",
    "FLOW_COLUMNS",
    "FLOW_TEST_CHANNELS",
    "candidate_family",
    "family_channels",
    "flow_candidate_table",
    "flow_reasons",
    "led_by_the_flow",
    "shapes_and_bursts",
    "shapes_over_the_same_community",
    "shapes_read_whole",
]

#: Columns of a money-flow candidate carried to its ring (null for other candidates);
#: ``flow_as_community`` says that a community or identifier candidate has exactly its
#: members (set by :func:`scoring.candidates.candidates_of_every_level`).
FLOW_COLUMNS: Final[tuple[str, ...]] = (
    "flow_pattern",
    "flow_centre",
    "flow_links",
    "flow_hops",
    "flow_span_days",
    "flow_in_time_order",
    "flow_as_community",
)


def flow_candidate_table(
    projection: AccountProjection,
    config: AnalysisConfig,
    labels: list[np.ndarray],
    found: pa.Table | None,
) -> pa.Table:
    """The money-flow candidates of at least ``min_ring_size`` members, labelled after
    every label in ``labels``, with their :data:`FLOW_COLUMNS`."""
    empty = pa.table(
        {
            "candidate": pa.array([], pa.int64()),
            "members": pa.array([], pa.list_(pa.int64())),
            "flow_pattern": pa.array([], pa.string()),
            "flow_centre": pa.array([], pa.int64()),
            "flow_links": pa.array([], pa.int64()),
            "flow_hops": pa.array([], pa.int64()),
            "flow_span_days": pa.array([], pa.float64()),
            "flow_in_time_order": pa.array([], pa.bool_()),
            "flow_as_community": pa.array([], pa.bool_()),
        }
    )
    if config.flow_rings is None:
        return empty
    if found is None:
        found = flow_ring_candidates(projection.money_flow, config.flow_rings)
    sizes = pc.list_value_length(found.column("members")).to_numpy()
    found = found.filter(pa.array(sizes >= config.min_ring_size))
    if found.num_rows == 0:
        return empty
    base = max((int(x.max()) for x in labels if x.size), default=-1) + 1
    return pa.table(
        {
            "candidate": pa.array(base + np.arange(found.num_rows), pa.int64()),
            "members": found.column("members"),
            "flow_pattern": found.column("pattern"),
            "flow_centre": found.column("centre"),
            "flow_links": found.column("links"),
            "flow_hops": found.column("hops"),
            "flow_span_days": found.column("span_days"),
            "flow_in_time_order": found.column("in_time_order"),
            "flow_as_community": pa.array(np.zeros(found.num_rows, np.bool_)),
        }
    )


def led_by_the_flow(reasons: pa.Array, flow: list[list[str]], top: int) -> pa.Array:
    """``reasons`` (one list per ring), each led by its money-flow reasons (``flow``, empty
    for the rings money did not make), ``top`` reasons in all."""
    listed = reasons.to_pylist()
    merged = [
        ([*shape, *(r for r in rest if r not in shape)])[:top] if shape else rest
        for shape, rest in zip(flow, listed, strict=True)
    ]
    return pa.array(merged, pa.list_(pa.string()))


def flow_reasons(
    shape: pa.Table, flow: MoneyFlow, flat: np.ndarray, group: np.ndarray
) -> list[list[str]]:
    """What a money-flow ring's shape says, one list per ring of ``shape`` (the
    :data:`FLOW_COLUMNS`; empty where the pattern is null):

    - the shape: ``FAN_IN_FROM_<n>_ACCOUNTS``, ``FAN_OUT_TO_<n>_ACCOUNTS``,
      ``CYCLE_OF_<n>``, ``SCATTER_GATHER_THROUGH_<n>_ACCOUNTS``,
      ``GATHER_SCATTER_<i>_IN_<o>_OUT``, ``BIPARTITE_<p>_PAYERS_<q>_PAYEES``,
      ``STACK_OF_<layers>_LAYERS``, ``MONEY_AMONG_<n>_UNRELATED_ACCOUNTS``, with
      ``_IN_24H`` / ``_WITHIN_<d>_DAYS`` when all its transfers fall within 30 days (a
      cycle only when money could go round in time order);
    - ``PASS_THROUGH_<p>_PCT``: of the money members received from other members, the
      share those that received it paid on to members (where some did).

    ``flat`` and ``group`` are the ring members (store ids) and their ring.
    """
    k = shape.num_rows
    pattern = shape.column("flow_pattern").to_pylist()
    links = shape.column("flow_links").to_pylist()
    hops = shape.column("flow_hops").to_pylist()
    span = shape.column("flow_span_days").to_pylist()
    ordered = shape.column("flow_in_time_order").to_pylist()
    passed = _internal_pass_through(flow, flat, group, k)
    result: list[list[str]] = []
    for ring in range(k):
        p = pattern[ring]
        if p is None:
            result.append([])
            continue
        members = int(np.count_nonzero(group == ring))
        n = int(links[ring])
        text = {
            FlowPattern.FAN_IN.value: f"FAN_IN_FROM_{n}_ACCOUNTS",
            FlowPattern.FAN_OUT.value: f"FAN_OUT_TO_{n}_ACCOUNTS",
            FlowPattern.CYCLE.value: f"CYCLE_OF_{int(hops[ring])}",
            FlowPattern.SCATTER_GATHER.value: f"SCATTER_GATHER_THROUGH_{n // 2}_ACCOUNTS",
            FlowPattern.GATHER_SCATTER.value: f"GATHER_SCATTER_AROUND_1_OF_{members}_ACCOUNTS",
            FlowPattern.BIPARTITE.value: f"BIPARTITE_{n}_PAYMENTS_AMONG_{members}_ACCOUNTS",
            FlowPattern.STACK.value: f"STACK_OF_{int(hops[ring])}_LAYERS",
            FlowPattern.RANDOM.value: f"MONEY_AMONG_{members}_UNRELATED_ACCOUNTS",
        }[p]
        days = float(span[ring])
        timed = p != FlowPattern.CYCLE.value or bool(ordered[ring])
        if timed and days <= 1.0:
            text += "_IN_24H"
        elif timed and days <= 30.0:
            text += f"_WITHIN_{max(1, int(np.ceil(days)))}_DAYS"
        reasons = [text]
        if passed[ring] >= 0:
            reasons.append(f"PASS_THROUGH_{round(100 * float(passed[ring]))}_PCT")
        result.append(reasons)
    return result


def _internal_pass_through(
    flow: MoneyFlow, flat: np.ndarray, group: np.ndarray, k: int
) -> np.ndarray:
    """Per ring, the money paid on to members by the members that received from members,
    over what they received from members, capped at 1; -1 where no member does both."""
    ring_of: dict[int, int] = dict(zip(flat.tolist(), group.tolist(), strict=True))
    if not ring_of:
        return np.full(k, -1.0)
    ids = np.fromiter(ring_of, np.int64, len(ring_of))
    rings = np.fromiter(ring_of.values(), np.int64, len(ring_of))
    order = np.argsort(ids)
    ids, rings = ids[order], rings[order]

    def ring_of_ids(values: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(ids, values), ids.size - 1)
        found: np.ndarray = np.where(ids[at] == values, rings[at], -1)
        return found

    a, b = ring_of_ids(flow.src), ring_of_ids(flow.dst)
    inside = (a >= 0) & (a == b)
    src, dst, amount = flow.src[inside], flow.dst[inside], flow.amount[inside]
    received = np.zeros(ids.size)
    paid = np.zeros(ids.size)
    np.add.at(received, np.searchsorted(ids, dst), amount)
    np.add.at(paid, np.searchsorted(ids, src), amount)
    middle = (received > 0) & (paid > 0)
    got = np.bincount(rings[middle], weights=received[middle], minlength=k)
    gave = np.bincount(rings[middle], weights=np.minimum(paid, received)[middle], minlength=k)
    share: np.ndarray = np.where(got > 0, gave / np.maximum(got, 1e-12), -1.0)
    return share


#: The hypothesis families of the ring test: 0 for communities and identifier sharers,
#: then two per money-flow pattern (see :func:`candidate_family`).
FAMILIES: Final = 1 + 2 * len(FlowPattern)

#: Channels a money-flow shape's test combines: confirmed fraud and the entity model's
#: verdicts, named before looking (the test pays for two channels, not all of them).
#: Money passed on is what a shape of money does (a student passing a parent's support
#: on as rent, a contractor paying the crew): it restates the shape, so it is no witness.
FLOW_TEST_CHANNELS: Final = frozenset({LABELLED, MODEL})


def shapes_read_whole(
    significance: np.ndarray,
    flow: np.ndarray,
    group: np.ndarray,
    rows: np.ndarray,
    sizes: np.ndarray,
    k: int,
    burst: np.ndarray | None = None,
) -> np.ndarray:
    """Each shape of money at least as significant as the shapes it contains that are at
    least half its size: a scatter-gather holds the fan-in of its sink, a stack the
    gather-scatter of each middle account, and the whole shape is the reading (selection
    then prefers it, as the larger, on a tie).

    A shape drawn out over months does not read whole over a burst it holds (``burst``:
    the shapes whose transfers all fall within :data:`BURST_DAYS`): the burst is the ring
    moving money within its active period, the rest the centre's other strangers.

    Notes
    -----
    O(r + p) for r shape members and p pairs of overlapping shapes.
    """
    shapes = np.flatnonzero(flow)
    if shapes.size < 2:
        return significance
    number = np.full(k, -1, np.int64)
    number[shapes] = np.arange(shapes.size)
    inside = flow[group]
    membership = sp.csr_matrix(
        (np.ones(int(inside.sum())), (number[group[inside]], rows[inside])),
        shape=(shapes.size, int(rows.max()) + 1),
    )
    overlap = (membership @ membership.T).tocoo()
    outer, inner = shapes[overlap.row], shapes[overlap.col]
    contains = (
        (outer != inner) & (overlap.data >= sizes[inner]) & (2 * sizes[inner] >= sizes[outer])
    )
    if burst is not None:
        contains &= ~(burst[inner] & ~burst[outer])
    result = significance.copy()
    np.maximum.at(result, outer[contains], significance[inner[contains]])
    return result


def shapes_over_the_same_community(
    significance: np.ndarray, flow: np.ndarray, group: np.ndarray, rows: np.ndarray, k: int
) -> np.ndarray:
    """Each shape of money at least as significant as a community of exactly its members
    (and a hair more): the same accounts read as a shape say how the money moved.

    Notes
    -----
    O(r log r) for r candidate members.
    """
    if not flow.any() or flow.all():
        return significance
    order = np.lexsort((rows, group))
    starts = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=k))])
    ordered = rows[order]
    keys = [ordered[starts[c] : starts[c + 1]].tobytes() for c in range(k)]
    best: dict[bytes, float] = {}
    for c in np.flatnonzero(~flow).tolist():
        best[keys[c]] = max(best.get(keys[c], 0.0), float(significance[c]))
    result = significance.copy()
    for c in np.flatnonzero(flow).tolist():
        same = best.get(keys[c])
        if same is not None and same >= result[c]:
            result[c] = np.nextafter(same, np.inf)
    return result


def candidate_family(flow: pa.Table | None, k: int) -> np.ndarray:
    """Each candidate's family of hypotheses (see :func:`scoring.surprise.ring_evidence`).

    0 for a community or identifier candidate (``flow_pattern`` null or ``flow`` None),
    and for a shape with exactly the members of one (``flow_as_community``): those
    accounts were tested as a community on every channel already, and their evidence
    (devices, accounts opened together) is not lost by reading them as a shape. Another
    money-flow shape's family is its pattern and whether it is a burst (its transfers
    within :data:`BURST_DAYS`): a cycle of strangers is tested among the cycles, not among
    thousands of communities, and a fan paid out within a fortnight among such fans, not
    among every payroll.

    Parameters
    ----------
    flow : pa.Table, optional
        ``flow_pattern`` and ``flow_span_days`` (see :data:`FLOW_COLUMNS`), one row per
        candidate.
    k : int
        Number of candidates.

    Returns
    -------
    ndarray of int64, shape (k,), values in ``[0, FAMILIES)``
    """
    if flow is None or "flow_pattern" not in flow.column_names:
        return np.zeros(k, np.int64)
    index = {p.value: i for i, p in enumerate(FlowPattern)}
    pattern = np.fromiter(
        (
            index.get(p, -1) if p is not None else -1
            for p in flow.column("flow_pattern").to_pylist()
        ),
        np.int64,
        k,
    )
    span = flow.column("flow_span_days").fill_null(np.inf).to_numpy(zero_copy_only=False)
    burst = (np.asarray(span, np.float64) <= BURST_DAYS).astype(np.int64)
    if "flow_as_community" in flow.column_names:
        community = flow.column("flow_as_community").fill_null(False)
        pattern = np.where(np.asarray(community.to_numpy(zero_copy_only=False)), -1, pattern)
    family: np.ndarray = np.where(pattern >= 0, 1 + 2 * pattern + burst, 0)
    return family


def shapes_and_bursts(flow: pa.Table | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``k`` candidates are money-flow shapes (``flow_pattern`` set), and which
    of those are bursts (every transfer within :data:`BURST_DAYS`), whatever family
    their test is in (see :func:`candidate_family`).

    Examples
    --------
    >>> flow = pa.table(
    ...     {"flow_pattern": [None, "fan_in", "fan_in"], "flow_span_days": [None, 90.0, 3.0]}
    ... )
    >>> [m.tolist() for m in shapes_and_bursts(flow, 3)]
    [[False, True, True], [False, False, True]]
    """
    if flow is None or "flow_pattern" not in flow.column_names:
        none = np.zeros(k, np.bool_)
        return none, none.copy()
    shape = np.asarray(flow.column("flow_pattern").is_valid().to_numpy(zero_copy_only=False))
    span = flow.column("flow_span_days").fill_null(np.inf).to_numpy(zero_copy_only=False)
    burst = shape & (np.asarray(span, np.float64) <= BURST_DAYS)
    return shape, burst


def family_channels(names: tuple[str, ...]) -> np.ndarray:
    """Which channels (``names``) each family's test combines, shape (FAMILIES, c)."""
    picked = np.ones((FAMILIES, len(names)), np.bool_)
    picked[1:] = np.isin(np.asarray(names, dtype=object), list(FLOW_TEST_CHANNELS))
    return picked
