"""``fraudgraph convert``: public data sets as fraudgraph input (events, labels, truth)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from fraudgraph.cli.shared import JsonOption, emit, err, fail_cleanly

__all__ = ["convert_app"]

convert_app = typer.Typer(
    help="Convert public data sets into events, labels.csv and truth.csv.",
    no_args_is_help=True,
)


@convert_app.command("amlsim")
@fail_cleanly
def amlsim(
    source: Annotated[
        Path,
        typer.Argument(
            help="AMLSim graph-generator folder: accounts.csv, transfers.csv, "
            "ring_transfers.csv, rings.csv."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("data/amlsim"),
    label_fraction: Annotated[
        float,
        typer.Option(
            "--label-fraction",
            min=0.0,
            max=1.0,
            help="Share of ring members labelled fraud (no legit labels).",
        ),
    ] = 0.3,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the filled-in times and amounts and the labels.")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Convert IBM AMLSim's transaction graph: a signup per account, a transfer per edge
    (the planted edges missing from transfers.csv added, src and dst only), the planted
    groups as truth.csv and fraud labels for a seeded share of their members. The data
    set has no amounts or times: both are drawn for every edge alike (see
    conversion.json), so detection rests on who pays whom."""
    from ingestion.converters import convert_amlsim

    result = convert_amlsim(source, out_dir, label_fraction=label_fraction, seed=seed)
    if as_json:
        emit({k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()})
        return
    err.print(
        f"{result.accounts:,} accounts, {result.transfers:,} transfers "
        f"({result.planted_added:,} planted edges added), {result.rings} rings of "
        f"{result.ring_members:,} members, {result.fraud_labels:,} fraud labels -> {out_dir}"
    )
    err.print(
        f"next: fraudgraph pipeline run {result.events} {result.labels} --truth {result.truth}"
    )
