"""What every command group of the CLI shares: the two consoles, the ``--store`` and
``--json`` options, clean failures, JSON output, opening the store and progress bars.

Every command that reports figures takes ``--json`` and then prints exactly one JSON
object on stdout (:func:`emit`); progress bars and logs go to stderr (:data:`err`). On
failure the exit code is non-zero and stderr carries a one-line error (:func:`fail_cleanly`).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from graph_service import FraudGraphError, GraphStore, open_store
from graph_service.errors import interrupt_behind
from graph_service.settings import Settings

__all__ = [
    "JsonOption",
    "StoreOption",
    "emit",
    "err",
    "fail_cleanly",
    "open_graph",
    "out",
    "progress_bars",
    "settings_for",
    "step_bars",
]

# torch_geometric scripts a helper with the deprecated torch.jit.script when imported; the
# CLI's stderr is for progress and one-line errors.
warnings.filterwarnings(
    "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
)

#: Progress bars, logs, one-line errors.
err = Console(stderr=True)
#: Tables and reports (not with ``--json``: then stdout is one JSON object).
out = Console()

P = ParamSpec("P")
R = TypeVar("R")

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store", envvar="FRAUDGRAPH_STORE", help="Store directory [default: ./data/store]."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def fail_cleanly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn known errors into a one-line message on stderr and exit code 1 (2 for bad input)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (FraudGraphError, KeyboardInterrupt, RuntimeError) as exc:
            # RuntimeError: how DuckDB reports a query that Ctrl-C stopped.
            if interrupt_behind(exc) is not None:
                # Exiting now: a second Ctrl-C (or one a library re-emits) must not cut
                # the clean exit short with a death by SIGINT.
                if threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                _forget_unhandled_interrupt()
                err.print("error: interrupted; committed batches are kept, re-run to finish")
                raise typer.Exit(130) from None
            if not isinstance(exc, FraudGraphError):
                raise
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2 if exc.http_status < 500 else 1) from None

    return wrapper


def _forget_unhandled_interrupt() -> None:
    """Clear CPython's record of a Ctrl-C that escaped an ``exec`` of a string.

    CPython (3.11 here) marks a KeyboardInterrupt raised inside any ``exec()`` of a string as
    unhandled, even once caught, and a ``python -m`` run then ends by killing itself with
    SIGINT instead of the exit code it chose: Ctrl-C landing while a module is imported
    (a dataclass compiles its methods that way) turned exit 130 into death by SIGINT.
    Every successful ``exec`` of a string resets that mark.
    """
    exec("")  # a constant, empty program: the reset described above


def settings_for(store: Path | None) -> Settings:
    """The environment's settings, with ``--store`` applied when given."""
    settings = Settings()
    if store is not None:
        settings = settings.model_copy(update={"store_dir": store})
    return settings


def open_graph(store: Path | None, *, read_only: bool) -> GraphStore:
    """The store of ``--store`` (or of the environment), opened; use it as a context.

    Commands that only read open it ``read_only``: they take no write lock, so they run
    while a pipeline writes, and a mistyped ``--store`` is an error instead of a new,
    empty store.
    """
    return open_store(settings_for(store), read_only=read_only)


def emit(payload: Mapping[str, Any]) -> None:
    """Print ``payload`` as one JSON object on stdout (``--json``)."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")


@contextmanager
def progress_bars() -> Iterator[Progress]:
    """Progress bars on stderr, kept on screen when done."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        yield progress


def step_bars(progress: Progress, prefix: str = "") -> Callable[[str, int, int], None]:
    """A ``progress(step, done, total)`` callback drawing one bar per step name."""
    tasks: dict[str, TaskID] = {}

    def on_progress(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(f"{prefix}{step}", total=total)
        progress.update(tasks[step], completed=done, total=total)

    return on_progress
