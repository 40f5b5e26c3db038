"""Ring-detection quality and cost: the scoring pipeline against two baselines.

On one generated scenario (planted rings of five typologies in a population with benign
heavy sharers): generate, ingest events and labels into a fresh embedded store, run the
scoring pipeline (``scoring.analysis.analyse``, then flag the ring candidates scoring at
or above ``--threshold``), the WCC baseline and the rule-engine baseline, and evaluate
each against ``truth.csv`` with ``scoring.evaluation``: ring recall and cluster precision
(Jaccard >= 0.5), account ROC-AUC and PR-AUC, the false-positive rate among legitimate
heavy sharers, all per typology. Wall time and peak RSS of every step are measured.

Prints one JSON object on stdout (the side-by-side quality table goes to stderr).

Usage::

    python benchmarks/rings.py                            # 100,000 accounts, seed 777
    python benchmarks/rings.py --accounts 20000
    python benchmarks/rings.py --accounts 1000000 --skip-baselines

Peak RSS per step is the process's high-water mark over the step (reset before it through
``/proc/self/clear_refs`` on Linux; elsewhere sampled every 20 ms), so it includes what
earlier steps still hold; ``rss_start_mib`` says how much that was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from graph_service import GraphStore, open_store  # noqa: E402
from graph_service.settings import Settings  # noqa: E402
from ingestion.loader import Ingestor  # noqa: E402
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402
from scoring.baselines import rules_baseline, wcc_baseline  # noqa: E402
from scoring.evaluation import (  # noqa: E402
    EvaluationReport,
    account_ids,
    evaluate,
    format_table,
    legit_heavy_sharers,
    load_truth,
    resolve_truth,
)
from scoring.flagging import FLAG_THRESHOLD  # noqa: E402

MIB = 2**20


class StepMeter:
    """Wall time and peak RSS of named steps."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}
        self.method = "clear_refs" if _reset_peak() else "sampled every 20 ms"

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Measure the body as step ``name``."""
        process = psutil.Process()
        start_rss = process.memory_info().rss
        exact = _reset_peak()
        sampler = None if exact else _Sampler(process)
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            peak = _peak_rss() if exact else sampler.stop()  # type: ignore[union-attr]
            self.steps[name] = {
                "seconds": round(seconds, 3),
                "peak_rss_mib": round(peak / MIB, 1),
                "rss_start_mib": round(start_rss / MIB, 1),
            }
            print(f"{name}: {seconds:.1f} s, peak RSS {peak / MIB:.0f} MiB", file=sys.stderr)


def _reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark of this process; False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss() -> int:
    """The process's RSS high-water mark (VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return int(psutil.Process().memory_info().rss)


class _Sampler:
    """Polls RSS on a thread and keeps the maximum (portable fallback)."""

    def __init__(self, process: psutil.Process) -> None:
        self._process = process
        self._peak = process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return int(max(self._peak, self._process.memory_info().rss))


def pipeline_flagged(store: GraphStore, threshold: float) -> tuple[Any, pa.Table, pa.Table]:
    """Run ``analyse`` and flag candidates scoring >= threshold.

    Returns (the analysis result, flagged clusters, account scores); raises ImportError
    while the pipeline is not part of the product yet.
    """
    from scoring.analysis import AnalysisConfig, analyse

    result = analyse(store, AnalysisConfig())
    candidates = result.ring_candidates
    flagged = candidates.filter(pc.greater_equal(candidates.column("score"), threshold))
    clusters = pa.table(
        {
            "ring_id": pc.cast(flagged.column("candidate"), pa.string()),
            "members": flagged.column("members"),
            "score": flagged.column("score"),
            "typology": flagged.column("typology"),
        }
    )
    return result, clusters, result.entity_risk.select(["id", "risk"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument(
        "--threshold", type=float, default=FLAG_THRESHOLD, help="pipeline flag threshold"
    )
    parser.add_argument("--min-jaccard", type=float, default=0.5)
    parser.add_argument("--heavy-sharer-min-accounts", type=int, default=3)
    parser.add_argument(
        "--skip-baselines", action="store_true", help="pipeline only (speed runs at 1M/10M)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="kept when given")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fraudgraph-bench-rings-"))
    workdir.mkdir(parents=True, exist_ok=True)
    store_dir = workdir / "store"
    shutil.rmtree(store_dir, ignore_errors=True)
    meter = StepMeter()
    config = ScenarioConfig(accounts=args.accounts, seed=args.seed)

    with meter.step("generate"):
        summary = generate_scenario(config, workdir / "scenario")
    store = open_store(Settings(backend="embedded", store_dir=store_dir))
    try:
        with meter.step("ingest"):
            ingestor = Ingestor(store, quarantine_dir=workdir / "quarantine")
            try:
                ingest_report = ingestor.run([summary.events_path, summary.labels_path])
            finally:
                ingestor.close()
            store.counts()  # the embedded store folds its deltas on the first read
        with meter.step("truth"):
            truth = resolve_truth(load_truth(summary.truth_path), store)
            accounts = account_ids(store)
            heavy = legit_heavy_sharers(store, truth, min_accounts=args.heavy_sharer_min_accounts)

        reports: dict[str, EvaluationReport] = {}
        quality: dict[str, Any] = {}

        def judge(name: str, flagged: pa.Table, scores: pa.Table) -> None:
            with meter.step(f"evaluate_{name}"):
                reports[name] = evaluate(
                    flagged,
                    scores,
                    truth,
                    accounts=accounts,
                    heavy_sharers=heavy,
                    min_jaccard=args.min_jaccard,
                )
            quality[name] = reports[name].as_dict()

        analyse_timings: dict[str, float] | str = "not available"
        try:
            with meter.step("pipeline"):
                result, flagged, scores = pipeline_flagged(store, args.threshold)
            analyse_timings = {k: round(v, 3) for k, v in result.timings.items()}
            judge("pipeline", flagged, scores)
        except ImportError as exc:
            meter.steps.pop("pipeline", None)
            quality["pipeline"] = "not available"
            print(f"pipeline not available: {exc}", file=sys.stderr)

        if not args.skip_baselines:
            with meter.step("wcc_baseline"):
                wcc = wcc_baseline(store)
            judge("wcc", wcc.flagged, wcc.account_scores)
            with meter.step("rules_baseline"):
                rules = rules_baseline(store)
            judge("rules", rules.flagged, rules.account_scores)
        counts = store.counts()
    finally:
        store.close()

    if reports:
        print(format_table(reports), file=sys.stderr)
    output: dict[str, Any] = {
        "benchmark": "rings",
        "units": {
            "seconds": "s (wall)",
            "peak_rss_mib": "MiB",
            "rss_start_mib": "MiB",
            "ring_recall": "share of planted rings matched (Jaccard >= min_jaccard)",
            "cluster_precision": "share of flagged clusters matching a planted ring",
            "roc_auc": "account level, ring members vs all other accounts",
            "pr_auc": "average precision, same accounts",
            "heavy_sharer_fpr": "share of legit heavy sharers inside a flagged cluster",
        },
        "conditions": {
            "accounts": args.accounts,
            "seed": args.seed,
            "events": summary.events,
            "rings": summary.rings,
            "ring_accounts": summary.ring_accounts,
            "labels": summary.labels,
            "nodes": sum(counts.nodes.values()),
            "links": sum(counts.links.values()),
            "rows_quarantined": ingest_report.as_dict()["rows_quarantined"],
            "truth_accounts_missing": int(pc.sum(pc.is_null(truth.column("id"))).as_py()),
            "legit_heavy_sharers": int(heavy.size),
            "heavy_sharer_min_accounts": args.heavy_sharer_min_accounts,
            "pipeline_threshold": args.threshold,
            "min_jaccard": args.min_jaccard,
            "baselines": "skipped" if args.skip_baselines else "wcc (shared identifiers), rules",
            "backend": "embedded (DuckDB + in-process engine)",
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "peak_rss_method": meter.method,
        },
        "steps": meter.steps,
        "analyse_timings": analyse_timings,
        "quality": quality,
    }
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
