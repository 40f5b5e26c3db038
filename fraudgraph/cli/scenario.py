"""``fraudgraph generate``: synthetic scenarios with planted rings and ground truth."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from fraudgraph.cli.shared import JsonOption, emit, err, fail_cleanly, progress_bars, step_bars

__all__ = ["Profile", "generate"]


class Profile(StrEnum):
    """Synthetic scenario profiles (``fraudgraph generate --profile``)."""

    DEFAULT = "default"
    HARD = "hard"
    AML = "aml"


@fail_cleanly
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path(
        "data/scenario"
    ),
    accounts: Annotated[
        int,
        typer.Option(
            "--accounts",
            help="Number of accounts: 1,000 to 20,000,000 (hard, aml: to 2,000,000).",
        ),
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    profile: Annotated[
        Profile,
        typer.Option(
            "--profile",
            help=(
                "default: rings tied by rare identifiers, Parquet events. hard: a US bank's "
                "book where benign sharing is the norm and rings are camouflaged, CSV feeds "
                "in mixed formats, sharers.csv and scenario.json. aml: the hard book with "
                "benign money structures that look like laundering (payroll, rent, sellers, "
                "friends paying back, savings clubs, support passed on as rent, contractors "
                "paying crews, family gifts) and rings of AMLSim's eight patterns (fan_out, "
                "fan_in, cycle, bipartite, stack, random, scatter_gather, gather_scatter) "
                "among unrelated customers; also flows.csv."
            ),
        ),
    ] = Profile.DEFAULT,
    rings_per_10k: Annotated[
        float | None,
        typer.Option(
            "--rings-per-10k",
            min=0.0,
            help="Rings per 10,000 accounts (default 8; hard 25; aml 16, split evenly over the eight patterns).",
        ),
    ] = None,
    label_fraction: Annotated[
        float | None,
        typer.Option(
            "--label-fraction",
            min=0.0,
            max=1.0,
            help="Share of ring members labelled fraud (default 0.3).",
        ),
    ] = None,
    legit_label_fraction: Annotated[
        float | None,
        typer.Option(
            "--legit-label-fraction",
            min=0.0,
            max=1.0,
            help="Share of other accounts labelled legit (default 0.01; hard and aml 0).",
        ),
    ] = None,
    mixed_formats: Annotated[
        bool | None,
        typer.Option(
            "--mixed-formats/--canonical-formats",
            help="hard and aml only: spell values as bank feeds do (the default), or canonically.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Generate a synthetic scenario: events, labels.csv and truth.csv (the hard and aml
    profiles also write sharers.csv and scenario.json, aml also flows.csv)."""
    from graph_service.errors import InvalidInput
    from ingestion.synthetic import (
        AmlScenarioConfig,
        AmlScenarioSummary,
        HardScenarioConfig,
        HardScenarioSummary,
        ScenarioConfig,
        ScenarioSummary,
        generate_aml_scenario,
        generate_hard_scenario,
        generate_scenario,
    )

    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("rings_per_10k", rings_per_10k),
            ("label_fraction", label_fraction),
            ("legit_label_fraction", legit_label_fraction),
        )
        if value is not None
    }
    if mixed_formats is not None:
        if profile is Profile.DEFAULT:
            raise InvalidInput(
                "--mixed-formats/--canonical-formats apply to --profile hard and aml only"
            )
        overrides["mixed_formats"] = mixed_formats
    try:
        config: ScenarioConfig | HardScenarioConfig | AmlScenarioConfig
        if profile is Profile.AML:
            config = AmlScenarioConfig(accounts=accounts, seed=seed, **overrides)
        elif profile is Profile.HARD:
            config = HardScenarioConfig(accounts=accounts, seed=seed, **overrides)
        else:
            config = ScenarioConfig(accounts=accounts, seed=seed, **overrides)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc

    with progress_bars() as progress:
        on_progress = step_bars(progress)
        summary: ScenarioSummary | HardScenarioSummary | AmlScenarioSummary
        if isinstance(config, AmlScenarioConfig):
            summary = generate_aml_scenario(config, out_dir, on_progress=on_progress)
        elif isinstance(config, HardScenarioConfig):
            summary = generate_hard_scenario(config, out_dir, on_progress=on_progress)
        else:
            summary = generate_scenario(config, out_dir, on_progress=on_progress)
    if as_json:
        emit(summary.as_dict())
    else:
        err.print(
            f"wrote {summary.events:,} events for {summary.accounts:,} accounts "
            f"({summary.rings} planted rings, {summary.ring_accounts:,} ring accounts) to {out_dir}"
        )
