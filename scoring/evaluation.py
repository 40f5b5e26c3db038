"""Ring-detection quality against a ground truth of planted (or confirmed) rings.

A ground-truth file lists ring members, one row each: ``ring_id, typology, account_id``.
:func:`load_truth` reads and checks it (CSV or Parquet, any source, any typology names),
:func:`resolve_truth` maps its account keys to store ids exactly as ingestion keys
accounts, and :func:`evaluate` scores one detector -- its flagged clusters and its
per-account scores -- against it:

* **ring recall**: share of planted rings matched by some flagged cluster with Jaccard
  similarity ``|F & R| / |F | R| >= min_jaccard`` (0.5 by default; exactly 0.5 counts);
* **cluster precision**: share of flagged clusters that match some planted ring so;
* **ROC-AUC** and **PR-AUC** (average precision) of the account scores over every account,
  ring members being the positives; an account without a score scores 0;
* the **false-positive rate among legitimate heavy sharers** (households, carrier-NAT users,
  office Wi-Fi, VPN users: see :func:`legit_heavy_sharers`) and the number of flagged
  clusters made of heavy sharers only;
* all of it **per typology**.

Every detector (the scoring pipeline, :mod:`scoring.baselines`) hands over the same two
tables, so one :func:`evaluate` call per detector compares them, and :func:`format_table`
prints them side by side.

Truth accounts that the store does not hold are kept in the resolved table with a null
id; :func:`evaluate` leaves them out of every figure and reports how many there were (and
how many rings lost every member that way).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import scipy.sparse as sp

from graph_service.errors import InvalidInput
from graph_service.model import KEY_WHITESPACE, NODE_TYPE_CODE, LinkType, NodeType

if TYPE_CHECKING:
    from graph_service.store import GraphStore

__all__ = [
    "SHARED_IDENTIFIER_LINKS",
    "TRUTH_COLUMNS",
    "EvaluationReport",
    "TypologyReport",
    "account_ids",
    "average_precision",
    "evaluate",
    "format_table",
    "legit_heavy_sharers",
    "load_truth",
    "resolve_truth",
    "roc_auc",
    "table_rows",
]

log = logging.getLogger(__name__)

#: The columns a ground-truth file must have (names matched case-insensitively).
TRUTH_COLUMNS: Final[tuple[str, ...]] = ("ring_id", "typology", "account_id")

#: Identifier links whose sharing makes an account a heavy sharer.
SHARED_IDENTIFIER_LINKS: Final[tuple[LinkType, ...]] = (
    LinkType.USES_DEVICE,
    LinkType.LOGS_IN_FROM,
    LinkType.HAS_ADDRESS,
    LinkType.HAS_PHONE,
    LinkType.HAS_EMAIL,
    LinkType.HAS_CARD,
)

#: Decimal places of the figures in ``EvaluationReport.as_dict``.
DECIMALS: Final = 4

#: At most this many row numbers are quoted in an error message.
_ROWS_QUOTED: Final = 10


_PARQUET_MAGIC: Final = b"PAR1"

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
_Bool = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- truth


def load_truth(path: str | Path) -> pa.Table:
    """Read and check a ground-truth file of ring members.

    Parameters
    ----------
    path : str or Path
        A CSV file (optionally compressed, e.g. ``.csv.gz``) or a Parquet file (detected
        by its magic bytes) with the columns ``ring_id, typology, account_id`` in any
        order and case. Other columns are ignored. One row per ring member.

    Returns
    -------
    pa.Table
        ``ring_id string, typology string, account_id string``, one row per input row in
        file order, values trimmed of surrounding whitespace. Typology names are free text:
        any name is accepted.

    Raises
    ------
    InvalidInput
        Naming the file (and the 1-based data row numbers, header excluded, where rows are
        at fault) when the file is missing or unreadable, is empty or has no data rows,
        lacks a column, has a blank value, repeats a ``(ring_id, account_id)`` pair, or
        gives one ring more than one typology. No row is ever dropped silently.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     csv_path = pathlib.Path(tmp) / "truth.csv"
    ...     _ = csv_path.write_text("ring_id,typology,account_id\\nR1,smurfing, A7 \\n")
    ...     load_truth(csv_path).to_pylist()
    [{'ring_id': 'R1', 'typology': 'smurfing', 'account_id': 'A7'}]

    Notes
    -----
    O(rows) plus a hash group-by for the duplicate and consistency checks; Arrow kernels.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: ground-truth file not found")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path}: ground-truth file is empty")
    with path.open("rb") as handle:
        parquet = handle.read(4) == _PARQUET_MAGIC
    table = _read_parquet_truth(path) if parquet else _read_csv_truth(path)
    if table.num_rows == 0:
        raise InvalidInput(f"{path}: ground-truth file has no data rows")
    trimmed = {name: _trim(table.column(name)) for name in TRUTH_COLUMNS}
    _check_blanks(path, trimmed)
    truth = pa.table(trimmed)
    _check_duplicates(path, truth)
    _check_one_typology_per_ring(path, truth)
    log.info("ground truth loaded", extra={"path": str(path), "rows": truth.num_rows})
    return truth


def resolve_truth(truth: pa.Table, store: GraphStore) -> pa.Table:
    """Map the truth's account keys to the store's Account ids.

    Parameters
    ----------
    truth : pa.Table
        ``ring_id, typology, account_id`` as returned by :func:`load_truth`.
    store : GraphStore
        The store the detectors ran on.

    Returns
    -------
    pa.Table
        ``ring_id string, typology string, account_id string, id int64``: the input rows
        in order, ``account_id`` normalised as ingestion normalises account keys (trimmed
        of ``KEY_WHITESPACE``), ``id`` the Account node's id or null where the store holds
        no such account. :func:`evaluate` counts and reports the null rows.

    Raises
    ------
    InvalidInput
        If a column is missing or an account key is blank.

    Notes
    -----
    One ``export_nodes`` call and an O(n + t) hash lookup for n nodes and t truth rows.
    """
    _require_columns(truth, TRUTH_COLUMNS, "truth")
    keys = _trim(truth.column("account_id"))
    if pc.any(pc.is_null(keys)).as_py():
        raise InvalidInput("truth has blank account_id values; load it with load_truth")
    nodes = store.export_nodes()
    accounts = nodes.filter(pc.equal(nodes.column("type"), NODE_TYPE_CODE[NodeType.ACCOUNT]))
    position = pc.index_in(keys, value_set=accounts.column("key").combine_chunks())
    ids = pc.take(accounts.column("id").combine_chunks(), position)
    resolved = pa.table(
        {
            "ring_id": truth.column("ring_id").cast(pa.string()),
            "typology": truth.column("typology").cast(pa.string()),
            "account_id": keys,
            "id": ids.cast(pa.int64()),
        }
    )
    missing = resolved.num_rows - int(pc.count(ids).as_py())
    if missing:
        log.warning(
            "truth accounts not in the store",
            extra={"missing": missing, "rows": resolved.num_rows},
        )
    return resolved


def account_ids(store: GraphStore) -> _I64:
    """Ids of every Account node: the population :func:`evaluate` scores over.

    Parameters
    ----------
    store : GraphStore

    Returns
    -------
    ndarray of int64
        Sorted store ids of the accounts.

    Notes
    -----
    One ``export_nodes`` call and an O(n log n) sort.
    """
    nodes = store.export_nodes()
    is_account = pc.equal(nodes.column("type"), NODE_TYPE_CODE[NodeType.ACCOUNT])
    ids: _I64 = np.sort(nodes.column("id").filter(is_account).to_numpy().astype(np.int64))
    return ids


def legit_heavy_sharers(store: GraphStore, truth: pa.Table, *, min_accounts: int = 3) -> _I64:
    """Accounts outside every ring that share an identifier with many other accounts.

    Households, carrier-NAT mobile users, office and public Wi-Fi users and VPN users share
    an address, IP, device, phone, email or card with others without being a ring; a
    detector that flags them has a false-positive problem that ring recall does not show.

    Parameters
    ----------
    store : GraphStore
    truth : pa.Table
        Resolved truth with an ``id`` column (see :func:`resolve_truth`); null ids are
        ignored.
    min_accounts : int, optional
        An identifier used by at least this many accounts makes each of them a heavy
        sharer (it shares it with ``min_accounts - 1`` others or more).

    Returns
    -------
    ndarray of int64
        Sorted store ids of the heavy sharers that are not ring members.

    Raises
    ------
    InvalidInput
        If ``min_accounts < 2`` or ``truth`` has no ``id`` column.

    Notes
    -----
    One ``export_links`` call over the identifier link types, then O(m) bincounts and an
    O(m log m) unique over the m links.
    """
    if min_accounts < 2:
        raise InvalidInput(f"min_accounts must be >= 2, got {min_accounts}")
    _require_columns(truth, ("id",), "resolved truth (use resolve_truth)")
    links = store.export_links(list(SHARED_IDENTIFIER_LINKS))
    src = links.column("src").to_numpy()
    dst = links.column("dst").to_numpy()
    if dst.size == 0:
        return np.zeros(0, np.int64)
    # Links are aggregated per (account, identifier, type), so each row is one distinct
    # account of its identifier.
    identifiers, inverse, accounts_per_identifier = np.unique(
        dst, return_inverse=True, return_counts=True
    )
    heavy = _distinct(src[accounts_per_identifier[inverse] >= min_accounts])
    ring_members = _present_ids(truth)
    result: _I64 = heavy[~np.isin(heavy, ring_members)].astype(np.int64)
    log.info(
        "legit heavy sharers",
        extra={"heavy_sharers": int(result.size), "identifiers": int(identifiers.size)},
    )
    return result


# ------------------------------------------------------------------------ metrics


def roc_auc(labels: _Bool, scores: _F64) -> float | None:
    """Area under the ROC curve, ties counted half (Mann-Whitney U).

    Parameters
    ----------
    labels : ndarray of bool, shape (n,)
        True for positives.
    scores : ndarray of float64, shape (n,)
        Higher means more likely positive.

    Returns
    -------
    float or None
        ``P(score of a random positive > score of a random negative)`` plus half the
        probability of a tie; ``None`` when either class is empty.

    Examples
    --------
    >>> roc_auc(np.array([True, False, True]), np.array([0.9, 0.5, 0.5]))
    0.75

    Notes
    -----
    O(n log n): one sort of the negatives, a binary search per positive. Equal to
    ``sklearn.metrics.roc_auc_score``.
    """
    positives, negatives = _split(labels, scores)
    return _ranking_figures(positives, np.sort(negatives))[0]


def average_precision(labels: _Bool, scores: _F64) -> float | None:
    """Average precision: the step-wise area under the precision-recall curve.

    Parameters
    ----------
    labels : ndarray of bool, shape (n,)
        True for positives.
    scores : ndarray of float64, shape (n,)
        Higher means more likely positive; equal scores form one threshold.

    Returns
    -------
    float or None
        ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, highest first;
        ``None`` when there is no positive.

    Examples
    --------
    >>> round(average_precision(np.array([True, False, True]), np.array([0.9, 0.8, 0.1])), 4)
    0.8333

    Notes
    -----
    O(n log n): sorts and binary searches. Equal to
    ``sklearn.metrics.average_precision_score``.
    """
    positives, negatives = _split(labels, scores)
    return _ranking_figures(positives, np.sort(negatives))[1]


def _split(labels: _Bool, scores: _F64) -> tuple[_F64, _F64]:
    labels = np.asarray(labels, np.bool_)
    scores = np.asarray(scores, np.float64)
    return scores[labels], scores[~labels]


def _ranking_figures(positives: _F64, sorted_negatives: _F64) -> tuple[float | None, float | None]:
    """(ROC-AUC, average precision) of positive scores against sorted negative scores.

    Each positive at score s contributes ``#neg < s + #neg == s / 2`` to the Mann-Whitney
    count, and ``1/P`` times the precision at threshold s, ``TP(>= s) / (TP(>= s) + FP(>=
    s))``, to the average precision (thresholds without a positive add no recall).
    """
    n_pos, n_neg = positives.size, sorted_negatives.size
    if n_pos == 0:
        return None, None
    below = np.searchsorted(sorted_negatives, positives, side="left")
    not_above = np.searchsorted(sorted_negatives, positives, side="right")
    roc = None
    if n_neg:
        roc = float((below + 0.5 * (not_above - below)).sum() / (float(n_pos) * n_neg))
    sorted_positives = np.sort(positives)
    true_at_or_above = n_pos - np.searchsorted(sorted_positives, positives, side="left")
    false_at_or_above = n_neg - below
    precision = true_at_or_above / (true_at_or_above + false_at_or_above)
    return roc, float(precision.mean())


# ------------------------------------------------------------------------- report


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
    """

    typology: str
    n_rings: int
    n_found: int
    ring_recall: float | None
    roc_auc: float | None
    pr_auc: float | None
    n_accounts: int
    mean_best_jaccard: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, floats rounded to ``DECIMALS`` places."""
        return {
            "n_rings": self.n_rings,
            "n_found": self.n_found,
            "ring_recall": _rounded(self.ring_recall),
            "roc_auc": _rounded(self.roc_auc),
            "pr_auc": _rounded(self.pr_auc),
            "n_accounts": self.n_accounts,
            "mean_best_jaccard": _rounded(self.mean_best_jaccard),
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
    per_typology : dict of str to TypologyReport
        By typology name, sorted.
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
    per_typology: dict[str, TypologyReport] = field(default_factory=dict)
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
            "per_typology": {name: t.as_dict() for name, t in self.per_typology.items()},
        }


def evaluate(
    flagged: pa.Table,
    account_scores: pa.Table,
    truth: pa.Table,
    *,
    accounts: npt.ArrayLike,
    heavy_sharers: npt.ArrayLike | None = None,
    min_jaccard: float = 0.5,
) -> EvaluationReport:
    """Score one detector's flagged clusters and account scores against the truth.

    Parameters
    ----------
    flagged : pa.Table
        Flagged clusters with a ``members list<int64>`` column (store ids); other columns
        (``ring_id``, ``score``, ...) are ignored. A member repeated within a cluster
        counts once.
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
    min_jaccard : float, optional
        A flagged cluster F matches a ring R when ``|F & R| / |F | R| >= min_jaccard``.

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
    _require_columns(flagged, ("members",), "flagged clusters")
    _require_columns(account_scores, ("id", "risk"), "account scores")
    _require_columns(truth, ("ring_id", "typology", "id"), "resolved truth (use resolve_truth)")
    population = _distinct(np.asarray(accounts, np.int64))

    rings = _RingIndex.build(truth, population)
    members = flagged.column("members").combine_chunks()
    cluster_of = pc.list_parent_indices(members).to_numpy().astype(np.int64)
    member_ids = pc.list_flatten(members).to_numpy(zero_copy_only=False).astype(np.int64)
    universe = _distinct(np.concatenate([population, member_ids]))
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

    scores = _scores_over(account_scores, population)
    in_ring = np.isin(population, rings.ids)
    non_ring_scores = np.sort(scores[~in_ring])
    overall_roc, overall_ap = _ranking_figures(scores[in_ring], non_ring_scores)
    evaluated = ring_sizes > 0
    flagged_universe = np.zeros(universe.size, np.bool_)
    flagged_universe[cluster_incidence.indices] = True
    heavy_figures = _heavy_sharer_figures(heavy_sharers, universe, cluster_incidence)

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
        )
        for name in sorted(set(rings.typology_of_ring.tolist()))
    }
    n_rings = int(evaluated.sum())
    n_found = int(ring_found[evaluated].sum())
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
        per_typology=per_typology,
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


# ------------------------------------------------------------------------ display


def table_rows(reports: EvaluationReport | Mapping[str, EvaluationReport]) -> list[list[str]]:
    """The reports as rows of text: a header, overall figures, then per typology.

    Parameters
    ----------
    reports : EvaluationReport or mapping of str to EvaluationReport
        One report, or detectors by name (columns in mapping order).

    Returns
    -------
    list of list of str
        ``[["metric", name, ...], [metric, value, ...], ...]``; undefined figures are
        ``"-"``. Typology rows are ``"<typology> recall"`` (with found/rings), ``"<typology>
        roc_auc"`` and ``"<typology> pr_auc"``, for every typology of any report.

    Notes
    -----
    O(metrics x reports).
    """
    named = {"value": reports} if isinstance(reports, EvaluationReport) else dict(reports)
    rows: list[list[str]] = [["metric", *named]]
    overall: Sequence[tuple[str, str]] = (
        ("ring recall", "ring_recall"),
        ("cluster precision", "cluster_precision"),
        ("ROC-AUC", "roc_auc"),
        ("PR-AUC", "pr_auc"),
        ("mean best Jaccard", "mean_best_jaccard"),
        ("flagged clusters", "n_flagged"),
        ("flagged accounts", "flagged_accounts"),
        ("heavy-sharer FPR", "heavy_sharer_fpr"),
        ("heavy-sharer-only clusters", "heavy_sharer_clusters"),
    )
    for label, attribute in overall:
        rows.append([label, *(_cell(getattr(r, attribute)) for r in named.values())])
    typologies = sorted({t for r in named.values() for t in r.per_typology})
    for typology in typologies:
        found = [r.per_typology.get(typology) for r in named.values()]
        rows.append(
            [
                f"{typology} recall",
                *(
                    "-" if t is None else f"{_cell(t.ring_recall)} ({t.n_found}/{t.n_rings})"
                    for t in found
                ),
            ]
        )
        rows.append([f"{typology} ROC-AUC", *(_cell(t.roc_auc if t else None) for t in found)])
        rows.append([f"{typology} PR-AUC", *(_cell(t.pr_auc if t else None) for t in found)])
    return rows


def format_table(reports: EvaluationReport | Mapping[str, EvaluationReport]) -> str:
    """The reports as an aligned plain-text table (see :func:`table_rows`).

    Parameters
    ----------
    reports : EvaluationReport or mapping of str to EvaluationReport

    Returns
    -------
    str
        One line per row, columns padded with spaces, no trailing newline.

    Notes
    -----
    O(metrics x reports).
    """
    rows = table_rows(reports)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------- internals


@dataclass(frozen=True, slots=True)
class _RingIndex:
    """Rings numbered 0..n-1 and their present members."""

    n_rings: int
    ring_names: npt.NDArray[np.object_]
    typology_of_ring: npt.NDArray[np.object_]
    ring_of: _I64
    ids: _I64
    missing_rows: int

    @classmethod
    def build(cls, truth: pa.Table, population: _I64) -> _RingIndex:
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
        pair_codes = _distinct(ring_of_row * width + typology_of_row)
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
                f"{_distinct(ids[unknown])[:_ROWS_QUOTED].tolist()}"
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
    ring_found: _Bool,
    best_jaccard: _F64,
    evaluated: _Bool,
    population: _I64,
    scores: _F64,
    non_ring_scores: _F64,
) -> TypologyReport:
    of_typology = (rings.typology_of_ring == name) & evaluated
    n_rings = int(of_typology.sum())
    n_found = int(ring_found[of_typology].sum())
    members = np.isin(population, rings.ids[of_typology[rings.ring_of]])
    roc, ap = _ranking_figures(scores[members], non_ring_scores)
    return TypologyReport(
        typology=name,
        n_rings=n_rings,
        n_found=n_found,
        ring_recall=n_found / n_rings if n_rings else None,
        roc_auc=roc,
        pr_auc=ap,
        n_accounts=int(members.sum()),
        mean_best_jaccard=float(best_jaccard[of_typology].mean()) if n_rings else None,
    )


def _incidence(rows: _I64, ids: _I64, n_rows: int, universe: _I64) -> sp.csr_matrix:
    """Binary ``n_rows x len(universe)`` CSR with a one at (row, position of id)."""
    columns = np.searchsorted(universe, ids)
    matrix = sp.csr_matrix(
        (np.ones(ids.size, np.int64), (rows, columns)), shape=(n_rows, universe.size)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def _scores_over(account_scores: pa.Table, population: _I64) -> _F64:
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
            f"account scores repeat ids: {_distinct(repeated)[:_ROWS_QUOTED].tolist()}"
        )
    scores = np.zeros(population.size)
    position = np.searchsorted(population, ids)
    known = (position < population.size) & (
        population[np.minimum(position, population.size - 1)] == ids
    )
    scores[position[known]] = risk[known]
    return scores


def _heavy_sharer_figures(
    heavy_sharers: npt.ArrayLike | None, universe: _I64, cluster_incidence: sp.csr_matrix
) -> tuple[int | None, float | None, int | None]:
    """(number of heavy sharers, share of them flagged, clusters of heavy sharers only)."""
    if heavy_sharers is None:
        return None, None, None
    heavy = _distinct(np.asarray(heavy_sharers, np.int64))
    is_heavy = np.isin(universe, heavy)
    flagged = np.zeros(universe.size, np.bool_)
    flagged[cluster_incidence.indices] = True
    flagged_heavy = int((flagged & is_heavy).sum())
    heavy_members = cluster_incidence @ is_heavy.astype(np.int64)
    sizes = np.diff(cluster_incidence.indptr)
    only_heavy = int(((heavy_members == sizes) & (sizes > 0)).sum())
    return int(heavy.size), (flagged_heavy / heavy.size if heavy.size else None), only_heavy


def _distinct(values: _I64) -> _I64:
    """Sorted distinct values (a sort: numpy's hash-based ``unique`` is far slower here)."""
    ordered = np.sort(values)
    if ordered.size == 0:
        return ordered
    result: _I64 = ordered[np.r_[True, ordered[1:] != ordered[:-1]]]
    return result


def _present_ids(truth: pa.Table) -> _I64:
    ids = truth.column("id").cast(pa.int64()).drop_null()
    return _distinct(ids.to_numpy().astype(np.int64))


def _rounded(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, DECIMALS)


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{DECIMALS}f}"


def _require_columns(table: pa.Table, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InvalidInput(f"{what} lacks column(s) {missing}; it has {table.column_names}")


def _trim(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Strings trimmed of ``KEY_WHITESPACE``; null where blank."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    strings = values.cast(pa.string())
    trimmed = pc.utf8_trim(strings, characters=KEY_WHITESPACE)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _header(path: Path) -> list[str]:
    """Column names of a CSV file (its first record), for case-insensitive matching."""
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix, open)
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read the CSV header ({exc})") from exc


def _match_columns(path: Path, names: Sequence[str]) -> dict[str, str]:
    """Truth column -> the file's own spelling of it; InvalidInput if one is missing."""
    by_folded: dict[str, str] = {}
    for name in names:
        by_folded.setdefault(name.strip().lower(), name)
    missing = [c for c in TRUTH_COLUMNS if c not in by_folded]
    if missing:
        raise InvalidInput(
            f"{path}: ground truth lacks column(s) {missing}; "
            f"expected {list(TRUTH_COLUMNS)}, found {list(names)}"
        )
    return {c: by_folded[c] for c in TRUTH_COLUMNS}


def _read_csv_truth(path: Path) -> pa.Table:
    columns = _match_columns(path, _header(path))
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(columns.values()),
                column_types=dict.fromkeys(columns.values(), pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable CSV ground-truth file ({exc})") from exc
    return pa.table({c: table.column(columns[c]) for c in TRUTH_COLUMNS})


def _read_parquet_truth(path: Path) -> pa.Table:
    try:
        schema = pq.read_schema(path)
        columns = _match_columns(path, schema.names)
        table = pq.read_table(path, columns=list(columns.values()))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable Parquet ground-truth file ({exc})") from exc
    out = {}
    for name in TRUTH_COLUMNS:
        column = table.column(columns[name])
        try:
            out[name] = column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(
                f"{path}: column {columns[name]!r} of type {column.type} is not text or a number"
            ) from exc
    return pa.table(out)


def _row_list(rows: npt.NDArray[np.int64]) -> str:
    """``"2, 5, 9"`` for 0-based row indices, 1-based, the first ``_ROWS_QUOTED`` only."""
    shown = ", ".join(str(int(r) + 1) for r in rows[:_ROWS_QUOTED])
    more = f" and {rows.size - _ROWS_QUOTED} more" if rows.size > _ROWS_QUOTED else ""
    return f"{shown}{more}"


def _check_blanks(path: Path, columns: Mapping[str, pa.Array]) -> None:
    problems = []
    for name, values in columns.items():
        blank = np.flatnonzero(pc.is_null(values).to_numpy(zero_copy_only=False))
        if blank.size:
            problems.append(f"blank {name} in data row(s) {_row_list(blank)}")
    if problems:
        raise InvalidInput(f"{path}: " + "; ".join(problems))


def _check_duplicates(path: Path, truth: pa.Table) -> None:
    numbered = truth.append_column("row", pa.array(np.arange(truth.num_rows, dtype=np.int64)))
    groups = numbered.group_by(["ring_id", "account_id"], use_threads=False).aggregate(
        [("row", "count"), ("row", "min")]
    )
    repeated = groups.filter(pc.greater(groups.column("row_count"), 1))
    if repeated.num_rows == 0:
        return
    firsts = repeated.column("row_min").to_numpy()
    is_repeat = np.zeros(truth.num_rows, np.bool_)
    keys = pc.binary_join_element_wise(
        numbered.column("ring_id"), numbered.column("account_id"), "\x00"
    )
    repeated_keys = pc.binary_join_element_wise(
        repeated.column("ring_id"), repeated.column("account_id"), "\x00"
    )
    is_repeat[pc.is_in(keys, value_set=repeated_keys).to_numpy(zero_copy_only=False)] = True
    is_repeat[firsts] = False
    raise InvalidInput(
        f"{path}: duplicate (ring_id, account_id) in data row(s) "
        f"{_row_list(np.flatnonzero(is_repeat))} "
        f"(first seen in data row(s) {_row_list(np.sort(firsts))})"
    )


def _check_one_typology_per_ring(path: Path, truth: pa.Table) -> None:
    pairs = truth.group_by(["ring_id", "typology"], use_threads=False).aggregate([])
    per_ring = pairs.group_by("ring_id", use_threads=False).aggregate([("typology", "count")])
    mixed = per_ring.filter(pc.greater(per_ring.column("typology_count"), 1)).column("ring_id")
    if len(mixed) == 0:
        return
    rows = np.flatnonzero(pc.is_in(truth.column("ring_id"), value_set=mixed).to_numpy())
    raise InvalidInput(
        f"{path}: ring(s) {mixed.to_pylist()[:_ROWS_QUOTED]} have more than one typology "
        f"(data rows {_row_list(rows)})"
    )
