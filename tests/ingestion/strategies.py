"""Hypothesis strategies and checks shared by the normaliser tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from ingestion.normalise import WHITESPACE, InvalidValue

SURROUNDING_WHITESPACE = st.text(alphabet=WHITESPACE, max_size=3)

#: Pieces that make the normalisers' branches likely: separators, '@', domains,
#: address words, phone and IP fragments, non-ASCII letters with case mappings.
FRAGMENTS = st.sampled_from(
    [
        " ", "\t", "\n", "\u00a0", "\u3000", "\u2029", "\u200b", "\ufeff", "\x1c", "\x85",
        "@", "+", ".", "-", ",", "#", "(", ")", ":", "%",
        "gmail.com", "GoogleMail.COM", "outlook.com", "example.org", "j", "John",
        "STREET", "street", "Road", "Apartment", "flat",
        "0", "07911", "123456", "+44", "1", "255", "192.168.0.1", "::ffff:", "2001:DB8::", "ff",
        "ß", "İ", "Σ", "ﬁ", "é",
    ]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=2)), max_size=8).map("".join),
)
TEXT_LISTS = st.lists(st.one_of(st.none(), TEXT), max_size=20)


def ascii_case_variant(text: str, flips: list[bool]) -> str:
    """Swap the case of the ASCII letters of ``text`` where ``flips`` says so."""
    return "".join(
        ch.swapcase() if ch.isascii() and flip else ch
        for ch, flip in zip(text, flips + [False] * len(text), strict=False)
    )


def outcome(scalar: Callable[[Any], Any], raw: Any) -> tuple[Any, bool]:
    """The scalar normaliser's answer as (normalised, invalid)."""
    try:
        return scalar(raw), False
    except InvalidValue:
        return None, True


def assert_matches(
    scalar: Callable[[Any], Any],
    vectorised: Callable[[pa.Array], tuple[pa.Array, pa.Array]],
    values: list[Any],
    array_type: pa.DataType | None = None,
) -> None:
    """The vectorised normaliser gives the scalar one's answer and raise mask everywhere.

    ``values`` are passed as a string array unless ``array_type`` says otherwise.
    """
    normalised, invalid = vectorised(pa.array(values, array_type or pa.string()))
    expected = [outcome(scalar, value) for value in values]
    assert invalid.type == pa.bool_()
    assert invalid.null_count == 0
    assert normalised.to_pylist() == [value for value, _ in expected]
    assert invalid.to_pylist() == [bad for _, bad in expected]
