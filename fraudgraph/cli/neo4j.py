"""``fraudgraph neo4j``: a local Neo4j + Graph Data Science server for development and
tests (start, stop, status)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fraudgraph.cli.shared import JsonOption, emit, err, fail_cleanly, out

__all__ = ["neo4j_app"]

neo4j_app = typer.Typer(
    help="A local Neo4j + Graph Data Science server for development and tests.",
    no_args_is_help=True,
)

Neo4jDataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="FRAUDGRAPH_NEO4J_DATA_DIR", help="Server data directory."),
]


@neo4j_app.command("start")
@fail_cleanly
def neo4j_start(
    data_dir: Neo4jDataDir = Path("data/neo4j"),
    port: Annotated[int, typer.Option("--port", help="Bolt port on 127.0.0.1.")] = 7687,
    heap: Annotated[str, typer.Option("--heap", help="JVM heap, e.g. 1g.")] = "1g",
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar=["FRAUDGRAPH_NEO4J_PASSWORD", "NEO4J_PASSWORD"],
            help="Enable auth with this password.",
        ),
    ] = None,
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
