"""The error hierarchy. Every error knows its HTTP status so ``api`` maps them in one place."""

from __future__ import annotations

import re
from typing import Final


class FraudGraphError(Exception):
    """Root of every error this project raises on purpose.

    Attributes
    ----------
    http_status : int
        The status an HTTP API answers with when this error reaches it.
    code : str
        A stable, machine-readable code for clients and logs.
    """

    http_status: int = 500
    code: str = "internal_error"


class InvalidInput(FraudGraphError):
    """The caller's input is malformed (bad file format, bad key, unknown type)."""

    http_status = 400
    code = "invalid_input"


class EntityNotFound(FraudGraphError):
    """No entity with the given (type, key) or id exists in the store."""

    http_status = 404
    code = "entity_not_found"


class LimitExceeded(FraudGraphError):
    """A request asked for more than a configured cap allows."""

    http_status = 413
    code = "limit_exceeded"


class BackendUnavailable(FraudGraphError):
    """The storage backend cannot be reached or is not installed."""

    http_status = 503
    code = "backend_unavailable"


class StoreLocked(FraudGraphError):
    """Another process holds the store's write lock."""

    http_status = 409
    code = "store_locked"


class QueryTimeout(FraudGraphError):
    """A query ran past its timeout and was stopped (by Neo4j or the embedded engine).

    Nothing it would have written is kept. On Neo4j it is raised for the
    ``Neo.ClientError.Transaction.TransactionTimedOut*`` status codes.
    """

    http_status = 504
    code = "query_timeout"


# -- wording of error messages ----------------------------------------------------------


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, whitespace collapsed (a driver's ``message``
    attribute preferred), without Java stack frames (``at ...`` lines): what an error of
    ours quotes from a library's.

    >>> one_line(ValueError("boom:\\n  connection refused\\n\\tat org.Foo(Foo.java:1)"))
    'boom: connection refused'
    >>> one_line(RuntimeError())
    'RuntimeError'
    """
    message = getattr(exc, "message", None) or str(exc)
    kept = [line for line in str(message).splitlines() if line.strip() and not _FRAME.match(line)]
    return " ".join(" ".join(kept).split()) or type(exc).__name__


_FRAME: Final = re.compile(r"\s*at [\w$.<>]+\(")


def mib(n_bytes: int | float) -> str:
    """A byte count in MiB for messages: ``mib(3 * 2**20) == '3.0 MiB'``."""
    return f"{n_bytes / 2**20:,.1f} MiB"


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C that ``exc`` stands for, if it stands for one.

    An engine interrupted mid-query reports it as its own error raised from the
    ``KeyboardInterrupt`` (DuckDB: ``RuntimeError: Query interrupted``), so a run stopped
    with Ctrl-C must look through the chain to be told apart from a failing query.

    >>> interrupt_behind(KeyboardInterrupt()) is not None
    True
    >>> def query() -> None:
    ...     try:
    ...         raise KeyboardInterrupt
    ...     except KeyboardInterrupt as interrupt:
    ...         raise RuntimeError("Query interrupted") from interrupt
    >>> try:
    ...     query()
    ... except RuntimeError as exc:
    ...     interrupt_behind(exc) is not None
    True
    >>> interrupt_behind(ValueError("bad row")) is None
    True
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return link
        seen.add(id(link))
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
    return None
