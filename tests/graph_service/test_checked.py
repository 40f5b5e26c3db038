"""The shared public methods check arguments once; a backend's hook only sees good ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from graph_service.checked import CheckedAnalytics, CheckedLabels
from graph_service.errors import InvalidInput
from graph_service.labels import LabelEntry
from graph_service.model import NodeType


class _Recorder(CheckedAnalytics, CheckedLabels):
    """A backend whose hooks only record what reached them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def _write_scores(self, name: str, ids: Any, values: Any, version: str) -> None:
        self.calls.append(("write_scores", (name, ids.dtype, values.dtype, version)))

    def _read_scores(self, name: str, ids: Sequence[int] | None) -> pa.Table:
        self.calls.append(("read_scores", name))
        return pa.table({})

    def _write_table(self, name: str, data: pa.Table, version: str) -> None:
        self.calls.append(("write_table", (name, data.schema, version)))

    def _read_table(self, name: str, version: str | None) -> pa.Table:
        self.calls.append(("read_table", (name, version)))
        return pa.table({})

    def _table_versions(self, name: str) -> list[str]:
        return []

    def _drop_table_version(self, name: str, version: str) -> None:
        self.calls.append(("drop", (name, version)))

    def _add_labels(self, entries: list[LabelEntry]) -> None:
        self.calls.append(("add_labels", [e.ts is not None for e in entries]))


def test_bad_arguments_never_reach_a_hook() -> None:
    """Shape mismatch, bad table names and versions, bad label entries: InvalidInput, and
    the hook was not called."""
    store = _Recorder()
    with pytest.raises(InvalidInput, match="differ in shape"):
        store.write_scores("risk", np.arange(3), np.zeros(2), version="v1")
    with pytest.raises(InvalidInput):
        store.write_table("Bad Name", pa.table({"a": [1]}), version="v1")
    with pytest.raises(InvalidInput):
        store.read_table("rings", version="bad version!")
    with pytest.raises(InvalidInput):
        store.drop_table_version("_reserved", "v1")
    with pytest.raises(InvalidInput):
        store.add_labels([LabelEntry(NodeType.ACCOUNT, "A1", "maybe", "api")])
    assert store.calls == []


def test_hooks_get_normalised_arguments() -> None:
    """Scores arrive as int64/float64, tables dictionary-decoded, labels each with a time;
    an empty label batch calls nothing."""
    store = _Recorder()
    store.write_scores("risk", [1, 2], [0.5, 1], version="v1")  # type: ignore[arg-type]
    words = pa.array(["a", "b", "a"]).dictionary_encode()
    store.write_table("rings", pa.table({"word": words}), version="run-1")
    store.add_labels([])
    store.add_label(NodeType.ACCOUNT, "A1", label="fraud", source="api", author=None, reason=None)
    (scores, table, labels) = store.calls
    assert scores == ("write_scores", ("risk", np.dtype(np.int64), np.dtype(np.float64), "v1"))
    assert table[1][1].field("word").type == pa.string()
    assert labels == ("add_labels", [True])
