"""Score-distribution drift between inference runs (population stability index).

Every inference run stores a summary of its score distribution (decile edges and the
share of scores in each bin). The next run's scores are binned on the previous run's
edges and compared with

.. math:: \\mathrm{PSI} = \\sum_i (a_i - e_i) \\ln(a_i / e_i)

(``e``: previous shares, ``a``: current shares, both floored at ``1e-4``). The record is
kept per model version; above ``threshold`` (0.2 by default, the usual "significant
shift" line) a warning is logged and the record says so.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np

from gnn.registry import ModelRegistry
from graph_service.errors import InvalidInput

log = logging.getLogger(__name__)

#: PSI above which a run's scores count as drifted.
PSI_WARNING: Final = 0.2

_FLOOR: Final = 1e-4


@dataclass(frozen=True)
class ScoreDistribution:
    """Decile edges of a score sample and the share of the sample in each bin."""

    edges: list[float]
    shares: list[float]

    @classmethod
    def of(cls, scores: np.ndarray, bins: int = 10) -> ScoreDistribution:
        """Quantile bins of ``scores`` (at least one value).

        Raises
        ------
        InvalidInput
            If ``scores`` is empty or ``bins`` < 2.

        Notes
        -----
        O(n log n).
        """
        scores = np.asarray(scores, np.float64)
        if scores.shape[0] == 0 or bins < 2:
            raise InvalidInput("a score distribution needs scores and at least 2 bins")
        inner = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = [-np.inf, *inner.tolist(), np.inf]
        return cls(edges=[float(e) for e in edges], shares=_shares(scores, edges).tolist())


def psi(expected: ScoreDistribution, actual_scores: np.ndarray) -> float:
    """Population stability index of ``actual_scores`` against ``expected``.

    Parameters
    ----------
    expected : ScoreDistribution
    actual_scores : ndarray of float

    Returns
    -------
    float
        0 for identical distributions; grows with the shift.

    Raises
    ------
    InvalidInput
        If ``actual_scores`` is empty.

    Notes
    -----
    O(n log b) for n scores and b bins.
    """
    actual_scores = np.asarray(actual_scores, np.float64)
    if actual_scores.shape[0] == 0:
        raise InvalidInput("no scores to compare")
    e = np.maximum(np.asarray(expected.shares), _FLOOR)
    a = np.maximum(_shares(actual_scores, expected.edges), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftRecord:
    """One inference run's drift figure."""

    version: str
    previous_version: str | None
    run_at: str
    accounts: int
    psi: float | None
    threshold: float
    warning: bool
    distribution: dict[str, list[float]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def record_drift(
    registry: ModelRegistry,
    version: str,
    scores: np.ndarray,
    *,
    threshold: float = PSI_WARNING,
    run_id: str | None = None,
) -> DriftRecord:
    """Compare ``scores`` with the previous inference run's and record the result.

    Parameters
    ----------
    registry : ModelRegistry
    version : str
        The model that produced ``scores``.
    scores : ndarray of float
    threshold : float
        PSI above which the record carries a warning (and one is logged).
    run_id : str, optional
        The batch run that scored (kept in the record). A record of the same run is
        replaced, not added to, and is not compared with: a re-delivered job leaves the
        log as one delivery would.

    Returns
    -------
    DriftRecord
        ``psi`` is ``None`` on the first run (nothing to compare with).
    """
    current = ScoreDistribution.of(scores)
    logged = registry.records("drift")
    previous = [r for r in logged if run_id is None or r.get("run_id") != run_id]
    value: float | None = None
    previous_version: str | None = None
    if previous:
        last = previous[-1]
        previous_version = str(last["version"])
        reference = ScoreDistribution(**last["distribution"])
        value = round(psi(reference, scores), 6)
    warning = value is not None and value > threshold
    record = DriftRecord(
        version=version,
        previous_version=previous_version,
        run_at=datetime.now(UTC).isoformat(),
        accounts=int(np.asarray(scores).shape[0]),
        psi=value,
        threshold=threshold,
        warning=warning,
        distribution=asdict(current),
    )
    entry = {**record.as_dict(), "run_id": run_id}
    if len(previous) < len(logged):
        registry.replace_records("drift", [*previous, entry])
    else:
        registry.append("drift", entry)
    if warning:
        log.warning(
            "gnn score distribution drifted",
            extra={"version": version, "previous": previous_version, "psi": value},
        )
    return record


def _shares(scores: np.ndarray, edges: list[float]) -> np.ndarray:
    inner = np.asarray(edges[1:-1], np.float64)
    counts = np.bincount(np.searchsorted(inner, scores, side="right"), minlength=len(edges) - 1)
    shares: np.ndarray = counts / max(scores.shape[0], 1)
    return shares
