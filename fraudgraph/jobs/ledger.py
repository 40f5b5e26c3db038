"""The run ledger: what each pipeline run did, step by step, as JSON files.

Layout under ``STORE/jobs/runs/<run_id>/``::

    run.json          the run: id, trigger, spec, input key, status, times, error
    steps/<step>.json one step: status, attempts, worker, times, progress, result, error
    *.json            files a step writes for the run (``evaluation.json``)

Every file is replaced atomically (temporary file + rename), so a reader (``fraudgraph
jobs status``, another worker) sees the previous or the new record, never half of one.
The ledger lives next to the store (a shared volume when workers run on several hosts,
like the model registry), not in it: it stays readable while a job holds the embedded
store's write lock.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from graph_service.errors import EntityNotFound, InvalidInput

__all__ = [
    "RunLedger",
    "RunStatus",
    "StepStatus",
    "new_run_id",
    "safe_name",
    "utc_now",
    "worker_name",
]

#: Run ids are UTC times (the format of every other version in the store).
RUN_ID_FORMAT: Final = "%Y%m%dT%H%M%S.%fZ"


class RunStatus(StrEnum):
    """Where a run stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"


class StepStatus(StrEnum):
    """Where a step stands; ``running`` on a dead worker means it was cut short."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"


#: Steps whose record means "done": a re-delivery returns the recorded result.
DONE: Final = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED})
#: Run states after which nothing more runs.
FINISHED: Final = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.REFUSED})


def utc_now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat()


def new_run_id() -> str:
    """A new run id: the current UTC time to the microsecond."""
    return datetime.now(UTC).strftime(RUN_ID_FORMAT)


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunLedger:
    """Runs and their steps under ``root`` (``STORE/jobs``).

    Parameters
    ----------
    root : Path
        The jobs directory; created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    # -- runs -----------------------------------------------------------------------
    def create_run(
        self, run_id: str, *, trigger: str, spec: dict[str, Any], steps: list[str]
    ) -> dict[str, Any]:
        """Record a new run as queued; an existing run of that id is left as it is."""
        folder = self._run_dir(run_id)
        existing = self._read(folder / "run.json")
        if existing is not None:
            return existing
        record = {
            "run_id": run_id,
            "trigger": trigger,
            "status": RunStatus.QUEUED.value,
            "created_at": utc_now(),
            "started_at": None,
            "finished_at": None,
            "steps": steps,
            "spec": spec,
            "input_key": None,
            "error": None,
        }
        self._write(folder / "run.json", record)
        return record

    def update_run(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields of a run's record (status values as :class:`RunStatus`)."""
        record = self.run(run_id)
        for key, value in fields.items():
            record[key] = value.value if isinstance(value, StrEnum) else value
        self._write(self._run_dir(run_id) / "run.json", record)
        return record

    def run(self, run_id: str) -> dict[str, Any]:
        """The run's record.

        Raises
        ------
        EntityNotFound
            If there is no such run.
        """
        record = self._read(self._run_dir(run_id) / "run.json")
        if record is None:
            raise EntityNotFound(f"no pipeline run {run_id!r} in {self.runs_dir}")
        return record

    def runs(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded runs, newest first, each with its ``step_records``."""
        out: list[dict[str, Any]] = []
        for record in self._run_records():
            if limit is not None and len(out) >= limit:
                break
            record["step_records"] = self.steps(record["run_id"])
            out.append(record)
        return out

    def last_succeeded(self, *, before: str | None = None) -> dict[str, Any] | None:
        """The newest succeeded run (older than run ``before`` when given), without its
        step records (only run files are read, newest first, until one succeeded)."""
        for record in self._run_records():
            if before is not None and record["run_id"] >= before:
                continue
            if record["status"] == RunStatus.SUCCEEDED.value:
                return record
        return None

    def _run_records(self) -> Iterator[dict[str, Any]]:
        """Each run's ``run.json``, newest first, read one at a time."""
        if not self.runs_dir.exists():
            return
        names = sorted((p.name for p in self.runs_dir.iterdir() if p.is_dir()), reverse=True)
        for name in names:
            record = self._read(self.runs_dir / name / "run.json")
            if record is not None:
                yield record

    def prune(self, keep: int) -> list[str]:
        """Remove the folders of finished runs beyond the newest ``keep``; their ids."""
        removed = []
        for record in self.runs()[keep:]:
            if record["status"] in FINISHED:
                shutil.rmtree(self._run_dir(record["run_id"]), ignore_errors=True)
                removed.append(record["run_id"])
        return removed

    # -- steps ----------------------------------------------------------------------
    def step(self, run_id: str, step: str) -> dict[str, Any] | None:
        """The record of one step of a run, or ``None`` if it never started."""
        return self._read(self._run_dir(run_id) / "steps" / f"{safe_name(step)}.json")

    def steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Every started step of a run, by name."""
        folder = self._run_dir(run_id) / "steps"
        out: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.json")):
            record = self._read(path)
            if record is not None:
                out[path.stem] = record
        return out

    def write_step(self, run_id: str, step: str, record: dict[str, Any]) -> None:
        """Replace a step's record."""
        self._write(self._run_dir(run_id) / "steps" / f"{safe_name(step)}.json", record)

    def run_dir(self, run_id: str) -> Path:
        """The run's folder (created), for the files a step writes beside its record."""
        folder = self._run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- files ------------------------------------------------------------------------
    def _run_dir(self, run_id: str) -> Path:
        return self.runs_dir / safe_name(run_id)

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return record

    @staticmethod
    def _write(path: Path, record: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        tmp = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(record, stream, default=str, indent=1)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)


def safe_name(name: str, what: str = "run id or step name") -> str:
    """``name`` if it is safe as a file name or key part: letters, digits, ``._:-``.

    Raises
    ------
    InvalidInput
        For an empty name, another character, or a leading dot.
    """
    if not name or not all(c.isalnum() or c in "._:-" for c in name) or name.startswith("."):
        raise InvalidInput(f"{name!r} is not a valid {what}")
    return name
