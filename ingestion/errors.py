"""Errors of ingestion's own, beside the shared hierarchy of ``graph_service.errors``."""

from __future__ import annotations

from graph_service.errors import InvalidInput

__all__ = ["TruncatedFile"]


class TruncatedFile(InvalidInput):
    """A file of the right format whose end is missing (e.g. a copy cut short)."""

    code = "truncated_file"
