"""The shared array and table helpers: distinct ids, 0/1 incidence, column checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from graph_service.errors import InvalidInput
from graph_service.tables import binary_incidence, distinct, require_columns

ids = hnp.arrays(np.int64, st.integers(0, 200), elements=st.integers(-(2**40), 2**40))


@given(ids)
def test_distinct_is_sorted_unique(values: np.ndarray) -> None:
    """Same answer as np.unique on any int64 array, empty included, dtype kept."""
    got = distinct(values)
    assert got.dtype == np.int64
    assert np.array_equal(got, np.unique(values))


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7)), max_size=60),
)
def test_incidence_has_a_one_per_distinct_pair(pairs: list[tuple[int, int]]) -> None:
    """A pair listed any number of times is one cell holding exactly 1."""
    rows = np.array([p[0] for p in pairs], np.int64)
    cols = np.array([p[1] for p in pairs], np.int64)
    matrix = binary_incidence(rows, cols, 6, 8).toarray()
    expected = np.zeros((6, 8))
    expected[rows, cols] = 1.0
    assert np.array_equal(matrix, expected)


def test_incidence_refuses_an_index_out_of_range() -> None:
    """A column beyond the shape is an error, not a silently grown matrix."""
    with pytest.raises(ValueError):
        binary_incidence(np.array([0]), np.array([9]), 1, 3)


def test_require_columns_names_what_is_missing_and_what_is_there() -> None:
    """The message says which table, which columns are missing and which it has."""
    table = pa.table({"id": [1], "score": [0.5]})
    require_columns(table, ("id",), "scores")
    with pytest.raises(InvalidInput, match=r"scores: missing column\(s\) \['risk'\].*'score'"):
        require_columns(table, ("id", "risk"), "scores")


def test_require_columns_refuses_what_is_not_a_table() -> None:
    """A dict or a RecordBatch is not accepted in place of a Table."""
    with pytest.raises(InvalidInput, match=r"scores must be a pyarrow\.Table"):
        require_columns({"id": [1]}, ("id",), "scores")  # type: ignore[arg-type]
