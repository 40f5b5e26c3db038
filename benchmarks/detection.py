"""Ring-detection quality over a matrix of scenarios, label regimes and detectors.

For every scenario (a profile, a size, a seed) the script generates the data, ingests the
events once into a base embedded store and runs the two baselines on it (plain WCC over
shared identifiers and a rules engine; neither uses labels). Then, for every label regime
(a share of ring members labelled as fraud, with or without legit labels), it copies the
base store, ingests that regime's labels and runs the product's batch pipeline inline
(``fraudgraph pipeline run``: GNN when asked, analyse, flag, publish, evaluate) and reads
the run's evaluation. Every cell reports ring recall, cluster precision, precision among
the top 20 and top 100 alerts, account ROC-AUC / PR-AUC, the false-positive rate among
legitimate heavy sharers (per benign kind where the scenario lists them), per typology,
the label mode the analysis ran in, and seconds; and the alert queue at lower thresholds
(``alert_queue``: ring recall and cluster precision of the rings the run scored, flagged
from each of :data:`QUEUE_THRESHOLDS`) with the best recall it offers at cluster
precision >= 0.5 (``best_recall_at_precision``).

Profiles
    ``default`` and ``hard``: ``fraudgraph generate --profile P``; ``crosscheck``: the
    separately written generator under ``benchmarks/crosscheck/``, used for evaluation
    only; ``amlsim``: IBM AMLSim's 10K draw (``--amlsim DIR``, default
    ``../shared/datasets/amlsim-10K-seed1``) through ``fraudgraph convert amlsim``, one
    size (its 12,043 accounts, ``--sizes`` does not apply), the seed choosing the labelled
    members and the filled-in times and amounts; its labels are fraud only.
Label regimes
    Each generator is asked for 30% of ring members labelled fraud and 1% of the other
    accounts labelled legit; a regime keeps a seeded, nested subset of the fraud labels
    (``--label-rates``: 0.3 keeps them all, 0.05 one in six, 0 none) and keeps or drops
    the legit ones (``--legit``).
Seeds
    ``--seeds`` defaults to the held-out seeds 9101, 9102 and 9103, which no development
    run looks at; use ``--seeds 1,2`` for development.

Usage::

    python benchmarks/detection.py --profiles default,hard --sizes 20000,100000 \\
        --workdir /tmp/detection --out benchmarks/results/detection.json
    python benchmarks/detection.py --profiles hard --sizes 20000 --seeds 1 --label-rates 0.3
    python benchmarks/detection.py --profiles amlsim --seeds 1 --legit without
    python benchmarks/detection.py --combine part-20k.json part-100k.json --out all.json \\
        --markdown all.md

Prints one JSON object on stdout and a Markdown summary table on stderr (also written to
``--markdown`` when given).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from graph_service import open_store  # noqa: E402
from graph_service.settings import Settings  # noqa: E402
from scoring.baselines import rules_baseline, wcc_baseline  # noqa: E402
from scoring.evaluation import (  # noqa: E402
    account_ids,
    evaluate,
    legit_heavy_sharers,
    load_sharers,
    load_truth,
    resolve_sharers,
    resolve_truth,
)
from scoring.flagging import FLAG_THRESHOLD  # noqa: E402

#: Ring-score thresholds of each pipeline cell's alert-queue curve: the rings the run
#: scored, flagged from each of these (the default threshold among them), down to every
#: candidate the run kept (0).
QUEUE_THRESHOLDS = (0.9, 0.8, 0.7, FLAG_THRESHOLD, 0.58, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0.0)
#: Cluster precision at which a cell reports the best recall the queue offers.
QUEUE_PRECISION = 0.5

#: Seeds no development run looks at.
HELD_OUT_SEEDS = (9101, 9102, 9103)
#: Share of ring members the generators are asked to label (the largest regime).
GENERATED_FRAUD_RATE = 0.3
GENERATED_LEGIT_RATE = 0.01
#: The AMLSim draw the ``amlsim`` profile converts, unless ``--amlsim`` names another.
AMLSIM_DIR = REPO.parent / "shared" / "datasets" / "amlsim-10K-seed1"


@dataclass(frozen=True)
class Scenario:
    """The files of one generated scenario."""

    profile: str
    accounts: int
    seed: int
    directory: Path
    events: Path
    labels: Path
    truth: Path
    sharers: Path | None


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, raising with its stderr tail when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed:\n{done.stderr[-3000:]}")
    return done


def _fraudgraph() -> list[str]:
    return [sys.executable, "-c", "from fraudgraph.cli import app; app()"]


def generate(
    profile: str, accounts: int, seed: int, out: Path, amlsim: Path = AMLSIM_DIR
) -> Scenario:
    """Generate one scenario with 30% fraud and 1% legit labels (AMLSim: converted, 30%
    fraud labels and no legit ones)."""
    shutil.rmtree(out, ignore_errors=True)
    shared = ["--seed", str(seed), "--out", str(out)]
    shared += ["--label-fraction", str(GENERATED_FRAUD_RATE)]
    if profile == "amlsim":
        command = [*_fraudgraph(), "convert", "amlsim", str(amlsim), *shared, "--json"]
    else:
        shared += ["--accounts", str(accounts)]
        shared += ["--legit-label-fraction", str(GENERATED_LEGIT_RATE)]
        if profile == "crosscheck":
            generator = REPO / "benchmarks" / "crosscheck" / "generate.py"
            command = [sys.executable, str(generator), *shared]
        else:
            command = [*_fraudgraph(), "generate", "--profile", profile, *shared, "--json"]
    _run(command, cwd=REPO)
    sharers = out / "sharers.csv"
    return Scenario(
        profile=profile,
        accounts=accounts,
        seed=seed,
        directory=out,
        events=out / "events",
        labels=out / "labels.csv",
        truth=out / "truth.csv",
        sharers=sharers if sharers.is_file() else None,
    )


def label_subset(scenario: Scenario, rate: float, legit: bool, out: Path) -> dict[str, int]:
    """Write the regime's label file: a seeded, nested subset of the fraud labels (a
    label is kept when the hash of its account key falls below ``rate / 0.3``), plus the
    legit labels when ``legit``. Returns the counts written."""
    with scenario.labels.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    keep_share = rate / GENERATED_FRAUD_RATE
    kept: list[dict[str, str]] = []
    counts = {"fraud": 0, "legit": 0}
    for row in rows:
        verdict = row.get("label", "").strip().lower()
        if verdict == "legit":
            if legit:
                kept.append(row)
                counts["legit"] += 1
            continue
        key = row.get("entity_key", "")
        digest = hashlib.sha256(f"{scenario.seed}:{key}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 < keep_share:
            kept.append(row)
            counts["fraud"] += 1
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    return counts


def rings_by_labelled_members(truth: Path, labels: Path) -> dict[str, dict[str, int]]:
    """How many rings have none, one, and two or more members in the label file, in all
    and per typology: a ring test needs a second witness beyond a shape or a shared
    identifier, so the rings with fewer than two labelled members are found only where
    some other evidence (the entity model, money passed on, device or network flags)
    speaks for them."""
    with labels.open(newline="") as handle:
        labelled = {
            row.get("entity_key", "")
            for row in csv.DictReader(handle)
            if row.get("label", "").strip().lower() == "fraud"
        }
    members: dict[str, list[str]] = {}
    typology: dict[str, str] = {}
    with truth.open(newline="") as handle:
        for row in csv.DictReader(handle):
            members.setdefault(row["ring_id"], []).append(row["account_id"])
            typology[row["ring_id"]] = row.get("typology", "")
    counts: dict[str, dict[str, int]] = {}
    for ring, accounts in members.items():
        hits = sum(account in labelled for account in accounts)
        bucket = "none" if hits == 0 else "one" if hits == 1 else "two_or_more"
        for name in ("all", typology[ring]):
            row = counts.setdefault(name, {"none": 0, "one": 0, "two_or_more": 0})
            row[bucket] += 1
    return counts


def ingest_events(scenario: Scenario, store: Path) -> dict[str, Any]:
    """Ingest the scenario's events into a fresh store; the manifest's totals."""
    shutil.rmtree(store, ignore_errors=True)
    done = _run([*_fraudgraph(), "ingest", str(scenario.events), "--store", str(store), "--json"])
    manifest: dict[str, Any] = json.loads(done.stdout)
    return {k: v for k, v in manifest.items() if k != "manifests"}


def baselines(scenario: Scenario, store: Path) -> dict[str, Any]:
    """WCC and rules baselines on the base store, evaluated against the truth."""
    with open_store(Settings(backend="embedded", store_dir=store)) as graph:
        truth = resolve_truth(load_truth(scenario.truth), graph)
        accounts = account_ids(graph)
        heavy = legit_heavy_sharers(graph, truth)
        sharers = (
            resolve_sharers(load_sharers(scenario.sharers), graph) if scenario.sharers else None
        )
        out: dict[str, Any] = {}
        for name, detector in (("wcc", wcc_baseline), ("rules", rules_baseline)):
            started = time.perf_counter()
            found = detector(graph)
            report = evaluate(
                found.flagged,
                found.account_scores,
                truth,
                accounts=accounts,
                heavy_sharers=heavy,
                sharers=sharers,
            )
            out[name] = {**report.as_dict(), "seconds": round(time.perf_counter() - started, 3)}
    return out


def pipeline_cell(
    scenario: Scenario, base: Path, cell: Path, labels: Path, gnn: str
) -> dict[str, Any]:
    """Copy the base store, run the pipeline over the labels, return its evaluation."""
    shutil.rmtree(cell, ignore_errors=True)
    shutil.copytree(base, cell)
    started = time.perf_counter()
    done = _run(
        [
            *_fraudgraph(),
            "pipeline",
            "run",
            str(labels),
            "--store",
            str(cell),
            "--truth",
            str(scenario.truth),
            "--gnn",
            gnn,
            "--no-deliver",
            "--json",
        ]
    )
    seconds = time.perf_counter() - started
    record = json.loads(done.stdout)
    steps = (
        {r["step"]: r for r in record["step_records"]}
        if isinstance(record["step_records"], list)
        else record["step_records"]
    )
    analysis = (steps.get("analyse") or {}).get("result") or {}
    evaluation_path = cell / "jobs" / "runs" / record["run_id"] / "evaluation.json"
    evaluation = json.loads(evaluation_path.read_text())
    evaluation.pop("table", None)
    step_seconds = {
        name: (r.get("seconds") if isinstance(r, dict) else None) for name, r in steps.items()
    }
    queue = alert_queue(cell, record["run_id"], scenario.truth, scenario.sharers)
    return {
        **evaluation,
        "alert_queue": queue,
        "best_recall_at_precision": best_recall_at_precision(queue, QUEUE_PRECISION),
        "label_mode": analysis.get("label_mode"),
        "analyse_timings_s": analysis.get("timings_s"),
        "step_seconds": step_seconds,
        "seconds": round(seconds, 3),
    }


def alert_queue(
    store: Path, run_id: str, truth: Path, sharers: Path | None = None
) -> list[dict[str, Any]]:
    """Ring recall and cluster precision of the run's rings flagged from each threshold.

    The run writes every ring it scored (``rings``, flagged or not) under its id; the
    alert queue at threshold ``t`` is the rings scoring at least ``t``. One row per
    :data:`QUEUE_THRESHOLDS` entry: ``threshold``, ``flagged``, ``ring_recall``,
    ``cluster_precision`` (``None`` when nothing is flagged) and, when the scenario lists
    its legitimate sharers, ``sharer_only_clusters`` (else ``None``).
    """
    with open_store(Settings(backend="embedded", store_dir=store)) as graph:
        rings = graph.read_table("rings", version=run_id)
        resolved = resolve_truth(load_truth(truth), graph)
        accounts = account_ids(graph)
        listed = resolve_sharers(load_sharers(sharers), graph) if sharers else None
    nobody = {"id": pa.array([], pa.int64()), "risk": pa.array([], pa.float64())}
    rows = []
    for threshold in QUEUE_THRESHOLDS:
        flagged = rings.filter(pc.greater_equal(rings.column("score"), threshold))
        report = evaluate(
            flagged, pa.table(nobody), resolved, accounts=accounts, sharers=listed
        ).as_dict()
        rows.append(
            {
                "threshold": threshold,
                "flagged": flagged.num_rows,
                "ring_recall": report["ring_recall"],
                "cluster_precision": report["cluster_precision"],
                "sharer_only_clusters": report.get("sharer_only_clusters"),
            }
        )
    return rows


def best_recall_at_precision(queue: list[dict[str, Any]], precision: float) -> dict[str, Any]:
    """The queue's highest ring recall among thresholds with cluster precision >= ``precision``,
    with that threshold's precision and sharer-only clusters (the strictest threshold on a tie).

    >>> best_recall_at_precision(
    ...     [
    ...         {"threshold": 0.6, "flagged": 2, "ring_recall": 0.2, "cluster_precision": 1.0},
    ...         {"threshold": 0.3, "flagged": 5, "ring_recall": 0.4, "cluster_precision": 0.6},
    ...         {"threshold": 0.0, "flagged": 90, "ring_recall": 0.7, "cluster_precision": 0.1},
    ...     ],
    ...     0.5,
    ... )
    {'precision_at_least': 0.5, 'ring_recall': 0.4, 'cluster_precision': 0.6, 'threshold': 0.3, 'sharer_only_clusters': None}
    """
    eligible = [
        row
        for row in queue
        if row["cluster_precision"] is not None and row["cluster_precision"] >= precision
    ]
    best = max(eligible, key=lambda row: (row["ring_recall"], row["threshold"]), default=None)
    return {
        "precision_at_least": precision,
        "ring_recall": None if best is None else best["ring_recall"],
        "cluster_precision": None if best is None else best["cluster_precision"],
        "threshold": None if best is None else best["threshold"],
        "sharer_only_clusters": None if best is None else best.get("sharer_only_clusters"),
    }


_SUMMARY_FIELDS = (
    ("recall", "ring_recall"),
    ("precision", "cluster_precision"),
    ("p@20", ("precision_at", "20")),
    ("p@100", ("precision_at", "100")),
    ("ROC-AUC", "roc_auc"),
    ("PR-AUC", "pr_auc"),
    ("heavy FPR", "heavy_sharer_fpr"),
    ("sharer FPR", "sharer_fpr"),
    ("sharer-only clusters", "sharer_only_clusters"),
    ("no-ring clusters", "clusters_without_ring_members"),
    ("typology right", "typology_agreement"),
    ("best recall at precision >= 0.5", ("best_recall_at_precision", "ring_recall")),
)


def _figure(report: dict[str, Any], field: str | tuple[str, str]) -> str:
    value: Any = report
    for part in (field,) if isinstance(field, str) else field:
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(cells: list[dict[str, Any]]) -> str:
    """One row per (scenario, regime, detector)."""
    header = ["profile", "accounts", "seed", "fraud labels", "legit", "detector", "mode"]
    header += [name for name, _ in _SUMMARY_FIELDS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for cell in cells:
        row = [
            cell["profile"],
            f"{cell['accounts']:,}",
            str(cell["seed"]),
            f"{cell['label_rate']:.0%}" if cell["label_rate"] is not None else "-",
            "-" if cell["legit"] is None else ("yes" if cell["legit"] else "no"),
            cell["detector"],
            cell.get("label_mode") or "-",
        ]
        row += [_figure(cell["report"], field) for _, field in _SUMMARY_FIELDS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def summary(cells: list[dict[str, Any]]) -> str:
    """Mean over seeds (min-max) per profile, size, label regime and detector."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for cell in cells:
        key = (
            cell["profile"],
            cell["accounts"],
            -1.0 if cell["label_rate"] is None else cell["label_rate"],
            cell["legit"],
            cell["detector"],
        )
        groups.setdefault(key, []).append(cell)
    header = ["profile", "accounts", "fraud labels", "legit", "detector", "seeds"]
    header += [name for name, _ in _SUMMARY_FIELDS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for key in sorted(groups, key=lambda k: (k[0], k[1], -k[2], str(k[3]), k[4])):
        rows = groups[key]
        profile, accounts, rate, legit, detector = key
        line = [
            profile,
            f"{accounts:,}",
            "-" if rate < 0 else f"{rate:.0%}",
            "-" if legit is None else ("yes" if legit else "no"),
            detector,
            str(len(rows)),
        ]
        for _, field in _SUMMARY_FIELDS:
            values = [_value(r["report"], field) for r in rows]
            known = [v for v in values if v is not None]
            if not known:
                line.append("-")
            elif len(known) == 1:
                line.append(f"{known[0]:.3f}" if isinstance(known[0], float) else str(known[0]))
            else:
                mean = sum(known) / len(known)
                line.append(f"{mean:.3f} ({min(known):.3f}-{max(known):.3f})")
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def _value(report: dict[str, Any], field: str | tuple[str, str]) -> Any:
    value: Any = report
    for part in (field,) if isinstance(field, str) else field:
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _output(
    args: argparse.Namespace, rates: list[float], scenarios: list[Any], cells: list[Any]
) -> dict[str, Any]:
    return {
        "benchmark": "detection",
        "units": {
            "ring_recall": "share of planted rings matched by a flagged cluster (Jaccard >= 0.5)",
            "cluster_precision": "share of flagged clusters matching a planted ring",
            "precision_at": "cluster precision among the k highest-scoring flagged clusters",
            "roc_auc": "account level, ring members against every other account",
            "pr_auc": "average precision, same accounts",
            "heavy_sharer_fpr": "share of non-ring accounts on an identifier shared by >= 3 "
            "accounts that sit in a flagged cluster",
            "sharer_fpr": "share of the scenario's listed legitimate sharers in a flagged cluster",
            "typology_agreement": "share of the rings found whose best-matching flagged cluster "
            "names the ring's typology",
            "seconds": "s (wall)",
        },
        "conditions": {
            "profiles": args.profiles,
            "sizes": args.sizes,
            "seeds": args.seeds,
            "held_out_seeds": list(HELD_OUT_SEEDS),
            "label_rates": rates,
            "legit": args.legit,
            "gnn": args.gnn,
            "threshold": FLAG_THRESHOLD,
            "backend": "embedded",
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "scenarios": scenarios,
        "cells": cells,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="default,hard")
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--seeds", default=",".join(map(str, HELD_OUT_SEEDS)))
    parser.add_argument("--label-rates", default="0.3,0.05,0")
    parser.add_argument("--legit", choices=("both", "with", "without"), default="both")
    parser.add_argument("--gnn", choices=("auto", "off"), default="off")
    parser.add_argument("--workdir", type=Path, default=None, help="kept when given")
    parser.add_argument(
        "--amlsim", type=Path, default=AMLSIM_DIR, help="AMLSim folder of the amlsim profile"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the JSON here, after every scenario; a rerun with the same file "
        "skips the scenarios it already holds",
    )
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        default=None,
        metavar="JSON",
        help="run nothing: join the results of runs over parts of the matrix (say, the "
        "20k and the 100k scenarios run side by side) into --out and --markdown",
    )
    args = parser.parse_args()
    if args.combine:
        combine(args.combine, args.out, args.markdown)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fraudgraph-bench-detection-"))
    workdir.mkdir(parents=True, exist_ok=True)
    legit_options = {"both": (False, True), "with": (True,), "without": (False,)}[args.legit]
    rates = [float(r) for r in args.label_rates.split(",")]
    cells: list[dict[str, Any]] = []
    scenarios: list[dict[str, Any]] = []
    if args.out and args.out.is_file():
        previous = json.loads(args.out.read_text())
        scenarios, cells = previous["scenarios"], previous["cells"]
    done = {(s["profile"], s["accounts"], s["seed"]) for s in scenarios}
    for profile in args.profiles.split(","):
        sizes = [int(s) for s in args.sizes.split(",")]
        if profile == "amlsim":
            sizes = [_amlsim_accounts(args.amlsim)]
        for accounts in sizes:
            for seed in (int(s) for s in args.seeds.split(",")):
                if (profile, accounts, seed) in done:
                    continue
                run_scenario(
                    args, workdir, profile, accounts, seed, rates, legit_options, scenarios, cells
                )
                if args.out:
                    args.out.write_text(
                        json.dumps(_output(args, rates, scenarios, cells), indent=1) + "\n"
                    )
    table = markdown(cells)
    summarised = summary(cells)
    print(table, file=sys.stderr)
    print(summarised, file=sys.stderr)
    if args.markdown:
        args.markdown.write_text(
            "## Mean over seeds (min-max)\n\n" + summarised + "\n\n## Every cell\n\n" + table + "\n"
        )
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(_output(args, rates, scenarios, cells), indent=1))


def _amlsim_accounts(folder: Path) -> int:
    """The accounts of an AMLSim folder (the rows of its ``accounts.csv``)."""
    with (folder / "accounts.csv").open() as handle:
        return sum(1 for _ in handle) - 1


def combine(parts: list[Path], out: Path | None, markdown_path: Path | None) -> None:
    """Join the JSON results of several runs: their scenarios and cells, and each run's
    conditions under ``parts``. A scenario in two parts is an error (it would count twice)."""
    results = [json.loads(path.read_text()) for path in parts]
    scenarios = [s for r in results for s in r["scenarios"]]
    keys = [(s["profile"], s["accounts"], s["seed"]) for s in scenarios]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise SystemExit(f"scenarios in more than one part: {repeated}")
    cells = [c for r in results for c in r["cells"]]
    joined = {
        "benchmark": "detection",
        "units": results[0]["units"],
        "conditions": {"parts": [r["conditions"] for r in results]},
        "scenarios": scenarios,
        "cells": cells,
    }
    if out:
        out.write_text(json.dumps(joined, indent=1) + "\n")
    summarised, table = summary(cells), markdown(cells)
    if markdown_path:
        markdown_path.write_text(
            "## Mean over seeds (min-max)\n\n" + summarised + "\n\n## Every cell\n\n" + table + "\n"
        )
    print(summarised, file=sys.stderr)
    print(json.dumps(joined, indent=1))


def run_scenario(
    args: argparse.Namespace,
    workdir: Path,
    profile: str,
    accounts: int,
    seed: int,
    rates: list[float],
    legit_options: tuple[bool, ...],
    scenarios: list[dict[str, Any]],
    cells: list[dict[str, Any]],
) -> None:
    """Generate, ingest and evaluate one scenario: baselines and every label regime."""
    tag = f"{profile}-{accounts}-{seed}"
    started = time.perf_counter()
    scenario = generate(profile, accounts, seed, workdir / tag / "scenario", args.amlsim)
    generated = time.perf_counter() - started
    base = workdir / tag / "base"
    started = time.perf_counter()
    manifest = ingest_events(scenario, base)
    ingested = time.perf_counter() - started
    scenarios.append(
        {
            "profile": profile,
            "accounts": accounts,
            "seed": seed,
            "generate_s": round(generated, 3),
            "ingest_s": round(ingested, 3),
            "ingest": manifest,
        }
    )
    print(f"{tag}: generated, ingested", file=sys.stderr)
    for name, report in baselines(scenario, base).items():
        cells.append(
            {
                "profile": profile,
                "accounts": accounts,
                "seed": seed,
                "label_rate": None,
                "legit": None,
                "detector": name,
                "report": report,
            }
        )
    for rate in rates:
        for legit in legit_options:
            labels = workdir / tag / f"labels-{rate}-{int(legit)}.csv"
            counts = label_subset(scenario, rate, legit, labels)
            if counts["fraud"] + counts["legit"] == 0:
                labels.write_text("entity_type,entity_key,label,source,ts\n")
            cell_dir = workdir / tag / f"cell-{rate}-{int(legit)}"
            report = pipeline_cell(scenario, base, cell_dir, labels, args.gnn)
            shutil.rmtree(cell_dir, ignore_errors=True)
            cells.append(
                {
                    "profile": profile,
                    "accounts": accounts,
                    "seed": seed,
                    "label_rate": rate,
                    "legit": legit,
                    "labels": counts,
                    "rings_by_labelled_members": rings_by_labelled_members(scenario.truth, labels),
                    "detector": "pipeline",
                    "label_mode": report.get("label_mode"),
                    "report": report,
                }
            )
            print(
                f"{tag} fraud {rate:.0%} legit {legit}: recall "
                f"{_figure(report, 'ring_recall')} precision "
                f"{_figure(report, 'cluster_precision')} ({report.get('label_mode')})",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
