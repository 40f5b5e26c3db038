"""The ``fraudgraph`` command line: generate, ingest, stats, analyse, evaluate, rings,
super-nodes, query, gnn (train, infer, evaluate, promote), publish, serve, pipeline (run,
submit, resume), jobs (status, show, deliver), worker, beat, demo, and a local Neo4j.

One module per command group (:mod:`fraudgraph.cli.app` assembles them); what they share
(the ``--store`` and ``--json`` options, clean failures, JSON output, progress bars) is in
:mod:`fraudgraph.cli.shared`.

Every command that reports figures takes ``--json`` and then prints exactly one JSON
object on stdout; progress bars and logs go to stderr. On failure the exit code is
non-zero and stderr carries a one-line error.
"""

from fraudgraph.cli.app import app

__all__ = ["app"]
