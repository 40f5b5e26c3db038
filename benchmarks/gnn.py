"""GNN quality and cost: the GNNs against gradient boosting on one time split.

On one generated scenario (seed not used for tuning; default 4242): generate and ingest
into a fresh embedded store (or reuse a folder that already holds ``scenario/`` and
``store/`` from an earlier run with the same arguments), then train each GNN
(``gnn.training.train``: time split of the labels, point-in-time snapshots, mini-batches,
early stopping on validation PR-AUC), fit the two boosting comparators on the same
training examples (``gnn.comparison``), and evaluate:

* ``test_split``: ROC-AUC / PR-AUC on the newest labels (each example read on the
  snapshot before its label time);
* ``truth``: account ROC-AUC / PR-AUC against ``truth.csv`` (ring members vs everyone
  else) on every account whose label was not used for training or validation, scored on
  the whole graph as it is now (full-neighbourhood inference for the GNNs, the present
  features for the boosting models).

* ``truth_all``: the same against every account (the labelled ones included), with the
  recall of ring members in the top 1 % of accounts.

Labels as a bank has them: ``--fraud-only`` drops the generator's ``legit`` rows from
``labels.csv`` before ingesting (the GNN then trains positive-unlabelled, fraud against
unlabelled accounts); ``--label-fraction F`` keeps a seeded ``F / 0.3`` of the fraud rows
(the generator labels 30 % of ring members, so 0.05 keeps one in six). Each label variant
gets its own store next to the shared scenario. With a positive-unlabelled split the
``test_split`` / ``val_split`` figures are fraud labels against unlabelled accounts
(lower bounds, :func:`gnn.pu.pu_metrics`). A variant with too few labels to train is
reported as ``refused`` with the reason.

Wall time of every step, inference throughput (accounts per second of the
full-neighbourhood pass, graph build excluded and included) and peak RSS are reported.

Prints one JSON object on stdout.

Usage::

    python benchmarks/gnn.py                                  # 100,000 accounts, seed 4242
    python benchmarks/gnn.py --accounts 1000000 --models h2sage --workdir /tmp/gnn-1m
    python benchmarks/gnn.py --accounts 20000 --seed 31 --fraud-only --label-fraction 0.05
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import torch  # noqa: E402

from gnn.dataset import ACCOUNT_FEATURES, build_graph  # noqa: E402
from gnn.labels import LabelMode, SplitConfig, TooFewLabels  # noqa: E402
from gnn.models import ACCOUNT, ModelKind  # noqa: E402
from gnn.pu import TOP_SHARE, PUMethod  # noqa: E402
from gnn.training import (  # noqa: E402
    TrainConfig,
    binary_metrics,
    full_graph_embeddings,
    full_graph_scores,
    sampled_scores,
    split_metrics,
    train,
)
from graph_service.embedded.store import EmbeddedStore  # noqa: E402
from ingestion.loader import Ingestor  # noqa: E402
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402

MIB = 2**20


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Steps:
    """Wall time per step and the process's peak RSS after it."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}

    def run(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        self.steps[name] = {
            "seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mib_so_far": _peak_rss_mib(),
        }
        print(f"{name}: {self.steps[name]}", file=sys.stderr, flush=True)
        return result


#: Share of ring members the generator labels fraud (``ScenarioConfig.label_fraction``).
GENERATED_LABEL_FRACTION = ScenarioConfig().label_fraction


def _prepare(
    workdir: Path,
    accounts: int,
    seed: int,
    steps: Steps,
    *,
    fraud_only: bool,
    label_fraction: float,
) -> tuple[Path, Path, dict[str, Any]]:
    """The scenario (generated once per workdir) and a store holding its events and the
    label variant asked for; the variant's label counts."""
    scenario = workdir / "scenario"
    if not (scenario / "truth.csv").exists():
        shutil.rmtree(workdir, ignore_errors=True)
        steps.run(
            "generate", generate_scenario, ScenarioConfig(accounts=accounts, seed=seed), scenario
        )
    labels = pacsv.read_csv(scenario / "labels.csv")
    variant = "store"
    if fraud_only:
        labels = labels.filter(pc.equal(labels.column("label"), "fraud"))
        variant += "-fraud-only"
    if label_fraction < GENERATED_LABEL_FRACTION:
        fraud = np.flatnonzero(
            np.asarray(pc.equal(labels.column("label"), "fraud").to_numpy(zero_copy_only=False))
        )
        keep = round(fraud.shape[0] * label_fraction / GENERATED_LABEL_FRACTION)
        dropped = np.random.default_rng(seed).choice(fraud, fraud.shape[0] - keep, replace=False)
        labels = labels.filter(pa.array(~np.isin(np.arange(labels.num_rows), dropped)))
        variant += f"-fraud{label_fraction:g}"
    store_dir = workdir / variant
    labels_path = workdir / f"labels-{variant}.csv"
    counts = {
        "fraud": int(pc.sum(pc.equal(labels.column("label"), "fraud")).as_py() or 0),
        "legit": int(pc.sum(pc.equal(labels.column("label"), "legit")).as_py() or 0),
    }
    if store_dir.exists():
        return scenario, store_dir, counts
    pacsv.write_csv(labels, labels_path)
    store = EmbeddedStore(store_dir, memory_limit="4GB", threads=2)
    ingestor = Ingestor(store, quarantine_dir=store_dir / "quarantine")
    try:
        steps.run("ingest", ingestor.run, [scenario / "events", labels_path])
    finally:
        ingestor.close()
        store.close()
    return scenario, store_dir, counts


def _truth_all(typology: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Account ROC-AUC / PR-AUC against the ring members over every account, the recall of
    ring members in the top 1 % of accounts, the mean score of members and others, and
    per typology the ROC-AUC of its members against the accounts of no ring."""
    ring_member = typology != ""
    figures: dict[str, Any] = binary_metrics(ring_member, scores)
    top = np.argsort(-scores, kind="stable")[: max(1, round(TOP_SHARE * scores.shape[0]))]
    figures["recall_top_1pct"] = round(float(ring_member[top].sum() / ring_member.sum()), 5)
    figures["mean_score_members"] = round(float(scores[ring_member].mean()), 5)
    figures["mean_score_others"] = round(float(scores[~ring_member].mean()), 5)
    figures["roc_auc_by_typology"] = {
        name: binary_metrics(typology[keep] == name, scores[keep])["roc_auc"]
        for name in sorted(set(typology.tolist()) - {""})
        for keep in [(typology == name) | ~ring_member]
    }
    return figures


def _truth_typology(nodes: pa.Table, account_ids: np.ndarray, truth_path: Path) -> np.ndarray:
    """The ring typology of every account (``""`` for an account of no ring)."""
    truth = pacsv.read_csv(truth_path)
    keys = nodes.column("key")
    ids = nodes.column("id").to_numpy()
    accounts = pc.equal(nodes.column("type"), 0)
    account_keys = keys.filter(accounts)
    account_rows = ids[np.asarray(accounts.to_numpy(zero_copy_only=False))]
    position = pc.index_in(truth.column("account_id"), value_set=account_keys).to_numpy(
        zero_copy_only=False
    )
    found = ~np.isnan(position.astype(float))
    members = account_rows[position[found].astype(np.int64)]
    names = np.asarray(truth.column("typology").to_pylist(), dtype=object)[found]
    typology = np.full(account_ids.shape[0], "", dtype=object)
    typology[np.searchsorted(account_ids, members)] = names
    return typology


def _boosting(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=seed
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--models", default="h2sage,sage")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--snapshots", type=int, default=SplitConfig().snapshots)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU is.")
    parser.add_argument(
        "--fraud-only", action="store_true", help="Drop the legit rows of labels.csv."
    )
    parser.add_argument(
        "--label-fraction",
        type=float,
        default=GENERATED_LABEL_FRACTION,
        help="Share of ring members left labelled fraud (at most the generator's 0.3).",
    )
    parser.add_argument(
        "--label-mode", default=LabelMode.AUTO.value, choices=[m.value for m in LabelMode]
    )
    parser.add_argument(
        "--pu-method", default=TrainConfig().pu_method.value, choices=[m.value for m in PUMethod]
    )
    parser.add_argument("--class-prior", type=float, default=TrainConfig().class_prior)
    parser.add_argument("--min-fraud", type=int, default=SplitConfig().min_fraud)
    parser.add_argument("--min-per-class", type=int, default=SplitConfig().min_per_class)
    args = parser.parse_args()
    if not 0 < args.label_fraction <= GENERATED_LABEL_FRACTION:
        parser.error(f"--label-fraction must be in (0, {GENERATED_LABEL_FRACTION}]")
    torch.set_num_threads(args.threads)
    steps = Steps()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fraudgraph-gnn-bench-"))
    scenario, store_dir, label_counts = _prepare(
        workdir,
        args.accounts,
        args.seed,
        steps,
        fraud_only=args.fraud_only,
        label_fraction=args.label_fraction,
    )
    store = EmbeddedStore(store_dir, memory_limit="4GB", threads=2)
    nodes = steps.run("export_nodes", store.export_nodes)
    n_nodes, n_links = nodes.num_rows, store.counts()
    account_ids = np.sort(
        nodes.filter(pc.equal(nodes.column("type"), 0)).column("id").to_numpy()
    ).astype(np.int64)
    typology = _truth_typology(nodes, account_ids, scenario / "truth.csv")
    ring_member = typology != ""
    del nodes
    present: Any = None
    quality: dict[str, Any] = {}
    training: dict[str, Any] = {}
    inference: dict[str, Any] = {}
    features_done = False
    from threadpoolctl import threadpool_limits

    refused: str | None = None
    for name in args.models.split(","):
        kind = ModelKind(name)
        config = TrainConfig(
            model=kind,
            max_epochs=args.epochs,
            threads=args.threads,
            seed=42,
            split=SplitConfig(
                snapshots=args.snapshots,
                label_mode=LabelMode(args.label_mode),
                min_fraud=args.min_fraud,
                min_per_class=args.min_per_class,
            ),
            device=args.device,
            pu_method=PUMethod(args.pu_method),
            class_prior=args.class_prior,
        )
        try:
            run = steps.run(f"train_{name}", train, store, config)
        except TooFewLabels as exc:
            refused = str(exc)
            print(f"train_{name}: refused: {refused}", file=sys.stderr, flush=True)
            break
        split = run.split
        model = run.model
        training[name] = {
            "seconds": steps.steps[f"train_{name}"]["seconds"],
            "epochs": run.metrics["epochs"],
            "best_epoch": run.metrics["best_epoch"],
            "history_val_pr_auc": run.metrics["history"],
            "label_mode": split.mode.value,
            "labels": split.counts(),
            "snapshots": int(split.cutoffs_us.shape[0]),
        }
        quality[f"gnn_{name}"] = {
            "val_split": run.metrics["val"],
            "test_split": run.metrics["test"],
        }
        seen = np.concatenate([split.train_ids, split.val_ids])
        held_out = ~np.isin(account_ids, seen)
        y_truth = ring_member[held_out]
        boosted: dict[str, Any] = {}
        if not features_done:
            # Fit the comparators on the training examples' snapshots, then free the
            # snapshots before the present graph is built (memory at 1M accounts).
            graphs = run.graphs()
            stacked = torch.stack([f[ACCOUNT] for f in run.temporal.features])
            parts = {}
            for part in ("train", "test"):
                ex = run.examples[part]
                own = np.asarray(stacked[ex.snapshot, ex.index].numpy(), np.float64)
                emb = sampled_scores(model, run.sampler, graphs, ex, config, embeddings=True)
                parts[part] = (own, emb)
            y_train = split.train_y.astype(np.int64)
            with threadpool_limits(limits=args.threads):
                started = time.perf_counter()
                plain = _boosting(42).fit(parts["train"][0], y_train)
                plain_seconds = time.perf_counter() - started
                started = time.perf_counter()
                combined = _boosting(42).fit(np.hstack(parts["train"]), y_train)
                combined_seconds = time.perf_counter() - started
                boosted = {
                    "plain": plain,
                    "combined": combined,
                    "plain_test": plain.predict_proba(parts["test"][0])[:, 1],
                    "combined_test": combined.predict_proba(np.hstack(parts["test"]))[:, 1],
                }
            del graphs, stacked, parts
        del run
        gc.collect()
        if present is None:
            present = steps.run(
                "build_present_graph", build_graph, store.export_nodes(), store.export_links()
            )
            assert np.array_equal(present.store_ids[ACCOUNT], account_ids)
        started = time.perf_counter()
        scores = full_graph_scores(model, present, device=args.device)
        score_seconds = time.perf_counter() - started
        inference[name] = {
            "accounts": int(account_ids.shape[0]),
            "seconds": round(score_seconds, 3),
            "accounts_per_second": round(account_ids.shape[0] / score_seconds, 1),
            "accounts_per_second_with_graph_build": round(
                account_ids.shape[0]
                / (score_seconds + steps.steps["build_present_graph"]["seconds"]),
                1,
            ),
            "peak_rss_mib_so_far": _peak_rss_mib(),
        }
        quality[f"gnn_{name}"]["truth"] = binary_metrics(y_truth, scores[held_out])
        quality[f"gnn_{name}"]["truth_all"] = _truth_all(typology, scores)
        if features_done:
            continue
        features_done = True
        x_now = present.data[ACCOUNT].x.numpy().astype(np.float64)
        e_now = full_graph_embeddings(model, present, device=args.device).astype(np.float64)
        with threadpool_limits(limits=args.threads):
            quality["features_gb"] = {
                "test_split": split_metrics(split, "test", boosted["plain_test"]),
                "truth": binary_metrics(
                    y_truth, boosted["plain"].predict_proba(x_now[held_out])[:, 1]
                ),
                "fit_seconds": round(plain_seconds, 3),
            }
            quality[f"embeddings_gb_{name}"] = {
                "test_split": split_metrics(split, "test", boosted["combined_test"]),
                "truth": binary_metrics(
                    y_truth,
                    boosted["combined"].predict_proba(
                        np.hstack([x_now[held_out], e_now[held_out]])
                    )[:, 1],
                ),
                "fit_seconds": round(combined_seconds, 3),
            }
        del e_now, x_now
    result = {
        "benchmark": "gnn",
        "units": {
            "seconds": "s (wall)",
            "peak_rss_mib": "MiB (process high-water mark, ru_maxrss)",
            "roc_auc": "account level",
            "pr_auc": "average precision",
            "test_split": "newest labels, each read on the snapshot before its label time; positive_unlabelled: fraud labels vs unlabelled accounts (lower bounds)",
            "val_split": "as test_split, on the validation part",
            "truth": "ring members vs all other accounts, excluding accounts used for training or validation (labelled or unlabelled negatives); present graph",
            "truth_all": "ring members vs all other accounts, every account; present graph",
            "recall_top_1pct": "share of ring members (truth_all) or held-out fraud labels (splits) above the top-1% score cut",
            "accounts_per_second": "full-neighbourhood scoring pass, graph already built",
        },
        "conditions": {
            "accounts": args.accounts,
            "seed": args.seed,
            "fraud_only": args.fraud_only,
            "label_fraction": args.label_fraction,
            "labels_ingested": label_counts,
            "label_mode": args.label_mode,
            "pu_method": args.pu_method,
            "class_prior": args.class_prior,
            "min_fraud": args.min_fraud,
            "min_per_class": args.min_per_class,
            "nodes": n_nodes,
            "links": sum(n_links.links.values()),
            "snapshots": args.snapshots,
            "ring_accounts": int(ring_member.sum()),
            "models": args.models,
            "max_epochs": args.epochs,
            "torch_threads": args.threads,
            "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "backend": "embedded (DuckDB)",
            "feature_set": list(ACCOUNT_FEATURES),
        },
        "steps": steps.steps,
        "training": training,
        "inference": inference,
        "quality": quality,
        "refused": refused,
        "peak_rss_mib": _peak_rss_mib(),
    }
    store.close()
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
