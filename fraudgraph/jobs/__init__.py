"""Batch jobs: the pipeline (ingest, GNN, analyse, flag, publish, evaluate, deliver) run
inline or on Celery workers, with a run ledger, a pipeline lock and metrics.

The step functions (:mod:`fraudgraph.jobs.steps`) are the same whichever way a run is
driven: :func:`fraudgraph.jobs.pipeline.run_inline` calls them in one process (no broker;
``fraudgraph pipeline run``), :mod:`fraudgraph.jobs.celery_app` wraps each in a Celery task
and chains them (``fraudgraph pipeline submit``, ``fraudgraph worker``, ``fraudgraph beat``).
Every step goes through :func:`fraudgraph.jobs.pipeline.execute_step`, which makes a
re-delivered step harmless: a step already recorded as done in the run's ledger returns
its recorded result, and a step that was cut short (a killed worker) runs again, writing
the same versions, so the final state is that of an uninterrupted run.
"""
