"""Country normaliser: every ISO code and name round-trips, scalar == vectorised."""

from __future__ import annotations

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.geodata.locale import LOCALE_DATA

from ingestion.normalise import InvalidReason, InvalidValue
from ingestion.normalise.countries import (
    COUNTRIES,
    COUNTRY_INDEX,
    Country,
    normalise_countries,
    normalise_country,
)
from tests.ingestion.strategies import TEXT, ascii_case_variant, assert_matches

CODES = sorted(c.alpha2 for c in COUNTRIES)
#: Regions phonenumbers knows that ISO 3166-1 does not list as countries (Ascension and
#: Tristan da Cunha are parts of SH).
NOT_ISO = {"AC", "TA"}


def _english_name(region: str) -> str | None:
    """The CLDR English short name phonenumbers ships for a region."""
    names = LOCALE_DATA.get(region, {})
    name = names.get("en")
    while name is not None and name.startswith("*"):
        name = names.get(name[1:])
    return name


def test_table_covers_every_phonenumbers_region() -> None:
    """Every region phonenumbers reads numbers in is in the table (phones use the country)."""
    assert set(phonenumbers.SUPPORTED_REGIONS) - NOT_ISO <= set(CODES)


def test_table_matches_the_iso_list() -> None:
    """The table holds the 249 ISO 3166-1 entries plus Kosovo, each code once, and
    agrees with the ISO list shipped in the time-zone database when it is installed."""
    assert len(CODES) == len(set(CODES)) == 250
    alpha3 = [c.alpha3 for c in COUNTRIES]
    assert len(alpha3) == len(set(alpha3))
    assert all(len(c.alpha2) == 2 and len(c.alpha3) == 3 for c in COUNTRIES)
    pytz = pytest.importorskip("pytz")
    assert set(pytz.country_names) == set(CODES) - {"XK"}


@pytest.mark.parametrize("country", COUNTRIES, ids=lambda c: c.alpha2)
def test_every_code_and_name_maps_to_the_alpha2_code(country: Country) -> None:
    """Alpha-2, alpha-3, the English short name and every alias, in any case, give the code."""
    spellings = [country.alpha2, country.alpha3, country.name, *country.aliases]
    variants = [v for s in spellings for v in (s, s.lower(), s.upper(), f"  {s}\t")]
    expected = country.alpha2
    assert {normalise_country(v) for v in variants} == {expected}
    codes, invalid = normalise_countries(pa.array(variants))
    assert set(codes.to_pylist()) == {expected}
    assert not any(invalid.to_pylist())


@pytest.mark.parametrize("region", sorted(set(phonenumbers.SUPPORTED_REGIONS) - NOT_ISO))
def test_cldr_english_names_map_to_their_region(region: str) -> None:
    """The English name the CLDR data (shipped with phonenumbers) gives a region maps to it."""
    name = _english_name(region)
    if name is None:
        pytest.skip(f"no English name for {region}")
    assert normalise_country(name) == region


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("US", "US"),
        ("usa", "US"),
        ("U.S.", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("the united states", "US"),
        ("UK", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("india", "IN"),
        ("The Netherlands", "NL"),
        ("Holland", "NL"),
        ("St. Lucia", "LC"),
        ("Saint Kitts & Nevis", "KN"),
        ("Korea, Republic of", "KR"),
        ("Cote d'Ivoire", "CI"),
        ("CÔTE D’IVOIRE", "CI"),
        ("Curacao", "CW"),
        ("Türkiye", "TR"),
        ("Bosnia-Herzegovina", None),
        ("Guinea-Bissau", "GW"),
    ],
)
def test_country_examples(raw: str, expected: str | None) -> None:
    """Codes, names and short forms with punctuation and case variants give ISO alpha-2."""
    if expected is None:
        with pytest.raises(InvalidValue):
            normalise_country(raw)
    else:
        assert normalise_country(raw) == expected


@pytest.mark.parametrize("raw", ["Atlantis", "EU", "XX", "U S", "12", "G B R"])
def test_unknown_country_is_bad_value(raw: str) -> None:
    """A value naming no country raises InvalidValue(bad_value) without the value in it."""
    with pytest.raises(InvalidValue) as caught:
        normalise_country(raw)
    assert caught.value.reason is InvalidReason.BAD_VALUE
    assert raw not in str(caught.value)


COUNTRY_TEXT = st.one_of(
    TEXT,
    st.lists(
        st.sampled_from(
            [" ", ".", ",", "&", "-", "'", "’", "the ", "The ", "U", "S", "A", "K", "St", "Saint",
             "United", "States", "Kingdom", "of", "America", "and", "Nevis", "Kitts", "gb", "ß"]
        ),
        max_size=8,
    ).map("".join),
    st.sampled_from(sorted(COUNTRY_INDEX)),
)  # fmt: skip


@settings(deadline=None)
@given(values=st.lists(st.one_of(st.none(), COUNTRY_TEXT), max_size=20))
def test_countries_vectorised_equals_scalar(values: list[str | None]) -> None:
    """On any text, normalise_countries gives normalise_country's answer and raise mask."""
    assert_matches(normalise_country, normalise_countries, values)


@settings(deadline=None)
@given(raw=COUNTRY_TEXT, flips=st.lists(st.booleans()))
def test_country_is_idempotent_and_case_blind(raw: str, flips: list[bool]) -> None:
    """A code normalises to itself, and ASCII case never changes the answer."""
    try:
        code = normalise_country(raw)
    except InvalidValue:
        return
    assert normalise_country(code) == code
    assert normalise_country(ascii_case_variant(raw, flips)) == code
