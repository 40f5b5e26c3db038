"""Which ring candidates are kept: the most significant disjoint readings.

Communities of every level, identifier sharers and shapes of money describe overlapping
sets of accounts; :func:`ring_groups` keeps, account by account, the reading whose fraud
evidence is most significant (:func:`disjoint_owners`), a shape of money read whole
before the shapes it holds (see :mod:`scoring.flow_candidates`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.flow_candidates import (
    FAMILIES,
    candidate_family,
    family_channels,
    shapes_and_bursts,
    shapes_over_the_same_community,
    shapes_read_whole,
)
from scoring.projection import AccountProjection
from scoring.surprise import ChannelEvidence, ring_evidence, with_correlation

if TYPE_CHECKING:
    from scoring.analysis import AnalysisConfig

__all__ = [
    "disjoint_owners",
    "most_significant_disjoint",
    "ring_groups",
    "with_community_correlation",
]


def with_community_correlation(
    candidates: pa.Table, accounts: np.ndarray, channels: ChannelEvidence
) -> ChannelEvidence:
    """``channels`` with each channel's intra-group correlation estimated over the
    community and identifier candidates of every level (not the money-flow shapes), for
    every ring test of the run (see :func:`scoring.surprise.with_correlation`).

    The estimate does not depend on which candidates are kept: the kept rings are few
    and many of them fraud, while the candidates are thousands of mostly benign groups,
    which is what the correlation of benign evidence is to be read from.

    Parameters
    ----------
    candidates : pa.Table
        ``members`` (store ids) and the money-flow columns of
        :func:`scoring.flow_candidates.candidate_family`, one row per candidate.
    accounts : ndarray of int64
        Store ids of the rows of ``channels``, ascending.
    channels : ChannelEvidence

    Notes
    -----
    O(r c) for r candidate members and c channels.
    """
    k = candidates.num_rows
    community = ~shapes_and_bursts(candidates, k)[0]
    members = candidates.column("members").filter(pa.array(community)).combine_chunks()
    flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
    sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
    group = np.repeat(np.arange(sizes.shape[0]), sizes)
    rows = np.searchsorted(accounts, flat)
    return with_correlation(channels, rows, group, int(sizes.shape[0]))


def ring_groups(
    candidates: pa.Table,
    projection: AccountProjection,
    channels: ChannelEvidence,
    config: AnalysisConfig,
) -> np.ndarray:
    """The ring each account belongs to (a candidate label), or -1.

    Candidates of every community level are tested; the most significant disjoint ones
    are kept (:func:`most_significant_disjoint`).

    Notes
    -----
    O(r log r) for r candidate members.
    """
    accounts = projection.accounts
    k = candidates.num_rows
    members = candidates.column("members").combine_chunks()
    flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
    sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
    group = np.repeat(np.arange(k), sizes)
    rows = np.searchsorted(accounts, flat)
    family = candidate_family(candidates, k)
    significance = ring_evidence(
        channels,
        rows,
        group,
        k,
        config.surprise,
        family=family,
        family_tests=np.bincount(family, minlength=FAMILIES),
        family_channels=family_channels(channels.names),
    ).significance
    shape, burst = shapes_and_bursts(candidates, k)
    significance = shapes_read_whole(significance, shape, group, rows, sizes, k, burst)
    significance = shapes_over_the_same_community(significance, shape, group, rows, k)
    owner = disjoint_owners(
        group,
        rows,
        significance,
        sizes,
        k,
        remainder=shape,
        min_size=config.min_ring_size,
    )
    label = np.full(accounts.shape[0], -1, np.int64)
    owned = np.flatnonzero(owner >= 0)
    label[owned] = candidates.column("candidate").to_numpy()[owner[owned]]
    return label


def most_significant_disjoint(
    group: np.ndarray,
    rows: np.ndarray,
    significance: np.ndarray,
    sizes: np.ndarray,
    k: int,
) -> np.ndarray:
    """Candidates kept: most significant first (then larger), each sharing no member
    with one kept before it. A coarse
    community and the finer ones inside it describe the same accounts; the reading with
    the stronger evidence wins.

    Notes
    -----
    O(r log r) plus a Python step per candidate for r candidate members.
    """
    owner = disjoint_owners(group, rows, significance, sizes, k)
    chosen = np.zeros(k, np.bool_)
    chosen[owner[owner >= 0]] = True
    return chosen


def disjoint_owners(
    group: np.ndarray,
    rows: np.ndarray,
    significance: np.ndarray,
    sizes: np.ndarray,
    k: int,
    *,
    remainder: np.ndarray | None = None,
    min_size: int = 1,
) -> np.ndarray:
    """The candidate each account row ends in (-1: none), picked as
    :func:`most_significant_disjoint` picks them, except that a candidate ``remainder``
    marks that overlaps ones kept before it keeps its other members, when they are at
    least ``min_size`` and at least two thirds of it: a shape of money is not lost to a
    community that shares one of its accounts.

    Notes
    -----
    O(r log r) plus a Python step per candidate for r candidate members.
    """
    order = np.lexsort((-sizes, -significance))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    owner = np.full(int(rows.max()) + 1 if rows.size else 0, -1, np.int64)
    by_group = np.argsort(group, kind="stable")
    member_rows = rows[by_group]
    partial = np.zeros(k, np.bool_) if remainder is None else remainder
    for candidate in order.tolist():
        members = member_rows[starts[candidate] : starts[candidate + 1]]
        free = owner[members] < 0
        if free.all():
            owner[members] = candidate
        elif partial[candidate]:
            left = members[free]
            if left.size >= min_size and 3 * left.size >= 2 * members.size:
                owner[left] = candidate
    return owner
