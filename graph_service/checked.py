"""The public face both backends share: methods that check their arguments once, then
call the backend's hook.

A backend implements the ``_hooks`` (``_write_scores``, ``_write_table``, ``_add_labels``...)
and inherits the public methods of the ``GraphStore`` protocol from here, so every
argument rule (shapes, table names, versions, label entries) is written and tested once,
and a hook receives arguments already checked and normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pyarrow as pa

from graph_service.analytics_tables import check_table_name, check_version, prepare_table
from graph_service.errors import InvalidInput
from graph_service.labels import LabelEntry, checked_label_entries
from graph_service.model import NodeType
from graph_service.typing import F64, I64

__all__ = ["CheckedAnalytics", "CheckedLabels"]


class CheckedAnalytics:
    """``write_scores``, ``read_scores`` and the analytics tables (see ``AnalyticsStore``)."""

    def write_scores(self, name: str, ids: np.ndarray, values: np.ndarray, *, version: str) -> None:
        """Replace score ``name`` for ``ids`` with ``values`` in one transaction.

        Raises
        ------
        InvalidInput
            If ``ids`` and ``values`` differ in shape.
        """
        ids = np.asarray(ids, np.int64)
        values = np.asarray(values, np.float64)
        if ids.shape != values.shape:
            raise InvalidInput(f"ids {ids.shape} and values {values.shape} differ in shape")
        self._write_scores(name, ids, values, version)

    def read_scores(self, name: str, ids: Sequence[int] | None = None) -> pa.Table:
        """Score ``name`` as ``(entity_id, value, version)`` ordered by entity id."""
        return self._read_scores(name, ids)

    def write_table(self, name: str, table: pa.Table, *, version: str) -> None:
        """Store ``table`` as version ``version`` of analytics table ``name``, atomically.

        Raises
        ------
        InvalidInput
            For a bad name, version, column name or column type.
        """
        check_table_name(name)
        check_version(version)
        self._write_table(name, prepare_table(table), version)

    def read_table(self, name: str, *, version: str | None = None) -> pa.Table:
        """One version (default: the latest written) of analytics table ``name``.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table or the version does not exist.
        """
        check_table_name(name)
        if version is not None:
            check_version(version)
        return self._read_table(name, version)

    def table_versions(self, name: str) -> list[str]:
        """Versions of analytics table ``name``, oldest written first (empty if none).

        Raises
        ------
        InvalidInput
            For a bad name.
        """
        check_table_name(name)
        return self._table_versions(name)

    def drop_table_version(self, name: str, version: str) -> None:
        """Delete version ``version`` of analytics table ``name``, atomically.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table has no such version.
        """
        check_table_name(name)
        check_version(version)
        self._drop_table_version(name, version)

    # -- hooks -----------------------------------------------------------------------------
    def _write_scores(self, name: str, ids: I64, values: F64, version: str) -> None:
        raise NotImplementedError

    def _read_scores(self, name: str, ids: Sequence[int] | None) -> pa.Table:
        raise NotImplementedError

    def _write_table(self, name: str, data: pa.Table, version: str) -> None:
        """``data`` is already through ``prepare_table``."""
        raise NotImplementedError

    def _read_table(self, name: str, version: str | None) -> pa.Table:
        raise NotImplementedError

    def _table_versions(self, name: str) -> list[str]:
        raise NotImplementedError

    def _drop_table_version(self, name: str, version: str) -> None:
        raise NotImplementedError


class CheckedLabels:
    """``add_label`` and ``add_labels`` (see ``LabelBook``)."""

    def add_label(
        self,
        node_type: NodeType,
        key: str,
        *,
        label: Literal["fraud", "legit"],
        source: str,
        author: str | None,
        reason: str | None,
        ts: datetime | None = None,
    ) -> None:
        """Append one label (investigator feedback): :meth:`add_labels` of one entry."""
        self.add_labels([LabelEntry(node_type, key, label, source, author, reason, ts)])

    def add_labels(self, entries: Sequence[LabelEntry]) -> None:
        """Append labels in one transaction: all of them or, on error, none.

        Raises
        ------
        InvalidInput
            For a bad entry (nothing is written).
        """
        checked = checked_label_entries(entries, now=datetime.now(UTC))
        if checked:
            self._add_labels(checked)

    def _add_labels(self, entries: list[LabelEntry]) -> None:
        """``entries`` checked, each with its ``ts``; never empty."""
        raise NotImplementedError
