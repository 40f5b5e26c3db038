"""How our errors quote the ones they wrap: one line, never empty."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_service.errors import interrupt_behind, mib, one_line


class _DriverError(Exception):
    """A driver exception carrying its server message in ``.message``."""

    def __init__(self, message: str) -> None:
        super().__init__("wrapped")
        self.message = message


@given(st.text())
def test_one_line_is_a_single_non_empty_line(text: str) -> None:
    """Whatever the message (blank, multi-line, tabs), the quote is one non-empty line
    without surrounding or repeated whitespace."""
    quoted = one_line(RuntimeError(text))
    assert quoted and "\n" not in quoted and "\r" not in quoted
    assert quoted == " ".join(quoted.split())


def test_one_line_keeps_every_line_but_stack_frames_and_prefers_the_driver_message() -> None:
    """A driver's two-line message keeps its cause (connection refused); Java stack frames
    go; a driver's ``message`` wins over str()."""
    trace = "Procedure call failed:  heap\n\tat org.neo4j.Foo(Foo.java:1)\n"
    assert one_line(RuntimeError(trace)) == "Procedure call failed: heap"
    refused = (
        "Couldn't connect to 127.0.0.1:7687:\nFailed to establish connection (Connection refused)"
    )
    assert one_line(OSError(refused)).endswith("(Connection refused)")
    assert one_line(_DriverError("auth  failed")) == "auth failed"
    assert one_line(KeyError()) == "KeyError"


def test_mib_formats_bytes_with_one_decimal() -> None:
    """Sizes in messages read as MiB with thousands separators."""
    assert mib(3 * 2**20) == "3.0 MiB"
    assert mib(1536 * 2**20) == "1,536.0 MiB"


def test_a_query_stopped_by_ctrl_c_is_told_apart_from_a_failing_one() -> None:
    """DuckDB reports Ctrl-C mid-query as its own RuntimeError raised from the
    KeyboardInterrupt: interrupt_behind finds it; a plain failure, or an error raised
    ``from None`` while handling an interrupt, stands for none."""
    from tests.interrupts import ctrl_c_during_query

    with pytest.raises(RuntimeError) as stopped:
        ctrl_c_during_query()
    assert isinstance(interrupt_behind(stopped.value), KeyboardInterrupt)
    assert interrupt_behind(RuntimeError("Catalog Error: no table")) is None
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("replaced") from None
    except ValueError as replaced:
        assert interrupt_behind(replaced) is None
