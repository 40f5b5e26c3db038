"""Running steps: the ledger and lock discipline shared by inline runs and Celery tasks.

:func:`begin_run` takes the pipeline lock for a run (or refuses it with
:class:`~fraudgraph.jobs.lock.PipelineBusy`); :func:`execute_step` runs one step under
the per-step lock, recording it in the ledger; :func:`finish_run` records the outcome and
frees the lock. :func:`run_inline` does all three in this process.

Re-delivery
    A step whose record says ``succeeded`` or ``skipped`` is not run again: its recorded
    result is returned (a duplicate delivery). A step recorded as ``running`` was cut
    short (its worker died) and runs again; it writes the same versions, so the final
    state equals an uninterrupted run's. Steps of a run that already finished are not
    run at all.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraudgraph.jobs.ledger import (
    DONE,
    FINISHED,
    RunLedger,
    RunStatus,
    StepStatus,
    new_run_id,
    utc_now,
    worker_name,
)
from fraudgraph.jobs.lock import FileLeases, LeaseBackend, PipelineBusy, RedisLeases, acquire, hold
from fraudgraph.jobs.metrics import METRICS
from fraudgraph.jobs.settings import JobSettings
from fraudgraph.jobs.steps import STEP_FUNCTIONS, PipelineSpec, StepContext, StepSkipped
from graph_service.errors import InvalidInput, interrupt_behind, one_line
from graph_service.settings import Settings

__all__ = [
    "begin_run",
    "execute_step",
    "finish_run",
    "jobs_root",
    "lease_backend",
    "resumable",
    "run_inline",
    "run_ledger",
]

log = logging.getLogger(__name__)

PIPELINE_LOCK = "pipeline"
STEP_LOCK = "step"

Progress = Callable[[str, str, int | None, int | None], None]


def jobs_root(settings: Settings) -> Path:
    """``STORE/jobs``: the ledger, locks, outbox and metrics of the store's runs."""
    return Path(settings.store_dir) / "jobs"


def run_ledger(settings: Settings) -> RunLedger:
    """The run ledger of the store of ``settings`` (under :func:`jobs_root`).

    The one place the ledger is built: the pipeline, the Celery tasks and the CLI's
    ``pipeline`` and ``jobs`` commands use this.
    """
    return RunLedger(jobs_root(settings))


def lease_backend(settings: Settings, jobs: JobSettings) -> LeaseBackend:
    """Redis leases when a broker is configured (several hosts), else lock files."""
    if jobs.broker_url:
        import redis

        client = redis.Redis.from_url(jobs.broker_url, socket_connect_timeout=5.0)
        return RedisLeases(client, prefix=f"fraudgraph:jobs:lock:{store_identity(settings)}")
    return FileLeases(jobs_root(settings) / "locks")


def store_identity(settings: Settings) -> str:
    """What names the store across hosts: the Neo4j database, or the embedded store's path."""
    if settings.backend == "neo4j":
        name = f"neo4j.{settings.neo4j.uri}.{settings.neo4j.database}"
    else:
        name = "embedded." + str(Path(settings.store_dir).resolve()).strip("/")
    return "".join(c if c.isalnum() or c in "._-" else "." for c in name)


def begin_run(
    run_id: str,
    spec: PipelineSpec,
    *,
    settings: Settings,
    jobs: JobSettings,
    trigger: str,
    wait_s: float | None = None,
    final: bool = True,
) -> None:
    """Record the run and take the pipeline lock for it (kept until :func:`finish_run`).

    Parameters
    ----------
    run_id : str
    spec : PipelineSpec
    settings : Settings
    jobs : JobSettings
    trigger : str
        ``inline``, ``celery`` or ``beat`` (kept in the ledger).
    wait_s : float, optional
        How long to wait for another run's lock (default ``spec.wait_s``).
    final : bool
        Whether a busy store refuses the run for good (recorded as refused); a Celery task
        that will try again later passes False.

    Raises
    ------
    PipelineBusy
        If another run holds the store after ``wait_s``.
    """
    ledger = run_ledger(settings)
    ledger.create_run(run_id, trigger=trigger, spec=spec.as_dict(), steps=list(spec.steps))
    try:
        acquire(
            lease_backend(settings, jobs),
            PIPELINE_LOCK,
            owner=run_id,
            ttl_s=jobs.pipeline_lock_ttl_s(),
            wait_s=spec.wait_s if wait_s is None else wait_s,
        ).detach()  # the lease outlives this call; steps renew it while they run
    except PipelineBusy as exc:
        if not final:
            raise
        ledger.update_run(run_id, status=RunStatus.REFUSED, finished_at=utc_now(), error=str(exc))
        METRICS.runs.labels(outcome="refused").inc()
        log.warning(
            "pipeline run %s refused: %s", run_id, exc, extra={"run_id": run_id, "reason": str(exc)}
        )
        raise
    record = ledger.run(run_id)
    resumed = record.get("started_at") is not None
    ledger.update_run(
        run_id,
        status=RunStatus.RUNNING,
        started_at=record.get("started_at") or utc_now(),
        finished_at=None,
        error=None,
        resumed_at=[*record.get("resumed_at", []), utc_now()] if resumed else [],
    )
    log.info(
        "pipeline run %s started (%s)",
        run_id,
        trigger,
        extra={"run_id": run_id, "trigger": trigger},
    )


def execute_step(
    run_id: str,
    step: str,
    spec: PipelineSpec,
    *,
    settings: Settings,
    jobs: JobSettings,
    progress: Callable[[str, int | None, int | None], None] | None = None,
) -> dict[str, Any]:
    """Run one step of a run once, whatever the number of deliveries.

    Returns
    -------
    dict
        The step's ledger record (``status``, ``result``, ``seconds``...).

    Raises
    ------
    PipelineBusy
        If another run took the store (this run's lock had lapsed).
    FraudGraphError
        The step's own failure (recorded as ``failed``).
    """
    ledger = run_ledger(settings)
    run = ledger.run(run_id)
    if run["status"] in FINISHED:
        log.warning("step of a finished run ignored", extra={"run_id": run_id, "step": step})
        return {"step": step, "status": "ignored", "reason": f"run is {run['status']}"}
    backend = lease_backend(settings, jobs)
    # The run's own lock: taken again if it lapsed while the step waited for redelivery.
    pipeline = acquire(
        backend, PIPELINE_LOCK, owner=run_id, ttl_s=jobs.pipeline_lock_ttl_s(), what="store"
    )
    delivery = f"{run_id}.{step}.{worker_name().replace(':', '.')}.{time.monotonic_ns()}"
    with hold(
        backend,
        STEP_LOCK,
        owner=delivery,
        ttl_s=jobs.step_lock_ttl_s,
        # A live holder renews its lease; a dead one's lapses within step_lock_ttl_s. So
        # waiting without a bound only ever waits for work that is really going on.
        wait_s=math.inf,
        what=f"step {step} of run {run_id}",
    ):
        try:
            return _execute_locked(ledger, run_id, step, spec, settings, jobs, progress)
        finally:
            pipeline.detach()


def _execute_locked(
    ledger: RunLedger,
    run_id: str,
    step: str,
    spec: PipelineSpec,
    settings: Settings,
    jobs: JobSettings,
    progress: Callable[[str, int | None, int | None], None] | None,
) -> dict[str, Any]:
    previous = ledger.step(run_id, step)
    if previous is not None and previous["status"] in DONE:
        METRICS.step_done(step, "duplicate", None, time.time())
        log.info(
            "step %s of run %s was already %s: duplicate delivery ignored",
            step,
            run_id,
            previous["status"],
            extra={"run_id": run_id, "step": step},
        )
        return previous
    attempts = (previous or {}).get("attempts", 0) + 1
    record: dict[str, Any] = {
        "step": step,
        "status": StepStatus.RUNNING.value,
        "attempts": attempts,
        "worker": worker_name(),
        "started_at": utc_now(),
        "finished_at": None,
        "seconds": None,
        "progress": None,
        "result": None,
        "error": None,
    }
    ledger.write_step(run_id, step, record)
    last_write = [0.0]

    def on_progress(label: str, done: int | None, total: int | None) -> None:
        if progress is not None:
            progress(label, done, total)
        now = time.monotonic()
        if now - last_write[0] >= 1.0:  # the ledger is for people: once a second is enough
            last_write[0] = now
            record["progress"] = {"label": label, "done": done, "total": total}
            ledger.write_step(run_id, step, record)

    ctx = StepContext(run_id, spec, settings, jobs, ledger, on_progress)
    started = time.perf_counter()
    log.info(
        "step %s of run %s started (attempt %d)",
        step,
        run_id,
        attempts,
        extra={"run_id": run_id, "step": step, "attempt": attempts},
    )
    unchanged = ctx.result_of("ingest").get("unchanged_since") if step != "ingest" else None
    try:
        if unchanged:
            raise StepSkipped(f"input unchanged since run {unchanged}")
        record["result"] = STEP_FUNCTIONS[step](ctx)
        record["status"] = StepStatus.SUCCEEDED.value
    except StepSkipped as exc:
        record["status"] = StepStatus.SKIPPED.value
        record["result"] = {"skipped": str(exc)}
    except BaseException as exc:  # an interrupted step is recorded too (then re-raised)
        interrupted = interrupt_behind(exc) is not None
        record["status"] = StepStatus.FAILED.value
        record["error"] = (
            f"KeyboardInterrupt: {one_line(exc)}" if interrupted else f"{type(exc).__name__}: {exc}"
        )
        _close(record, started, ledger, run_id)
        METRICS.step_done(step, "failed", record["seconds"], time.time())
        log.error(
            "step %s of run %s failed after %.1f s: %s",
            step,
            run_id,
            record["seconds"],
            record["error"],
            extra={"run_id": run_id, "step": step, "seconds": record["seconds"]},
        )
        if interrupted and not isinstance(exc, KeyboardInterrupt):
            # Ctrl-C that reached a query: the run was interrupted, not failing.
            raise KeyboardInterrupt(one_line(exc)) from exc
        raise
    _close(record, started, ledger, run_id)
    outcome = record["status"]
    METRICS.step_done(
        step, outcome, record["seconds"] if outcome == "succeeded" else None, time.time()
    )
    log.info(
        "step %s of run %s %s in %.1f s",
        step,
        run_id,
        outcome,
        record["seconds"],
        extra={"run_id": run_id, "step": step, "outcome": outcome, "seconds": record["seconds"]},
    )
    return record


def _close(record: dict[str, Any], started: float, ledger: RunLedger, run_id: str) -> None:
    record["finished_at"] = utc_now()
    record["seconds"] = round(time.perf_counter() - started, 3)
    ledger.write_step(run_id, record["step"], record)


def finish_run(
    run_id: str,
    *,
    settings: Settings,
    jobs: JobSettings,
    error: str | None = None,
) -> dict[str, Any]:
    """Record the run's outcome, free its lock and prune old runs; the run record."""
    ledger = run_ledger(settings)
    run = ledger.run(run_id)
    if run["status"] in FINISHED:
        return run
    status = RunStatus.FAILED if error else RunStatus.SUCCEEDED
    run = ledger.update_run(run_id, status=status, finished_at=utc_now(), error=error)
    backend = lease_backend(settings, jobs)
    holder = backend.holder(PIPELINE_LOCK)
    if holder is not None and holder.owner == run_id:
        backend.release(PIPELINE_LOCK, holder.token)
    METRICS.runs.labels(outcome=status.value).inc()
    ledger.prune(jobs.keep_runs)
    log.info(
        "pipeline run %s %s", run_id, status.value, extra={"run_id": run_id, "status": status.value}
    )
    return run


def resumable(run_id: str, *, settings: Settings, jobs: JobSettings) -> PipelineSpec:
    """The spec of a run that may be resumed: its done steps are kept, the rest run.

    A failed or refused run may be resumed, and so may a run left ``running`` by a process
    that died (its lease has lapsed).

    Raises
    ------
    EntityNotFound
        If there is no such run.
    InvalidInput
        If the run succeeded, or is still running (its lease is held).
    """
    ledger = run_ledger(settings)
    run = ledger.run(run_id)
    if run["status"] == RunStatus.SUCCEEDED.value:
        raise InvalidInput(f"run {run_id} succeeded; there is nothing to resume")
    if run["status"] in (RunStatus.RUNNING.value, RunStatus.QUEUED.value):
        holder = lease_backend(settings, jobs).holder(PIPELINE_LOCK)
        if holder is not None and holder.owner == run_id:
            raise InvalidInput(
                f"run {run_id} is still running (lock held by worker {holder.worker}); "
                "resume it only once its lease has lapsed"
            )
    return PipelineSpec.from_dict(run["spec"])


def run_inline(
    spec: PipelineSpec,
    *,
    settings: Settings | None = None,
    jobs: JobSettings | None = None,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Run every step of ``spec`` in this process (no broker needed).

    Parameters
    ----------
    spec : PipelineSpec
    settings : Settings, optional
        Default: ``spec.settings()``.
    jobs : JobSettings, optional
        Default: from the environment.
    progress : callable, optional
        ``progress(step, label, done, total)``.
    run_id : str, optional
        Default a new one. An existing run's id resumes it (see :func:`resumable`): its
        done steps return their records, the others run.

    Returns
    -------
    dict
        The run record with ``step_records``.

    Raises
    ------
    PipelineBusy
        If another run holds the store.
    FraudGraphError
        The first failing step's error (the run is recorded as failed).
    """
    settings = settings or spec.settings()
    jobs = jobs or JobSettings()
    spec = spec.with_store(settings)
    run_id = run_id or new_run_id()
    begin_run(run_id, spec, settings=settings, jobs=jobs, trigger="inline")
    ledger = run_ledger(settings)
    error: str | None = None
    try:
        for step in spec.steps:

            def on_progress(
                label: str, done: int | None, total: int | None, step: str = step
            ) -> None:
                if progress is not None:
                    progress(step, label, done, total)

            execute_step(run_id, step, spec, settings=settings, jobs=jobs, progress=on_progress)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        finish_run(run_id, settings=settings, jobs=jobs, error=error)
        _write_metrics(settings)
    record = ledger.run(run_id)
    record["step_records"] = ledger.steps(run_id)
    return record


def _write_metrics(settings: Settings) -> None:
    from fraudgraph.jobs.metrics import write_textfile

    try:
        write_textfile(jobs_root(settings) / "metrics.prom")
    except OSError as exc:  # metrics must never fail a run
        log.warning("job metrics not written", extra={"error": str(exc)})
