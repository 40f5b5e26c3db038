"""``fraudgraph neo4j``: a local Neo4j + Graph Data Science server for development and
tests (start, stop, status) and bulk import into it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fraudgraph.cli.shared import (
    JsonOption,
    StoreOption,
    emit,
    err,
    fail_cleanly,
    out,
    settings_for,
)

__all__ = ["neo4j_app"]

neo4j_app = typer.Typer(
    help="A local Neo4j + Graph Data Science server for development and tests.",
    no_args_is_help=True,
)

Neo4jDataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="FRAUDGRAPH_NEO4J_DATA_DIR", help="Server data directory."),
]
BoltPort = Annotated[int, typer.Option("--port", help="Bolt port on 127.0.0.1.")]
ServerHeap = Annotated[str, typer.Option("--heap", help="JVM heap of the server, e.g. 1g.")]
ServerPassword = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar=["FRAUDGRAPH_NEO4J_PASSWORD", "NEO4J_PASSWORD"],
        help="Enable auth with this password.",
    ),
]


@neo4j_app.command("start")
@fail_cleanly
def neo4j_start(
    data_dir: Neo4jDataDir = Path("data/neo4j"),
    port: BoltPort = 7687,
    heap: ServerHeap = "1g",
    password: ServerPassword = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds to wait for Bolt.")] = 180,
    as_json: JsonOption = False,
) -> None:
    """Build (once, with Maven) and start the local server; wait until Bolt answers."""
    from graph_service.neo4j import launcher

    with err.status("building and starting Neo4j + GDS (first build downloads from Maven)"):
        server = launcher.start(
            port=port, data_dir=data_dir, password=password or None, heap=heap, timeout_s=timeout_s
        )
    result = {
        "uri": server.uri,
        "pid": server.pid,
        "gds_version": server.gds_version,
        "data_dir": str(server.data_dir),
    }
    if as_json:
        emit(result)
    else:
        out.print(f"Neo4j + GDS {server.gds_version} ready at {server.uri} (pid {server.pid})")


@neo4j_app.command("stop")
@fail_cleanly
def neo4j_stop(data_dir: Neo4jDataDir = Path("data/neo4j"), as_json: JsonOption = False) -> None:
    """Stop the local server (SIGTERM, then SIGKILL after a timeout)."""
    from graph_service.neo4j import launcher

    stopped = launcher.stop(data_dir)
    if as_json:
        emit({"stopped": stopped})
    else:
        out.print("stopped" if stopped else "not running")


@neo4j_app.command("status")
@fail_cleanly
def neo4j_status(data_dir: Neo4jDataDir = Path("data/neo4j"), as_json: JsonOption = False) -> None:
    """Whether the local server runs, its pid, URI and GDS version."""
    from graph_service.neo4j import launcher

    state = launcher.status(data_dir)
    result = {
        "running": state.running,
        "pid": state.pid,
        "uri": state.uri,
        "gds_version": state.gds_version,
        "accepting": state.accepting,
    }
    if as_json:
        emit(result)
    else:
        out.print(result)


@neo4j_app.command("import")
@fail_cleanly
def neo4j_import(
    store: StoreOption = None,
    database: Annotated[
        str,
        typer.Option(
            "--database",
            help="The new database (it becomes the server's default; set "
            "FRAUDGRAPH_NEO4J_DATABASE to it).",
        ),
    ] = "fraudgraph",
    data_dir: Neo4jDataDir = Path("data/neo4j"),
    target_store: Annotated[
        Path | None,
        typer.Option(
            "--target-store",
            help="store_dir of the Neo4j backend (event and quarantine files) "
            "(default: the --store directory).",
        ),
    ] = None,
    port: BoltPort = 7687,
    heap: ServerHeap = "1g",
    password: ServerPassword = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="neo4j-admin threads (default: all CPUs).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the database if it exists.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Bulk-load an embedded store into a new database of the local server.

    Writes the store's entities and links as CSV, stops the server, runs
    `neo4j-admin database import full` into DATABASE, makes it the default database,
    restarts the server, creates the constraints and writes the ingest ledger and labels.
    Ingest the raw files into the embedded store first (`fraudgraph ingest`); the imported
    graph equals a transactional ingest of the same events. Scores are not imported:
    run `fraudgraph analyse` on the Neo4j backend afterwards.
    """
    from graph_service.neo4j.bulk_import import bulk_import

    source = settings_for(store).store_dir
    with err.status("bulk import") as status:
        report = bulk_import(
            source_store=source,
            data_dir=data_dir,
            database=database,
            target_store=target_store or source,
            port=port,
            password=password or None,
            heap=heap,
            overwrite=overwrite,
            threads=threads,
            progress=lambda step: status.update(f"bulk import: {step}"),
        )
    result = {
        "database": report.database,
        "uri": report.uri,
        "nodes": report.nodes,
        "links": report.links,
        "events": report.events,
        "sources": report.sources,
        "batches": report.batches,
        "labels": report.labels,
        "seconds": report.seconds,
        "events_per_s": round(report.events_per_s),
    }
    if as_json:
        emit(result)
    else:
        out.print(
            f"imported {report.events} events ({report.nodes} entities, {report.links} links) "
            f"into database {report.database!r} at {report.uri} in "
            f"{report.seconds['total']:.1f} s ({report.events_per_s:,.0f} events/s); "
            f"set FRAUDGRAPH_NEO4J_DATABASE={report.database}"
        )
