"""``fraudgraph gnn``: graph neural network jobs: train, infer (writes gnn_score),
evaluate, promote; and the GNN reports that ``demo`` and ``pipeline run`` print too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from fraudgraph.cli.shared import (
    JsonOption,
    StoreOption,
    emit,
    err,
    fail_cleanly,
    out,
    progress_bars,
    settings_for,
)
from fraudgraph.jobs.results import GnnInferResult, GnnTrainResult
from fraudgraph.jobs.steps import model_registry
from graph_service import GraphStore, open_store
from graph_service.settings import Settings

if TYPE_CHECKING:
    from gnn.training import TrainConfig

__all__ = ["gnn_app", "print_gnn_inference", "print_gnn_training"]

gnn_app = typer.Typer(
    help="Graph neural network jobs: train, infer (writes gnn_score), evaluate, promote.",
    no_args_is_help=True,
)

DeviceOption = Annotated[
    str, typer.Option("--device", help="cpu, or cuda where a GPU is available.")
]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, help="CPU threads for torch.")]


def _gnn_train(
    graph: GraphStore,
    settings: Settings,
    config: TrainConfig,
    *,
    compare: bool,
    margin: float,
    progress: Progress | None = None,
) -> GnnTrainResult:
    """Train, compare with boosting, register and run champion-challenger."""
    from fraudgraph.jobs.steps import train_gnn

    tasks: list[TaskID] = []

    def on_epoch(step: str, done: int, total: int) -> None:
        # The bar appears with the first epoch: a refusal before it (too few labels)
        # leaves the error as the only line.
        if progress is None:
            return
        if not tasks:
            tasks.append(progress.add_task("gnn: train", total=config.max_epochs))
        progress.update(tasks[0], description=f"gnn: {step} {done}", completed=done)

    result = train_gnn(graph, settings, config, compare=compare, margin=margin, progress=on_epoch)
    if progress is not None and tasks:
        progress.update(tasks[0], completed=config.max_epochs)
    return result


@gnn_app.command("train")
@fail_cleanly
def gnn_train(
    store: StoreOption = None,
    model: Annotated[
        str, typer.Option("--model", help="h2sage (heterophily-aware) or sage (baseline).")
    ] = "h2sage",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Most epochs.")] = 40,
    hidden: Annotated[int, typer.Option("--hidden", min=1)] = 32,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    margin: Annotated[
        float,
        typer.Option("--margin", min=0.0, max=1.0, help="PR-AUC gain needed to be promoted."),
    ] = 0.005,
    compare: Annotated[
        bool, typer.Option("--compare/--no-compare", help="Also fit the boosting comparators.")
    ] = True,
    label_mode: Annotated[
        str,
        typer.Option(
            "--label-mode",
            help="auto (supervised with enough legit labels, else positive_unlabelled), "
            "supervised or positive_unlabelled.",
        ),
    ] = "auto",
    pu_method: Annotated[
        str,
        typer.Option("--pu-method", help="Positive-unlabelled loss: unlabelled_negative or nnpu."),
    ] = "unlabelled_negative",
    class_prior: Annotated[
        float,
        typer.Option(
            "--class-prior", min=0.0, max=1.0, help="Share of fraud among accounts (nnpu only)."
        ),
    ] = 0.01,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = 1,
    as_json: JsonOption = False,
) -> None:
    """Train a GNN on the store's labels (time split), register it, challenge the champion.

    With fraud labels only (or too few legit ones) it trains positive-unlabelled: fraud
    against unlabelled accounts, judged by lower-bound figures."""
    from gnn.labels import LabelMode, SplitConfig
    from gnn.models import ModelKind
    from gnn.pu import PUMethod
    from gnn.training import TrainConfig
    from graph_service.errors import InvalidInput

    def choice(enum: Any, value: str, option: str) -> Any:
        try:
            return enum(value)
        except ValueError:
            raise InvalidInput(f"{option} must be one of {[k.value for k in enum]}") from None

    kind = choice(ModelKind, model, "--model")
    split = SplitConfig(label_mode=choice(LabelMode, label_mode, "--label-mode"))
    config = TrainConfig(
        model=kind,
        max_epochs=epochs,
        hidden=hidden,
        seed=seed,
        device=device,
        threads=threads,
        split=split,
        pu_method=choice(PUMethod, pu_method, "--pu-method"),
        class_prior=class_prior,
    )
    settings = settings_for(store)
    with open_store(settings) as graph, progress_bars() as progress:
        result = _gnn_train(
            graph, settings, config, compare=compare, margin=margin, progress=progress
        )
    if as_json:
        emit(result)
        return
    print_gnn_training(result)


def print_gnn_training(result: GnnTrainResult) -> None:
    """One trained model: held-out figures, the boosting comparison, the decision."""
    test = result["metrics"]["test"]
    mode = result["metrics"].get("label_mode", "supervised")
    if mode == "positive_unlabelled":
        held_out = (
            f"on {test['fraud']} newest fraud labels against {test['unlabelled']} unlabelled "
            f"accounts (lower bounds); recall at the top 1 % {test['recall_top_1pct']:.4f}"
        )
    else:
        held_out = f"on {test['n']} newest labels"
    out.print(
        f"[bold]gnn[/]: trained {result['version']} ({mode}) in "
        f"{result['metrics']['train_seconds']:.1f} s ({result['metrics']['epochs']} epochs); "
        f"test ROC-AUC {test['roc_auc']:.4f}, PR-AUC {test['pr_auc']:.4f} {held_out}"
    )
    if result["comparison"]:
        view = Table(title="test split (newest labels), same snapshots")
        for column in ("model", "ROC-AUC", "PR-AUC"):
            view.add_column(column)
        for name, figures in result["comparison"].items():
            view.add_row(name, f"{figures['roc_auc']:.4f}", f"{figures['pr_auc']:.4f}")
        out.print(view)
    decision = result["decision"]
    verdict = "promoted" if decision["promoted"] else "kept in shadow"
    out.print(f"  champion-challenger: {verdict} ({decision['reason']})")


@gnn_app.command("infer")
@fail_cleanly
def gnn_infer(
    store: StoreOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Model version [default: the champion].")
    ] = None,
    embeddings: Annotated[
        bool, typer.Option("--embeddings", help="Also write the gnn_embeddings table.")
    ] = False,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = 1,
    as_json: JsonOption = False,
) -> None:
    """Score every account with the champion and write gnn_score back to the store."""
    from gnn.inference import infer

    settings = settings_for(store)
    with open_store(settings) as graph, err.status("gnn: scoring every account"):
        result = infer(
            graph,
            model_registry(settings),
            version=version,
            device=device,
            threads=threads,
            embeddings=embeddings,
        )
    # The inference summary is its JSON form (untyped); GnnInferResult names its keys.
    summary = cast(GnnInferResult, result.summary())
    if as_json:
        emit(summary)
        return
    print_gnn_inference(summary)


def print_gnn_inference(summary: GnnInferResult) -> None:
    """One scoring run: accounts, speed and drift."""
    drift = "first run" if summary["psi"] is None else f"PSI {summary['psi']:.4f}"
    if summary["drift_warning"]:
        drift += " [bold red]drift warning[/]"
    out.print(
        f"[bold]gnn[/]: scored {summary['accounts']:,} accounts with {summary['version']} "
        f"({summary['accounts_per_second']:,.0f} accounts/s); gnn_score written; {drift}"
    )


@gnn_app.command("evaluate")
@fail_cleanly
def gnn_evaluate(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Records per log.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Registered models with their held-out metrics, the champion, decisions and drift."""
    registry = model_registry(settings_for(store))
    models: list[dict[str, Any]] = []
    for version in registry.versions():
        manifest = registry.manifest(version)
        models.append(
            {
                "version": version,
                "model": manifest.model,
                "label_mode": manifest.label_mode,
                "created_at": manifest.created_at,
                "snapshot": manifest.snapshot,
                "labels": manifest.labels["counts"],
                "test": manifest.metrics.get("test"),
                "comparison": manifest.metrics.get("comparison"),
            }
        )
    result: dict[str, Any] = {
        "champion": registry.champion(),
        "models": models,
        "decisions": registry.records("decisions")[-limit:],
        "drift": [
            {k: v for k, v in record.items() if k != "distribution"}
            for record in registry.records("drift")[-limit:]
        ],
    }
    if as_json:
        emit(result)
        return
    view = Table(title=f"GNN models (champion: {result['champion']})")
    for column in (
        "version",
        "labels",
        "test ROC-AUC",
        "test PR-AUC",
        "features GB PR-AUC",
        "emb+GB PR-AUC",
    ):
        view.add_column(column)
    for row in models:
        test = row["test"] or {}
        comparison = row["comparison"] or {}

        def pr(name: str, figures: dict[str, Any] = comparison) -> str:
            value = figures.get(name, {}).get("pr_auc")
            return "-" if value is None else f"{value:.4f}"

        view.add_row(
            row["version"],
            row["label_mode"],
            f"{test.get('roc_auc', float('nan')):.4f}",
            f"{test.get('pr_auc', float('nan')):.4f}",
            pr("features_gb"),
            pr("embeddings_gb"),
        )
    out.print(view)
    for decision in result["decisions"]:
        verdict = "promoted" if decision["promoted"] else "not promoted"
        out.print(
            f"  {decision['decided_at']}: {decision['challenger']} {verdict}: {decision['reason']}"
        )
    for record in result["drift"]:
        psi = "-" if record["psi"] is None else f"{record['psi']:.4f}"
        flag = " DRIFT" if record["warning"] else ""
        out.print(f"  {record['run_at']}: {record['version']} PSI {psi}{flag}")


@gnn_app.command("promote")
@fail_cleanly
def gnn_promote(
    store: StoreOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Challenger [default: the newest model].")
    ] = None,
    margin: Annotated[float, typer.Option("--margin", min=0.0, max=1.0)] = 0.005,
    metric: Annotated[str, typer.Option("--metric", help="pr_auc or roc_auc.")] = "pr_auc",
    force: Annotated[
        bool, typer.Option("--force", help="Promote regardless of the metrics (recorded).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Score a challenger against the champion in shadow; promote it if better by the margin."""
    from gnn.champion import ChampionPolicy, challenge
    from graph_service.errors import EntityNotFound

    settings = settings_for(store)
    registry = model_registry(settings)
    policy = ChampionPolicy(metric=metric, margin=margin)
    if version is None:
        versions = registry.versions()
        if not versions:
            raise EntityNotFound("no GNN model registered yet: run fraudgraph gnn train")
        version = versions[-1]
    with open_store(settings) as graph, err.status("gnn: shadow scoring"):
        decision = challenge(graph, registry, version, policy=policy, force=force)
    if as_json:
        emit(decision.as_dict())
        return
    verdict = "promoted" if decision.promoted else "not promoted"
    out.print(f"[bold]gnn[/]: {decision.challenger} {verdict}: {decision.reason}")
