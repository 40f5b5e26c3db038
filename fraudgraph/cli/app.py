"""The ``fraudgraph`` application: the root command and its command groups, in the order
``fraudgraph --help`` lists them."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from fraudgraph.cli.convert import convert_app
from fraudgraph.cli.gnn import gnn_app
from fraudgraph.cli.ingest import ingest, stats
from fraudgraph.cli.jobs import jobs_app
from fraudgraph.cli.neo4j import neo4j_app
from fraudgraph.cli.pipeline import demo, pipeline_app
from fraudgraph.cli.query import query_app
from fraudgraph.cli.rings import analyse, evaluate, rings, super_nodes
from fraudgraph.cli.scenario import generate
from fraudgraph.cli.serving import publish, serve
from fraudgraph.cli.workers import beat, worker

__all__ = ["app"]

app = typer.Typer(
    name="fraudgraph",
    help=(
        "Fraud-ring detection on an entity graph: generate scenarios, ingest events, find and "
        "score rings, evaluate, serve, and run the batch pipeline (inline or on Celery)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")] = False,
) -> None:
    """Fraud-ring detection on an entity graph."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


app.command("generate")(generate)
app.command("ingest")(ingest)
app.command("stats")(stats)
app.command("demo")(demo)
app.command("analyse")(analyse)
# The code says analyse; `analyze` keeps working for scripts written before.
app.command("analyze", hidden=True)(analyse)
app.command("evaluate")(evaluate)
app.command("rings")(rings)
app.command("super-nodes")(super_nodes)
app.command("publish")(publish)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("beat")(beat)
app.add_typer(neo4j_app, name="neo4j")
app.add_typer(query_app, name="query")
app.add_typer(gnn_app, name="gnn")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(jobs_app, name="jobs")
app.add_typer(convert_app, name="convert")
