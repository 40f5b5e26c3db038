"""Ring-detection quality against a ground truth of planted (or confirmed) rings.

A ground-truth file lists ring members, one row each: ``ring_id, typology, account_id``.
:func:`load_truth` reads and checks it (CSV or Parquet, any source, any typology names),
:func:`resolve_truth` maps its account keys to store ids exactly as ingestion keys
accounts, and :func:`evaluate` scores one detector -- its flagged clusters and its
per-account scores -- against it:

* **ring recall**: share of planted rings matched by some flagged cluster with Jaccard
  similarity ``|F & R| / |F | R| >= min_jaccard`` (0.5 by default; exactly 0.5 counts);
* **cluster precision**: share of flagged clusters that match some planted ring so, and
  the same **among the top 20 and top 100 alerts** by score (investigators work down a
  queue);
* **ROC-AUC** and **PR-AUC** (average precision) of the account scores over every account,
  ring members being the positives; an account without a score scores 0;
* the **false-positive rate among legitimate heavy sharers** (households, carrier-NAT users,
  office Wi-Fi, VPN users: see :func:`legit_heavy_sharers`) and the number of flagged
  clusters made of heavy sharers only;
* with a sharers file (:func:`load_sharers`), the false-positive rate **per benign kind**
  (household, office, call-centre device, payroll hub...) and the flagged clusters made
  of listed legitimate sharers only;
* all of it **per typology**.

Every detector (the scoring pipeline, :mod:`scoring.baselines`) hands over the same two
tables, so one :func:`evaluate` call per detector compares them, and :func:`format_table`
prints them side by side.

Truth accounts that the store does not hold are kept in the resolved table with a null
id; :func:`evaluate` leaves them out of every figure and reports how many there were (and
how many rings lost every member that way).

Modules: :mod:`~scoring.evaluation.truth` (reading and resolving truth and sharers),
:mod:`~scoring.evaluation.metrics` (ranking figures), :mod:`~scoring.evaluation.report`
(the report), :mod:`~scoring.evaluation.table` (reports side by side as text).
"""

from scoring.evaluation.metrics import average_precision, roc_auc
from scoring.evaluation.report import (
    EvaluationReport,
    SharerKindReport,
    TypologyReport,
    evaluate,
)
from scoring.evaluation.table import format_table, table_rows
from scoring.evaluation.truth import (
    SHARED_IDENTIFIER_LINKS,
    SHARER_COLUMNS,
    TRUTH_COLUMNS,
    account_ids,
    legit_heavy_sharers,
    load_sharers,
    load_truth,
    resolve_sharers,
    resolve_truth,
)

__all__ = [
    "SHARED_IDENTIFIER_LINKS",
    "SHARER_COLUMNS",
    "TRUTH_COLUMNS",
    "EvaluationReport",
    "SharerKindReport",
    "TypologyReport",
    "account_ids",
    "average_precision",
    "evaluate",
    "format_table",
    "legit_heavy_sharers",
    "load_sharers",
    "load_truth",
    "resolve_sharers",
    "resolve_truth",
    "roc_auc",
    "table_rows",
]
