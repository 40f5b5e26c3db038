"""The evaluation report: one detector's flagged clusters and account scores against the truth."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from graph_service.errors import InvalidInput
from graph_service.tables import binary_incidence, distinct, require_columns
from graph_service.typing import F64, I64, BoolArray
from scoring.evaluation.metrics import ranking_figures

__all__ = ["EvaluationReport", "SharerKindReport", "TypologyReport", "evaluate"]

log = logging.getLogger(__name__)

#: Decimal places of the figures in ``EvaluationReport.as_dict``.
DECIMALS: Final = 4

#: At most this many ids are quoted in an error message.
_ROWS_QUOTED: Final = 10


@dataclass(frozen=True, slots=True)
class TypologyReport:
    """Quality figures for the rings of one typology.

    Attributes
    ----------
    typology : str
    n_rings : int
        Rings of this typology with at least one member in the store.
    n_found : int
        Of those, rings matched by a flagged cluster.
    ring_recall : float or None
        ``n_found / n_rings``; ``None`` without rings.
    roc_auc : float or None
        Account scores of this typology's ring members against every account outside all
        rings.
    pr_auc : float or None
        Average precision on the same accounts.
    n_accounts : int
        Ring members of this typology in the store.
    mean_best_jaccard : float or None
        Mean over the rings of their best Jaccard similarity with any flagged cluster.
    n_named : int or None
        Of the rings found, those whose best-matching flagged cluster names this typology
        (``None`` when the flagged clusters name none).
    """

    typology: str
    n_rings: int
    n_found: int
    ring_recall: float | None
    roc_auc: float | None
    pr_auc: float | None
    n_accounts: int
    mean_best_jaccard: float | None
    n_named: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, floats rounded to ``DECIMALS`` places."""
        return {
            "n_rings": self.n_rings,
            "n_found": self.n_found,
            "n_named": self.n_named,
            "ring_recall": _rounded(self.ring_recall),
            "roc_auc": _rounded(self.roc_auc),
            "pr_auc": _rounded(self.pr_auc),
            "n_accounts": self.n_accounts,
            "mean_best_jaccard": _rounded(self.mean_best_jaccard),
        }


@dataclass(frozen=True, slots=True)
class SharerKindReport:
    """False positives among the legitimate accounts of one benign sharing kind.

    Attributes
    ----------
    kind : str
        The benign kind (``household``, ``office``, ``call_centre``...).
    n_accounts : int
        Distinct accounts of this kind in the store that are in no ring.
    n_flagged : int
        Of those, accounts inside a flagged cluster.
    fpr : float or None
        ``n_flagged / n_accounts``.
    """

    kind: str
    n_accounts: int
    n_flagged: int
    fpr: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "n_accounts": self.n_accounts,
            "n_flagged": self.n_flagged,
            "fpr": _rounded(self.fpr),
        }


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Quality of one detector against the ground truth.

    Attributes
    ----------
    ring_recall : float or None
        Share of rings (with a member in the store) matched by a flagged cluster.
    cluster_precision : float or None
        Share of flagged clusters matching a ring; ``None`` when nothing was flagged.
    roc_auc, pr_auc : float or None
        Account scores, ring members against all other accounts.
    n_flagged : int
        Flagged clusters.
    n_rings, n_found : int
        Rings evaluated and rings found.
    n_accounts, n_ring_accounts : int
        Accounts scored over, and those of them in a ring.
    flagged_accounts : int
        Distinct accounts in any flagged cluster.
    mean_best_jaccard : float or None
        Mean over the rings of their best Jaccard similarity with any flagged cluster.
    min_jaccard : float
        The match threshold used.
    truth_accounts_missing : int
        Truth rows whose account the store does not hold (left out of every figure).
    rings_missing : int
        Rings none of whose members the store holds (left out of every figure).
    n_heavy_sharers : int or None
        Legitimate heavy sharers given; ``None`` when none were given.
    heavy_sharer_fpr : float or None
        Share of the heavy sharers that sit in a flagged cluster.
    heavy_sharer_clusters : int or None
        Flagged clusters made of heavy sharers only.
    precision_at : dict of int to float or None
        Cluster precision among the ``k`` highest-scoring flagged clusters (all of them
        when fewer were flagged; ``None`` when none were), for ``k`` in ``top_k``.
    clusters_without_ring_members : int
        Flagged clusters holding no ring member at all.
    n_sharers : int or None
        Listed legitimate sharers in the store and in no ring; ``None`` without a list.
    sharer_fpr : float or None
        Share of them inside a flagged cluster.
    sharer_only_clusters : int or None
        Flagged clusters made of listed legitimate sharers only.
    per_sharer_kind : dict of str to SharerKindReport
        By benign kind, sorted (empty without a list).
    per_typology : dict of str to TypologyReport
        By typology name, sorted.
    typology_agreement : float or None
        Of the rings found, the share whose best-matching flagged cluster names the
        ring's typology (what an investigator is told the ring is); ``None`` when no ring
        was found or the flagged clusters carry no ``typology``.
    rings : pa.Table
        One row per evaluated ring: ``ring_id, typology, size, best_jaccard, found``.
    """

    ring_recall: float | None
    cluster_precision: float | None
    roc_auc: float | None
    pr_auc: float | None
    n_flagged: int
    n_rings: int
    n_found: int
    n_accounts: int
    n_ring_accounts: int
    flagged_accounts: int
    mean_best_jaccard: float | None
    min_jaccard: float
    truth_accounts_missing: int
    rings_missing: int
    n_heavy_sharers: int | None
    heavy_sharer_fpr: float | None
    heavy_sharer_clusters: int | None
    precision_at: dict[int, float | None] = field(default_factory=dict)
    clusters_without_ring_members: int = 0
    n_sharers: int | None = None
    sharer_fpr: float | None = None
    sharer_only_clusters: int | None = None
    per_sharer_kind: dict[str, SharerKindReport] = field(default_factory=dict)
    per_typology: dict[str, TypologyReport] = field(default_factory=dict)
    typology_agreement: float | None = None
    rings: pa.Table = field(default_factory=lambda: pa.table({}))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (floats rounded, ``None`` where undefined), no ring table."""
        return {
            "ring_recall": _rounded(self.ring_recall),
            "cluster_precision": _rounded(self.cluster_precision),
            "roc_auc": _rounded(self.roc_auc),
            "pr_auc": _rounded(self.pr_auc),
            "n_flagged": self.n_flagged,
            "n_rings": self.n_rings,
            "n_found": self.n_found,
            "n_accounts": self.n_accounts,
            "n_ring_accounts": self.n_ring_accounts,
            "flagged_accounts": self.flagged_accounts,
            "mean_best_jaccard": _rounded(self.mean_best_jaccard),
            "min_jaccard": self.min_jaccard,
            "truth_accounts_missing": self.truth_accounts_missing,
            "rings_missing": self.rings_missing,
            "n_heavy_sharers": self.n_heavy_sharers,
            "heavy_sharer_fpr": _rounded(self.heavy_sharer_fpr),
            "heavy_sharer_clusters": self.heavy_sharer_clusters,
            "precision_at": {str(k): _rounded(v) for k, v in self.precision_at.items()},
            "clusters_without_ring_members": self.clusters_without_ring_members,
            "n_sharers": self.n_sharers,
            "sharer_fpr": _rounded(self.sharer_fpr),
            "sharer_only_clusters": self.sharer_only_clusters,
            "per_sharer_kind": {k: r.as_dict() for k, r in self.per_sharer_kind.items()},
            "per_typology": {name: t.as_dict() for name, t in self.per_typology.items()},
            "typology_agreement": _rounded(self.typology_agreement),
        }


def evaluate(
    flagged: pa.Table,
    account_scores: pa.Table,
    truth: pa.Table,
    *,
    accounts: npt.ArrayLike,
    heavy_sharers: npt.ArrayLike | None = None,
    sharers: pa.Table | None = None,
    min_jaccard: float = 0.5,
    top_k: Sequence[int] = (20, 100),
) -> EvaluationReport:
    """Score one detector's flagged clusters and account scores against the truth.

    Parameters
    ----------
    flagged : pa.Table
        Flagged clusters with a ``members list<int64>`` column (store ids) and, optionally,
        a ``score`` that orders the alert queue for ``precision_at`` (without one, the
        row order is the queue). Other columns are ignored. A member repeated within a
        cluster counts once.
    account_scores : pa.Table
        ``id int64`` and ``risk float64``, at most one row per id. Ids outside
        ``accounts`` (e.g. scores of devices) are ignored; accounts without a row score 0.
    truth : pa.Table
        Resolved truth: ``ring_id, typology, id`` (see :func:`resolve_truth`). Rows with a
        null ``id`` are counted as missing and left out.
    accounts : array_like of int
        Store ids of every account: the population the AUCs are computed over.
    heavy_sharers : array_like of int, optional
        Legitimate heavy sharers (see :func:`legit_heavy_sharers`).
    sharers : pa.Table, optional
        Resolved sharers ``kind, id`` (see :func:`resolve_sharers`): legitimate accounts
        in benign sharing groups; rows with a null id and ring members are left out.
    min_jaccard : float, optional
        A flagged cluster F matches a ring R when ``|F & R| / |F | R| >= min_jaccard``.
    top_k : sequence of int, optional
        Queue depths of ``precision_at`` (20 and 100).

    Returns
    -------
    EvaluationReport

    Raises
    ------
    InvalidInput
        If a column is missing, ``min_jaccard`` is not in (0, 1], a score is null or NaN,
        an id is scored twice, a ring has two typologies, or a truth account is not among
        ``accounts``.

    Examples
    --------
    >>> flagged = pa.table({"members": [[1, 2], [5, 6]]})
    >>> scores = pa.table({"id": [1, 2], "risk": [0.9, 0.8]})
    >>> truth = pa.table({"ring_id": ["R", "R", "R"], "typology": ["t"] * 3, "id": [1, 2, 3]})
    >>> report = evaluate(flagged, scores, truth, accounts=range(10))
    >>> report.ring_recall, report.cluster_precision, round(report.roc_auc, 4)
    (1.0, 0.5, 0.8333)

    Notes
    -----
    O(a log a + s log s + p) for a accounts, s scores and p nonzero cluster-ring overlaps:
    the Jaccard similarities of every flagged cluster with every ring come from one sparse
    incidence product ``F @ R.T`` (scipy.sparse), never a loop over pairs.
    """
    if not 0.0 < min_jaccard <= 1.0:
        raise InvalidInput(f"min_jaccard must be in (0, 1], got {min_jaccard}")
    require_columns(flagged, ("members",), "flagged clusters")
    require_columns(account_scores, ("id", "risk"), "account scores")
    require_columns(truth, ("ring_id", "typology", "id"), "resolved truth (use resolve_truth)")
    population = distinct(np.asarray(accounts, np.int64))

    rings = _RingIndex.build(truth, population)
    members = flagged.column("members").combine_chunks()
    cluster_of = pc.list_parent_indices(members).to_numpy().astype(np.int64)
    member_ids = pc.list_flatten(members).to_numpy(zero_copy_only=False).astype(np.int64)
    universe = distinct(np.concatenate([population, member_ids]))
    cluster_incidence = _incidence(cluster_of, member_ids, flagged.num_rows, universe)
    ring_incidence = _incidence(rings.ring_of, rings.ids, rings.n_rings, universe)

    overlap = (cluster_incidence @ ring_incidence.T).tocoo()
    cluster_sizes = np.diff(cluster_incidence.indptr)
    ring_sizes = np.diff(ring_incidence.indptr)
    shared = overlap.data.astype(np.float64)
    jaccard = shared / (cluster_sizes[overlap.row] + ring_sizes[overlap.col] - shared)
    matched = jaccard >= min_jaccard
    ring_found = np.zeros(rings.n_rings, np.bool_)
    ring_found[overlap.col[matched]] = True
    cluster_matches = np.zeros(flagged.num_rows, np.bool_)
    cluster_matches[overlap.row[matched]] = True
    best_jaccard = np.zeros(rings.n_rings)
    np.maximum.at(best_jaccard, overlap.col, jaccard)
    named_right = _named_right(
        flagged, overlap.row[matched], overlap.col[matched], jaccard[matched], rings
    )

    scores = _scores_over(account_scores, population)
    in_ring = np.isin(population, rings.ids)
    non_ring_scores = np.sort(scores[~in_ring])
    overall_roc, overall_ap = ranking_figures(scores[in_ring], non_ring_scores)
    evaluated = ring_sizes > 0
    flagged_universe = np.zeros(universe.size, np.bool_)
    flagged_universe[cluster_incidence.indices] = True
    heavy_figures = _heavy_sharer_figures(heavy_sharers, universe, cluster_incidence)
    ring_members_per_cluster = cluster_incidence @ np.isin(universe, rings.ids).astype(np.int64)
    sharer_figures = _sharer_figures(sharers, rings.ids, universe, cluster_incidence)

    per_typology = {
        name: _typology_report(
            name,
            rings,
            ring_found,
            best_jaccard,
            evaluated,
            population,
            scores,
            non_ring_scores,
            named_right,
        )
        for name in sorted(set(rings.typology_of_ring.tolist()))
    }
    n_rings = int(evaluated.sum())
    n_found = int(ring_found[evaluated].sum())
    agreement = (
        float(named_right[ring_found & evaluated].sum()) / n_found
        if named_right is not None and n_found
        else None
    )
    report = EvaluationReport(
        ring_recall=n_found / n_rings if n_rings else None,
        cluster_precision=float(cluster_matches.mean()) if flagged.num_rows else None,
        roc_auc=overall_roc,
        pr_auc=overall_ap,
        n_flagged=flagged.num_rows,
        n_rings=n_rings,
        n_found=n_found,
        n_accounts=int(population.size),
        n_ring_accounts=int(in_ring.sum()),
        flagged_accounts=int(flagged_universe.sum()),
        mean_best_jaccard=float(best_jaccard[evaluated].mean()) if n_rings else None,
        min_jaccard=min_jaccard,
        truth_accounts_missing=rings.missing_rows,
        rings_missing=int((~evaluated).sum()),
        n_heavy_sharers=heavy_figures[0],
        heavy_sharer_fpr=heavy_figures[1],
        heavy_sharer_clusters=heavy_figures[2],
        precision_at=_precision_at(flagged, cluster_matches, top_k),
        clusters_without_ring_members=int(
            ((ring_members_per_cluster == 0) & (cluster_sizes > 0)).sum()
        ),
        n_sharers=sharer_figures[0],
        sharer_fpr=sharer_figures[1],
        sharer_only_clusters=sharer_figures[2],
        per_sharer_kind=sharer_figures[3],
        per_typology=per_typology,
        typology_agreement=agreement,
        rings=pa.table(
            {
                "ring_id": rings.ring_names[evaluated],
                "typology": rings.typology_of_ring[evaluated],
                "size": ring_sizes[evaluated].astype(np.int64),
                "best_jaccard": best_jaccard[evaluated],
                "found": ring_found[evaluated],
            }
        ),
    )
    log.info(
        "evaluated",
        extra={
            "ring_recall": report.ring_recall,
            "cluster_precision": report.cluster_precision,
            "n_flagged": report.n_flagged,
        },
    )
    return report


# ----------------------------------------------------------------------- internals


@dataclass(frozen=True, slots=True)
class _RingIndex:
    """Rings numbered 0..n-1 and their present members."""

    n_rings: int
    ring_names: npt.NDArray[np.object_]
    typology_of_ring: npt.NDArray[np.object_]
    ring_of: I64
    ids: I64
    missing_rows: int

    @classmethod
    def build(cls, truth: pa.Table, population: I64) -> _RingIndex:
        ring_ids = truth.column("ring_id").cast(pa.string()).combine_chunks()
        typologies = truth.column("typology").cast(pa.string()).combine_chunks()
        if ring_ids.null_count or typologies.null_count:
            raise InvalidInput("truth has null ring_id or typology values")
        encoded = pc.dictionary_encode(ring_ids)
        ring_of_row = encoded.indices.to_numpy().astype(np.int64)
        names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        typology_codes = pc.dictionary_encode(typologies)
        typology_of_row = typology_codes.indices.to_numpy().astype(np.int64)
        width = max(len(typology_codes.dictionary), 1)
        pair_codes = distinct(ring_of_row * width + typology_of_row)
        per_ring = (pair_codes // width, pair_codes % width)
        if pair_codes.size != names.size:
            counts = np.bincount(per_ring[0], minlength=names.size)
            raise InvalidInput(
                f"truth gives rings more than one typology: {names[counts > 1][:_ROWS_QUOTED].tolist()}"
            )
        typology_names = np.asarray(typology_codes.dictionary.to_pylist(), dtype=object)
        typology_of_ring = np.empty(names.size, dtype=object)
        typology_of_ring[per_ring[0]] = typology_names[per_ring[1]]
        ids_column = truth.column("id").cast(pa.int64()).combine_chunks()
        present = pc.is_valid(ids_column).to_numpy(zero_copy_only=False)
        ids = ids_column.fill_null(0).to_numpy().astype(np.int64)[present]
        unknown = ~np.isin(ids, population)
        if unknown.any():
            raise InvalidInput(
                "truth ids are not among the accounts evaluated: "
                f"{distinct(ids[unknown])[:_ROWS_QUOTED].tolist()}"
            )
        return cls(
            n_rings=int(names.size),
            ring_names=names,
            typology_of_ring=typology_of_ring,
            ring_of=ring_of_row[present],
            ids=ids,
            missing_rows=int((~present).sum()),
        )


def _typology_report(
    name: str,
    rings: _RingIndex,
    ring_found: BoolArray,
    best_jaccard: F64,
    evaluated: BoolArray,
    population: I64,
    scores: F64,
    non_ring_scores: F64,
    named_right: BoolArray | None,
) -> TypologyReport:
    of_typology = (rings.typology_of_ring == name) & evaluated
    n_rings = int(of_typology.sum())
    n_found = int(ring_found[of_typology].sum())
    members = np.isin(population, rings.ids[of_typology[rings.ring_of]])
    roc, ap = ranking_figures(scores[members], non_ring_scores)
    return TypologyReport(
        typology=name,
        n_rings=n_rings,
        n_found=n_found,
        ring_recall=n_found / n_rings if n_rings else None,
        roc_auc=roc,
        pr_auc=ap,
        n_accounts=int(members.sum()),
        mean_best_jaccard=float(best_jaccard[of_typology].mean()) if n_rings else None,
        n_named=None if named_right is None else int(named_right[of_typology & ring_found].sum()),
    )


def _named_right(
    flagged: pa.Table, rows: I64, cols: I64, jaccard: F64, rings: _RingIndex
) -> BoolArray | None:
    """Per ring, whether the matching flagged cluster it overlaps most names its typology.

    ``rows``, ``cols`` and ``jaccard`` are the matches (cluster, ring, similarity);
    ``None`` when the flagged clusters carry no ``typology`` column.
    """
    if "typology" not in flagged.column_names:
        return None
    named = np.asarray(flagged.column("typology").to_pylist(), dtype=object)
    right = np.zeros(rings.n_rings, np.bool_)
    if not rows.size:
        return right
    order = np.lexsort((-jaccard, cols))
    best = order[np.r_[True, cols[order][1:] != cols[order][:-1]]]
    right[cols[best]] = named[rows[best]] == rings.typology_of_ring[cols[best]]
    return right


def _incidence(rows: I64, ids: I64, n_rows: int, universe: I64) -> sp.csr_matrix:
    """Binary ``n_rows x len(universe)`` CSR with a one at (row, position of id)."""
    return binary_incidence(rows, np.searchsorted(universe, ids), n_rows, universe.size)


def _scores_over(account_scores: pa.Table, population: I64) -> F64:
    """Each account's score, 0 where it has none."""
    ids_column = account_scores.column("id").combine_chunks()
    risk_column = account_scores.column("risk").combine_chunks()
    if ids_column.null_count or risk_column.null_count:
        raise InvalidInput("account scores have null ids or risks")
    ids = ids_column.to_numpy().astype(np.int64)
    risk = risk_column.to_numpy().astype(np.float64)
    if np.isnan(risk).any():
        raise InvalidInput("account scores contain NaN")
    ordered = np.sort(ids)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size:
        raise InvalidInput(
            f"account scores repeat ids: {distinct(repeated)[:_ROWS_QUOTED].tolist()}"
        )
    scores = np.zeros(population.size)
    position = np.searchsorted(population, ids)
    known = (position < population.size) & (
        population[np.minimum(position, population.size - 1)] == ids
    )
    scores[position[known]] = risk[known]
    return scores


def _heavy_sharer_figures(
    heavy_sharers: npt.ArrayLike | None, universe: I64, cluster_incidence: sp.csr_matrix
) -> tuple[int | None, float | None, int | None]:
    """(number of heavy sharers, share of them flagged, clusters of heavy sharers only)."""
    if heavy_sharers is None:
        return None, None, None
    heavy = distinct(np.asarray(heavy_sharers, np.int64))
    is_heavy = np.isin(universe, heavy)
    flagged = np.zeros(universe.size, np.bool_)
    flagged[cluster_incidence.indices] = True
    flagged_heavy = int((flagged & is_heavy).sum())
    heavy_members = cluster_incidence @ is_heavy.astype(np.int64)
    sizes = np.diff(cluster_incidence.indptr)
    only_heavy = int(((heavy_members == sizes) & (sizes > 0)).sum())
    return int(heavy.size), (flagged_heavy / heavy.size if heavy.size else None), only_heavy


def _precision_at(
    flagged: pa.Table, cluster_matches: BoolArray, top_k: Sequence[int]
) -> dict[int, float | None]:
    """Precision among the ``k`` highest-scoring flagged clusters, for each ``k``."""
    if flagged.num_rows == 0:
        return dict.fromkeys(top_k, None)
    if "score" in flagged.column_names:
        score = np.asarray(flagged.column("score").to_numpy(zero_copy_only=False), np.float64)
        queue = np.argsort(-score, kind="stable")
    else:
        queue = np.arange(flagged.num_rows)
    ordered = cluster_matches[queue]
    return {k: float(ordered[:k].mean()) for k in top_k}


def _sharer_figures(
    sharers: pa.Table | None, ring_ids: I64, universe: I64, cluster_incidence: sp.csr_matrix
) -> tuple[int | None, float | None, int | None, dict[str, SharerKindReport]]:
    """(listed sharers, share flagged, sharer-only clusters, figures per benign kind)."""
    if sharers is None:
        return None, None, None, {}
    require_columns(sharers, ("kind", "id"), "resolved sharers (use resolve_sharers)")
    present = sharers.filter(pc.is_valid(sharers.column("id")))
    ids = present.column("id").to_numpy().astype(np.int64)
    kinds = np.asarray(present.column("kind").to_pylist(), dtype=object)
    legit = ~np.isin(ids, ring_ids) & np.isin(ids, universe)
    ids, kinds = ids[legit], kinds[legit]
    flagged = np.zeros(universe.size, np.bool_)
    flagged[cluster_incidence.indices] = True
    is_flagged = flagged[np.searchsorted(universe, ids)] if ids.size else np.zeros(0, np.bool_)
    per_kind: dict[str, SharerKindReport] = {}
    for kind in sorted(set(kinds.tolist())):
        of_kind = kinds == kind
        accounts = distinct(ids[of_kind])
        hit = distinct(ids[of_kind & is_flagged])
        per_kind[kind] = SharerKindReport(
            kind=kind,
            n_accounts=int(accounts.size),
            n_flagged=int(hit.size),
            fpr=hit.size / accounts.size if accounts.size else None,
        )
    everyone = distinct(ids)
    is_sharer = np.isin(universe, everyone)
    sharer_members = cluster_incidence @ is_sharer.astype(np.int64)
    sizes = np.diff(cluster_incidence.indptr)
    only = int(((sharer_members == sizes) & (sizes > 0)).sum())
    flagged_sharers = int((flagged & is_sharer).sum())
    fpr = flagged_sharers / everyone.size if everyone.size else None
    return int(everyone.size), fpr, only, per_kind


def _rounded(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, DECIMALS)
