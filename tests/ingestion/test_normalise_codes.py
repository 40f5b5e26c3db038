"""ASN, flag, currency, event-type and label normalisers: examples, one raise per reason,
scalar == vectorised on text and on native arrays, idempotence."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.normalise import InvalidReason, InvalidValue
from ingestion.normalise.codes import (
    ASN_MAX,
    EVENT_TYPE_SYNONYMS,
    FALSE_WORDS,
    LABEL_SYNONYMS,
    TRUE_WORDS,
    normalise_asn,
    normalise_asns,
    normalise_bool,
    normalise_bools,
    normalise_currencies,
    normalise_currency,
    normalise_event_type,
    normalise_event_types,
    normalise_label,
    normalise_labels,
)
from ingestion.schema import EventType
from tests.ingestion.strategies import TEXT, ascii_case_variant, assert_matches

# ---------------------------------------------------------------------------------- ASN


@pytest.mark.parametrize(
    "raw", ["AS13335", "as13335", "AS 13335", "13335", "13335.0", " 13335 ", "ASN13335", "013335"]
)
def test_asn_spellings_give_the_number(raw: str) -> None:
    """Every common spelling of AS13335 is the integer 13335, on both paths."""
    assert normalise_asn(raw) == 13335
    assert normalise_asns(pa.array([raw]))[0].to_pylist() == [13335]


@pytest.mark.parametrize("raw", ["-5", "AS-5", "abc", "13335.5", "4294967296", "AS", "1.10", "1e3"])
def test_asn_invalid_is_bad_type(raw: str) -> None:
    """Negative, fractional, non-numeric and 33-bit values raise InvalidValue(bad_type)."""
    with pytest.raises(InvalidValue) as caught:
        normalise_asn(raw)
    assert caught.value.reason is InvalidReason.BAD_TYPE
    assert normalise_asns(pa.array([raw]))[1].to_pylist() == [True]


ASN_TEXT = st.one_of(
    TEXT,
    st.builds(
        "{}{}{}{}".format,
        st.sampled_from(["", "AS", "as", "As ", "ASN", "AS\t", "A S"]),
        st.sampled_from(["", "0", "00", "-"]),
        st.integers(min_value=0, max_value=2 * ASN_MAX).map(str),
        st.sampled_from(["", ".0", ".00", ".5", ".", " "]),
    ),
)


@settings(deadline=None)
@given(values=st.lists(st.one_of(st.none(), ASN_TEXT), max_size=20))
def test_asns_vectorised_equals_scalar_on_text(values: list[str | None]) -> None:
    """On any text, normalise_asns gives normalise_asn's answer and raise mask."""
    assert_matches(normalise_asn, normalise_asns, values)


@settings(deadline=None)
@given(
    ints=st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), max_size=20),
    floats=st.lists(st.one_of(st.none(), st.floats(-1e11, 1e11), st.integers(0, 9).map(float))),
)
def test_asns_vectorised_equals_scalar_on_numbers(
    ints: list[int | None], floats: list[float | None]
) -> None:
    """Integer and float columns are checked like the scalar checks a Python number."""
    assert_matches(normalise_asn, normalise_asns, ints, pa.int64())
    assert_matches(normalise_asn, normalise_asns, floats, pa.float64())
    assert normalise_asns(pa.array([True, None]))[1].to_pylist() == [True, False]


# -------------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(w, True) for w in ["true", "TRUE", " Yes ", "y", "1", "t", "On"]],
        *[(w, False) for w in ["false", "No", "n", "0", "F", "off"]],
        (True, True),
        (False, False),
        (1, True),
        (0, False),
    ],
)
def test_flag_spellings(raw: Any, expected: bool) -> None:
    """Every accepted spelling of yes and no, native booleans and 0/1 give the flag."""
    assert normalise_bool(raw) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "yess", "0.0", 2, -1, 1.0])
def test_other_flags_are_bad_type(raw: Any) -> None:
    """Anything else, floats included, raises InvalidValue(bad_type)."""
    with pytest.raises(InvalidValue) as caught:
        normalise_bool(raw)
    assert caught.value.reason is InvalidReason.BAD_TYPE


FLAG_TEXT = st.one_of(
    TEXT, st.sampled_from(sorted(TRUE_WORDS | FALSE_WORDS | {"TRUE", " no ", "Off\t", "nope"}))
)


@settings(deadline=None)
@given(
    text=st.lists(st.one_of(st.none(), FLAG_TEXT), max_size=20),
    ints=st.lists(st.one_of(st.none(), st.integers(-2, 3)), max_size=10),
    flags=st.lists(st.one_of(st.none(), st.booleans()), max_size=10),
)
def test_flags_vectorised_equals_scalar(
    text: list[str | None], ints: list[int | None], flags: list[bool | None]
) -> None:
    """Text, integer and boolean columns give the scalar's answers."""
    assert_matches(normalise_bool, normalise_bools, text)
    assert_matches(normalise_bool, normalise_bools, ints, pa.int64())
    assert_matches(normalise_bool, normalise_bools, flags, pa.bool_())
    assert normalise_bools(pa.array([1.0, None]))[1].to_pylist() == [True, False]


# ----------------------------------------------------------------------------- currency


@settings(deadline=None)
@given(values=st.lists(st.one_of(st.none(), TEXT, st.sampled_from(["gbp", " EUR ", "Usd"]))))
def test_currencies_vectorised_equals_scalar(values: list[str | None]) -> None:
    """Three ASCII letters in any case are a code; the paths agree on any text."""
    assert_matches(normalise_currency, normalise_currencies, values)
    assert normalise_currency(" gbp ") == "GBP"


# ---------------------------------------------------------------- event types and labels


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SignUp", "signup"),
        ("sign_up", "signup"),
        ("sign-up", "signup"),
        ("Sign Up", "signup"),
        ("registration", "signup"),
        ("account_opening", "signup"),
        ("LOGIN", "login"),
        ("log_in", "login"),
        ("logon", "login"),
        ("purchase", "payment"),
        ("card_payment", "payment"),
        ("p2p", "transfer"),
        ("wire", "transfer"),
        ("bank_transfer", "transfer"),
    ],
)
def test_event_type_spellings_and_synonyms(raw: str, expected: str) -> None:
    """Case and separators are ignored; the synonym map names the four event types."""
    assert normalise_event_type(raw) == expected
    assert normalise_event_types(pa.array([raw]))[0].to_pylist() == [expected]


def test_every_synonym_names_an_event_type_and_unknown_is_rejected() -> None:
    """The map's targets are event types; an unknown name is unknown_event_type."""
    assert set(EVENT_TYPE_SYNONYMS.values()) == {t.value for t in EventType}
    with pytest.raises(InvalidValue) as caught:
        normalise_event_type("teleport")
    assert caught.value.reason is InvalidReason.EVENT_TYPE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(w, "fraud") for w in ["fraud", "FRAUD", "confirmed_fraud", "Chargeback", "SAR", "1"]],
        *[(w, "fraud") for w in ["true", "Confirmed Fraud"]],
        *[(w, "legit") for w in ["legit", "Genuine", "not_fraud", "NOT-FRAUD", "0", "false"]],
    ],
)
def test_label_spellings(raw: str, expected: str) -> None:
    """Bank label spellings read as fraud or legit; unknown ones are unknown_label."""
    assert normalise_label(raw) == expected
    with pytest.raises(InvalidValue) as caught:
        normalise_label("maybe")
    assert caught.value.reason is InvalidReason.LABEL


NAME_TEXT = st.one_of(
    TEXT,
    st.builds(
        ascii_case_variant,
        st.sampled_from(sorted(EVENT_TYPE_SYNONYMS) + sorted(LABEL_SYNONYMS)),
        st.lists(st.booleans()),
    ),
    st.lists(st.sampled_from(["sign", "up", "_", "-", ".", " ", "LOG", "in", "\u3000"])).map(
        "".join
    ),
)


@settings(deadline=None)
@given(values=st.lists(st.one_of(st.none(), NAME_TEXT), max_size=20))
def test_names_vectorised_equal_scalar_and_are_idempotent(values: list[str | None]) -> None:
    """Event types and labels: both paths agree on any text; a result maps to itself."""
    assert_matches(normalise_event_type, normalise_event_types, values)
    assert_matches(normalise_label, normalise_labels, values)
    for value in values:
        for scalar in (normalise_event_type, normalise_label):
            try:
                once = scalar(value)
            except InvalidValue:
                continue
            assert scalar(once) == once


def test_labels_read_native_flags_and_integers() -> None:
    """A boolean or 0/1 label column reads as fraud/legit."""
    assert normalise_labels(pa.array([True, False, None]))[0].to_pylist() == [
        "fraud",
        "legit",
        None,
    ]
    assert normalise_labels(pa.array([1, 0, 7]))[1].to_pylist() == [False, False, True]
