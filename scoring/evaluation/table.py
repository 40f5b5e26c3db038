"""Evaluation reports as text: one column per detector, one row per figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.evaluation.report import DECIMALS, EvaluationReport

__all__ = ["format_table", "table_rows"]


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
        ("clusters without ring members", "clusters_without_ring_members"),
        ("listed-sharer FPR", "sharer_fpr"),
        ("listed-sharer-only clusters", "sharer_only_clusters"),
        ("typology named right", "typology_agreement"),
    )
    for label, attribute in overall:
        rows.append([label, *(_cell(getattr(r, attribute)) for r in named.values())])
    depths = sorted({k for r in named.values() for k in r.precision_at})
    for k in depths:
        rows.append([f"precision top {k}", *(_cell(r.precision_at.get(k)) for r in named.values())])
    kinds = sorted({k for r in named.values() for k in r.per_sharer_kind})
    for kind in kinds:
        reports_of_kind = [r.per_sharer_kind.get(kind) for r in named.values()]
        rows.append(
            [
                f"{kind} FPR",
                *(
                    "-" if k is None else f"{_cell(k.fpr)} ({k.n_flagged}/{k.n_accounts})"
                    for k in reports_of_kind
                ),
            ]
        )
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
        rows.append(
            [
                f"{typology} named right",
                *("-" if t is None or t.n_named is None else str(t.n_named) for t in found),
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


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{DECIMALS}f}"
