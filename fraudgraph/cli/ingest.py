"""``fraudgraph ingest`` and ``fraudgraph stats``: loading files into the store, and what
it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from fraudgraph.cli.shared import (
    JsonOption,
    StoreOption,
    emit,
    fail_cleanly,
    open_graph,
    out,
    progress_bars,
    settings_for,
)
from graph_service import GraphStore, open_store
from graph_service.settings import Settings
from ingestion.loader import BULK_MIN_ROWS, Ingestor, IngestReport, LoadMode
from ingestion.readers import FileFormat
from ingestion.schema import FileKind

__all__ = ["ingest", "print_counts", "stats"]


@fail_cleanly
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or directories of events, labels or entity attributes."),
    ],
    store: StoreOption = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Force the file kind: events|labels|entities.")
    ] = None,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="Force the format: parquet|csv|jsonl|json (an array)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Rows per transaction.")
    ] = None,
    load_mode: Annotated[
        str,
        typer.Option(
            "--load-mode",
            help="How events build the graph: auto (bulk for batches of new events from files "
            f"of {BULK_MIN_ROWS:,}+ rows, else incremental), bulk (one set-based pass over the "
            "run's events at its end) or incremental (batch by batch). Same graph either way.",
        ),
    ] = LoadMode.AUTO.value,
    as_json: JsonOption = False,
) -> None:
    """Load files into the store; bad rows and bad optional fields go to quarantine,
    files of a directory that are not inputs are skipped and listed, re-ingesting is a
    no-op."""
    from graph_service.errors import InvalidInput

    settings = settings_for(store)
    try:
        forced_kind = FileKind(kind) if kind else None
        forced_format = FileFormat(file_format) if file_format else None
        mode = LoadMode(load_mode)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    with open_store(settings) as graph, progress_bars() as progress:
        report = _ingest_with_progress(
            graph,
            settings,
            paths,
            progress,
            batch_size=batch_size,
            kind=forced_kind,
            file_format=forced_format,
            mode=mode,
        )
    if as_json:
        emit(report.as_dict())
        return
    out.print(_ingest_table(report))
    for unrecognised in report.unrecognised:
        out.print(
            f"not ingested (not events, labels or entity attributes): {unrecognised.path}: "
            f"{unrecognised.reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for manifest in report.files:
        for ignored in manifest.columns_ignored:
            out.print(
                f"column {ignored['column']!r} of {Path(manifest.path).name} not loaded: "
                f"{ignored['reason']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    out.print(
        f"fields quarantined: {report.total('fields_quarantined'):,} "
        f"(rows quarantined: {report.total('rows_quarantined'):,})"
    )
    if report.quarantine_path:
        out.print(f"quarantine: {report.quarantine_path}")


def _ingest_table(report: IngestReport) -> Table:
    """One row per file (rows read, loaded, quarantined, duplicate, and the fields
    quarantined from loaded rows) and, with several files, a total row."""
    table = Table(title="ingest manifest")
    table.add_column("file", overflow="fold")
    table.add_column("kind", no_wrap=True)
    for column in ("read", "loaded", "quarantined", "duplicate", "fields q."):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("note")
    for m in report.files:
        note = "already ingested" if m.skipped else ("resumed" if m.batches_resumed else "")
        table.add_row(
            Path(m.path).name,
            m.kind,
            f"{m.rows_read:,}",
            f"{m.rows_loaded:,}",
            f"{m.rows_quarantined:,}",
            f"{m.rows_duplicate:,}",
            f"{m.fields_quarantined:,}",
            note,
        )
    if len(report.files) > 1:
        totals = ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")
        table.add_row(
            "total",
            "",
            *(f"{report.total(name):,}" for name in (*totals, "fields_quarantined")),
            "",
        )
    table.caption = "fields q.: bad optional fields left out of loaded rows"
    return table


def _ingest_with_progress(
    graph: GraphStore,
    settings: Settings,
    paths: list[Path],
    progress: Progress,
    *,
    batch_size: int | None = None,
    kind: FileKind | None = None,
    file_format: FileFormat | None = None,
    mode: LoadMode = LoadMode.AUTO,
) -> IngestReport:
    """Run an ingest with one progress bar per file."""
    tasks: dict[Path, TaskID] = {}

    def on_progress(path: Path, done: int, total: int | None) -> None:
        if path not in tasks:
            tasks[path] = progress.add_task(f"ingest {path.name}", total=total)
        progress.update(tasks[path], completed=done, total=total)

    ingestor = Ingestor(
        graph,
        quarantine_dir=settings.store_dir / "quarantine",
        batch_size=batch_size or settings.batch_size,
        default_region=settings.default_region,
        kind=kind,
        file_format=file_format,
        on_progress=on_progress,
        mode=mode,
    )
    try:
        return ingestor.run(paths)
    finally:
        ingestor.close()


@fail_cleanly
def stats(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Entity counts per node type and link counts per link type."""
    with open_graph(store, read_only=True) as graph:
        counts = graph.counts().as_dict()
    if as_json:
        emit(counts)
        return
    print_counts(counts)


def print_counts(counts: dict[str, dict[str, int]]) -> None:
    """The node and link counts of a store as two tables."""
    for section in ("nodes", "links"):
        table = Table(title=section)
        table.add_column("type")
        table.add_column("count", justify="right")
        for name, n in counts[section].items():
            table.add_row(name, f"{n:,}")
        out.print(table)
