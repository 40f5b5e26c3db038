"""Postal address standardisation (USPS Publication 28): the tables round-trip, unit
designators collapse, states become codes, ZIP+4 becomes ZIP, normalising twice changes
nothing, and the vectorised path equals the scalar one on address-like text."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.normalise.address import (
    ADDRESS_WORDS,
    STATE_INDEX,
    normalise_address,
    normalise_addresses,
)
from ingestion.normalise.usps import (
    DIRECTIONALS,
    STATE_ABBREVIATIONS,
    STATES,
    STREET_SUFFIXES,
)
from tests.ingestion.strategies import TEXT, ascii_case_variant, assert_matches


def both(raw: str) -> str | None:
    """The scalar answer, after checking the vectorised path gives the same."""
    expected = normalise_address(raw)
    assert normalise_addresses(pa.array([raw]))[0].to_pylist() == [expected]
    return expected


def test_the_same_unit_written_two_ways_is_one_address() -> None:
    """Suffix, unit designator, state name and ZIP+4 variants of one address are equal."""
    first = both("67 JUNIPER DRIVE, #103, SANTA FE, NEW MEXICO 87158")
    second = both("67 Juniper Dr Apt 103, Santa Fe, NM 87158-1234")
    assert first == second == "67 JUNIPER DR UNIT 103 SANTA FE NM 87158"


@pytest.mark.parametrize(
    "unit",
    ["#103", "# 103", "APT 103", "Apt. 103", "apartment 103", "UNIT 103", "STE 103",
     "Suite 103", "No. 103", "Number 103", "Flat 103", "APT #103", "APT103", "Ste.103"],
)  # fmt: skip
def test_every_unit_designator_is_one_designator(unit: str) -> None:
    """#, APT, APARTMENT, UNIT, STE, SUITE, NO, NUMBER and FLAT before a unit number are
    the same unit; '#103' splits into designator and number."""
    assert both(f"12 Main Street {unit}, Springfield, IL 62701") == (
        "12 MAIN ST UNIT 103 SPRINGFIELD IL 62701"
    )


def test_designator_without_a_number_stays_a_word() -> None:
    """Ste. Genevieve is a town, not a suite; a bare '#' is punctuation."""
    assert both("1 Main St, Ste. Genevieve, MO 63670") == "1 MAIN ST STE GENEVIEVE MO 63670"
    assert both("1 Main St #") == "1 MAIN ST"
    assert both("Apt B, 3 Elm Ave") == "UNIT B 3 ELM AVE"


@pytest.mark.parametrize(
    ("standard", "spelling"),
    [(s, v) for s, spellings in STREET_SUFFIXES.items() for v in (s, *spellings)],
)
def test_every_pub28_suffix_maps_to_its_abbreviation(standard: str, spelling: str) -> None:
    """Every Appendix C1 spelling, in any case, becomes the standard abbreviation."""
    assert both(f"12 Main {spelling.title()}, Springfield") == f"12 MAIN {standard} SPRINGFIELD"


@pytest.mark.parametrize(("word", "short"), sorted(DIRECTIONALS.items()))
def test_directionals_in_prefix_and_suffix_position(word: str, short: str) -> None:
    """Directionals take their short form before and after the street name."""
    assert both(f"9 {word.title()} Main St {word.lower()}") == f"9 {short} MAIN ST {short}"


def test_split_directional_joins() -> None:
    """N.E. and North East are NE."""
    assert both("1 Capitol St N.E.") == both("1 Capitol St North East") == "1 CAPITOL ST NE"


@pytest.mark.parametrize(("name", "code"), sorted({**STATES, **STATE_ABBREVIATIONS}.items()))
def test_any_state_name_becomes_its_code(name: str, code: str) -> None:
    """A state, territory or traditional abbreviation before the ZIP (or at the end),
    dotted or not, with ZIP+4 and a trailing country, becomes the two-letter code."""
    for written in (name, name.title(), name.lower().replace(" ", ". ", 1)):
        assert both(f"1 Oak Ln, Springfield, {written} 12345-6789") == (
            f"1 OAK LN SPRINGFIELD {code} 12345"
        )
        assert both(f"1 Oak Ln, Springfield, {written} 12345, USA") == (
            f"1 OAK LN SPRINGFIELD {code} 12345"
        )
        assert both(f"1 Oak Ln, Springfield, {written}") == f"1 OAK LN SPRINGFIELD {code}"
    dotted = ".".join(code) + "."
    assert both(f"1 Oak Ln, Springfield, {dotted} 12345") == f"1 OAK LN SPRINGFIELD {code} 12345"
    # A state written alone (nothing before it) is the state, not a directional and the
    # rest: WEST VIRGINIA is WV, never W VA.
    assert both(name) == code
    assert both(f"{name} 12345") == f"{code} 12345"


@pytest.mark.parametrize(
    "raw",
    [
        "1 Oak Ln, Raleigh, N. Carolina 27601",
        "1 Oak Lane, Raleigh, North Carolina 27601-1234",
        "1 OAK LN RALEIGH NC 27601 USA",
        "1 Oak Ln., Raleigh, N.C. 27601, United States of America",
    ],
)
def test_abbreviated_and_dotted_state_forms(raw: str) -> None:
    """N. Carolina, North Carolina, NC and N.C. are one state; ZIP+4 and a trailing
    country do not make a difference."""
    assert both(raw) == "1 OAK LN RALEIGH NC 27601"


def test_wy_is_wyoming_where_a_state_stands_and_way_elsewhere() -> None:
    """WY is Wyoming where a state stands (last, or before the ZIP or the country) and
    Pub 28's spelling of WAY anywhere else, so a street spelled WY and WAY is one
    address and Wyoming stays Wyoming."""
    assert both("1 Elm Way, Cheyenne, WY 82001") == both("1 Elm Way, Cheyenne, Wyoming 82001")
    assert both("1 Elm Way, Cheyenne, WY 82001") == "1 ELM WAY CHEYENNE WY 82001"
    assert both("1 Elm Wy, Cheyenne, WY 82001-1234, USA") == "1 ELM WAY CHEYENNE WY 82001"
    assert both("1 Elm Way, Cheyenne, WY") == "1 ELM WAY CHEYENNE WY"
    assert both("7539 Greenwood Wy Unit 1511, Austin, TX 78795") == both(
        "7539 GREENWOOD WAY #1511 AUSTIN TX 78795"
    )
    assert both("5 Kings Wy N") == "5 KINGS WAY N"


def test_court_and_trail_spellings_feeds_use_beyond_pub_28() -> None:
    """CRT (court) and TR (trail) are not in C1 but common in feeds: one address each."""
    assert both("4 Elm Crt, Dover, DE 19901") == both("4 ELM COURT DOVER DE 19901")
    assert both("8728 Dogwood Tr, Tucson, AZ 85762") == "8728 DOGWOOD TRL TUCSON AZ 85762"


def test_tables_are_fixed_points() -> None:
    """Every standard form maps to itself, and no state code is rewritten by the word map,
    which is what makes normalising twice change nothing."""
    assert all(ADDRESS_WORDS.get(v, v) == v for v in ADDRESS_WORDS.values())
    assert all(ADDRESS_WORDS.get(code, code) == code for code in STATE_INDEX.values())


ADDRESS_FRAGMENTS = st.sampled_from(
    [" ", ",", ".", "#", "-", "\t", "\u00a0", "12", "103", "103B", "B", "E", "N", "S", "W",
     "NE", "NORTH", "north", "EAST", "West", "N.E.", "APT", "Apt.", "apartment", "STE", "Suite",
     "UNIT", "NO", "No.", "Number", "FLAT", "FLT", "APT103", "#5", "STREET", "St", "Dr",
     "DRIVE", "AV", "Court", "KEY", "WY", "WAY", "NEW", "MEXICO", "NEW MEXICO", "NM", "N M",
     "VIRGINIA", "WEST VIRGINIA", "W VA", "Rhode Island", "D.C.", "87158", "87158-1234",
     "12345-678", "USA", "U.S.A.", "US", "United States", "of America", "Calif.", "SANTA FE",
     "é", "ß", "ﬁ"]
)  # fmt: skip
ADDRESS_TEXT = st.one_of(
    TEXT,
    st.lists(st.one_of(ADDRESS_FRAGMENTS, st.just(" ")), max_size=14).map(" ".join),
    st.lists(ADDRESS_FRAGMENTS, max_size=10).map("".join),
)


@settings(deadline=None, max_examples=300)
@given(values=st.lists(st.one_of(st.none(), ADDRESS_TEXT), max_size=20))
def test_vectorised_equals_scalar_on_address_text(values: list[str | None]) -> None:
    """On address-like and arbitrary text, the kernels give the scalar reference's result."""
    assert_matches(normalise_address, normalise_addresses, values)


@settings(deadline=None, max_examples=300)
@given(raw=ADDRESS_TEXT, flips=st.lists(st.booleans()))
def test_normalising_twice_changes_nothing(raw: str, flips: list[bool]) -> None:
    """normalise(normalise(x)) == normalise(x), and ASCII case never matters."""
    once = normalise_address(raw)
    assert normalise_address(once) == once
    assert normalise_address(ascii_case_variant(raw, flips)) == once
