"""The Celery app: one task per pipeline step, chained; beat schedule; run bookkeeping.

Configuration comes from :class:`~fraudgraph.jobs.settings.JobSettings` (env
``FRAUDGRAPH_JOBS_*``): Redis is broker and result backend; tasks are acknowledged late
(after they finish) and a task whose worker process is lost is rejected back to the
queue, so a task taken by a worker that dies is delivered again (at once when only the
pool process died, after ``visibility_timeout_s`` when the whole worker died). The run
ledger makes every re-delivery harmless (:mod:`fraudgraph.jobs.pipeline`).

A submitted run is the chain::

    begin -> <step> -> ... -> finish        (fail on any task's final failure)

``begin`` takes the pipeline lock (a second run on the same store waits up to its
``wait_s`` and is then refused, recorded as ``refused``); ``finish`` frees it.

Start processes with ``fraudgraph worker`` and ``fraudgraph beat``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery, chain
from celery.app.task import Task

from fraudgraph.jobs.ledger import new_run_id
from fraudgraph.jobs.lock import PipelineBusy
from fraudgraph.jobs.pipeline import begin_run, execute_step, finish_run, run_ledger
from fraudgraph.jobs.settings import JobSettings
from fraudgraph.jobs.steps import PIPELINE_STEPS, TRAINING_STEPS, PipelineSpec
from graph_service.errors import BackendUnavailable
from graph_service.settings import DEFAULT_REDIS_URL, Settings

__all__ = ["app", "configure", "submit"]

log = logging.getLogger(__name__)

#: Default broker when none is configured (a local Redis, as in development).

app = Celery("fraudgraph")


def configure(celery: Celery, jobs: JobSettings) -> None:
    """Apply ``jobs`` to ``celery``: broker, delivery guarantees and the beat schedule."""
    broker = jobs.broker_url or DEFAULT_REDIS_URL
    transport = {
        "visibility_timeout": jobs.visibility_timeout_s,
        # kombu sweeps for unacknowledged tasks every interval x throttle seconds.
        "unacked_restore_interval": jobs.restore_interval_s,
        "unacked_restore_throttle": 1,
    }
    schedule: dict[str, Any] = {}
    if jobs.pipeline_every_s > 0:
        schedule["pipeline"] = {
            "task": "fraudgraph.jobs.scheduled_pipeline",
            "schedule": timedelta(seconds=jobs.pipeline_every_s),
        }
    if jobs.gnn_train_every_s > 0:
        schedule["gnn-train"] = {
            "task": "fraudgraph.jobs.scheduled_gnn_train",
            "schedule": timedelta(seconds=jobs.gnn_train_every_s),
        }
    celery.conf.update(
        broker_url=broker,
        result_backend=broker,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        result_expires=timedelta(days=7),
        beat_schedule=schedule,
        timezone="UTC",
    )


configure(app, JobSettings())


def _spec(data: dict[str, Any]) -> tuple[PipelineSpec, Settings, JobSettings]:
    spec = PipelineSpec.from_dict(data)
    return spec, spec.settings(), JobSettings()


#: Seconds between two tries of a run waiting for another run's lock.
BEGIN_RETRY_S = 2.0


@app.task(name="fraudgraph.jobs.begin", bind=True, max_retries=None)
def begin(self: Task[Any, Any], run_id: str, spec: dict[str, Any]) -> str:
    """Take the pipeline lock for the run, or refuse it once ``spec.wait_s`` has passed.

    A waiting run tries again every couple of seconds as a scheduled retry, so it holds
    no worker process while it waits.
    """
    pipeline, settings, jobs = _spec(spec)
    created = datetime.fromisoformat(run_ledger(settings).run(run_id)["created_at"])
    remaining = pipeline.wait_s - (datetime.now(UTC) - created).total_seconds()
    try:
        begin_run(
            run_id,
            pipeline,
            settings=settings,
            jobs=jobs,
            trigger="celery",
            wait_s=0,
            final=remaining <= 0,
        )
    except PipelineBusy as exc:
        if remaining <= 0:
            raise
        raise self.retry(countdown=min(BEGIN_RETRY_S, remaining), exc=exc) from exc
    return run_id


def _register_step(step: str) -> Task[Any, Any]:
    def run_step(run_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        pipeline, settings, jobs = _spec(spec)
        return execute_step(run_id, step, pipeline, settings=settings, jobs=jobs)

    run_step.__name__ = f"step_{step}"
    run_step.__doc__ = f"The pipeline's {step} step (see fraudgraph.jobs.steps.{step})."
    task: Task[Any, Any] = app.task(
        name=f"fraudgraph.jobs.{step}",
        autoretry_for=(BackendUnavailable,),
        retry_backoff=True,
        retry_backoff_max=300,
        max_retries=3,
    )(run_step)
    return task


#: The step tasks, by step name.
STEP_TASKS: dict[str, Task[Any, Any]] = {step: _register_step(step) for step in PIPELINE_STEPS}


@app.task(name="fraudgraph.jobs.finish")
def finish(run_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Record the run as succeeded and free the lock."""
    _, settings, jobs = _spec(spec)
    return finish_run(run_id, settings=settings, jobs=jobs)


@app.task(name="fraudgraph.jobs.fail")
def fail(request: Any, exc: Any, traceback: Any, run_id: str, spec: dict[str, Any]) -> None:
    """Errback of a run's chain: record the run as failed (or refused) and free the lock."""
    _, settings, jobs = _spec(spec)
    ledger = run_ledger(settings)
    if ledger.run(run_id)["status"] == "refused":
        return
    finish_run(run_id, settings=settings, jobs=jobs, error=f"{type(exc).__name__}: {exc}")


def submit(
    spec: PipelineSpec,
    *,
    settings: Settings | None = None,
    run_id: str | None = None,
    trigger: str = "celery",
) -> str:
    """Queue a run of ``spec`` on the workers; its run id (follow it in the ledger).

    Raises
    ------
    BackendUnavailable
        If the broker cannot be reached.
    """
    settings = settings or spec.settings()
    spec = spec.with_store(settings)
    _check_broker(str(app.conf.broker_url))
    run_id = run_id or new_run_id()
    data = spec.as_dict()
    run_ledger(settings).create_run(run_id, trigger=trigger, spec=data, steps=list(spec.steps))
    work = chain(
        begin.si(run_id, data),
        *(STEP_TASKS[step].si(run_id, data) for step in spec.steps),
        finish.si(run_id, data),
    )
    try:
        work.apply_async(link_error=fail.s(run_id=run_id, spec=data))
    except Exception as exc:  # kombu raises OperationalError and friends
        raise BackendUnavailable(f"celery broker {app.conf.broker_url}: {exc}") from exc
    log.info("pipeline run %s queued", run_id, extra={"run_id": run_id, "steps": spec.steps})
    return run_id


def _check_broker(url: str) -> None:
    """Fail fast, in one line, when the broker (Redis) does not answer."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3.0, socket_timeout=3.0)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        raise BackendUnavailable(
            f"celery broker {url} does not answer ({exc}); start Redis or set "
            "FRAUDGRAPH_JOBS_BROKER_URL"
        ) from exc


def _scheduled_spec(steps: tuple[str, ...], gnn: str) -> PipelineSpec:
    jobs = JobSettings()
    settings = Settings()
    inbox = jobs.inbox or settings.store_dir / "inbox"
    return PipelineSpec(
        inputs=(str(inbox),) if "ingest" in steps and inbox.exists() else (),
        truth=str(jobs.truth) if jobs.truth else None,
        threshold=jobs.threshold,
        gnn=gnn,
        gnn_epochs=jobs.gnn_epochs,
        steps=steps,
        wait_s=jobs.wait_s,
    )


@app.task(name="fraudgraph.jobs.scheduled_pipeline")
def scheduled_pipeline() -> str:
    """Beat entry: a pipeline run over the inbox."""
    return submit(_scheduled_spec(PIPELINE_STEPS, "auto"), trigger="beat")


@app.task(name="fraudgraph.jobs.scheduled_gnn_train")
def scheduled_gnn_train() -> str:
    """Beat entry: train a GNN and challenge the champion."""
    return submit(_scheduled_spec(TRAINING_STEPS, "train"), trigger="beat")
