"""Identifier normalisers: known answers, one raise per reason, properties, scalar == vectorised."""

from __future__ import annotations

import doctest
import ipaddress
from collections.abc import Callable
from typing import Any

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingestion import normalise
from ingestion.normalise import (
    WHITESPACE,
    EmailRules,
    InvalidReason,
    InvalidValue,
    _shared,
    address,
    codes,
    countries,
    identifiers,
    normalise_address,
    normalise_addresses,
    normalise_email,
    normalise_emails,
    normalise_ip,
    normalise_ips,
    normalise_key,
    normalise_keys,
    normalise_phone,
    normalise_phones,
    phone,
    timestamps,
)
from tests.ingestion.strategies import (
    SURROUNDING_WHITESPACE,
    TEXT,
    TEXT_LISTS,
    ascii_case_variant,
    assert_matches,
    outcome,
)

Scalar = Callable[[str | None], str | None]
Vectorised = Callable[[pa.Array], tuple[pa.Array, pa.Array]]

#: (name, scalar, vectorised) for every normaliser, with default options.
NORMALISERS: list[tuple[str, Scalar, Vectorised]] = [
    ("key", normalise_key, normalise_keys),
    ("email", normalise_email, normalise_emails),
    ("phone", normalise_phone, normalise_phones),
    ("ip", normalise_ip, normalise_ips),
    ("address", normalise_address, normalise_addresses),
]

NAMES = [name for name, _, _ in NORMALISERS]
SCALARS = {name: scalar for name, scalar, _ in NORMALISERS}

# Phone metadata loads lazily per region, so a first example can be slow.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------- strategies

PHONE_REGIONS = ["GB", "US", "DE", "FR", "IN", "AU", "IE", "NG", "NL", "BR", "JP"]


@st.composite
def valid_phone_numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    """A region and a valid number in it: an example number with new last digits."""
    region = draw(st.sampled_from(PHONE_REGIONS))
    kind = draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
    )
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = str(example.national_number)
    national = national[:-3] + draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    number = phonenumbers.parse(f"+{example.country_code}{national}")
    assume(phonenumbers.is_valid_number(number))
    return region, number


#: Per normaliser, inputs that are mostly valid (for properties of valid values).
MOSTLY_VALID: dict[str, st.SearchStrategy[str]] = {
    "key": TEXT,
    "email": st.emails(),
    "phone": valid_phone_numbers().map(
        lambda pair: phonenumbers.format_number(
            pair[1], phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    ),
    "ip": st.ip_addresses().map(str),
    "address": TEXT,
}


def assert_vectorised_matches_scalar(
    scalar: Scalar, vectorised: Vectorised, values: list[str | None]
) -> None:
    """The vectorised normaliser gives the scalar one's answer for every element."""
    assert vectorised(pa.array(values, pa.string()))[0].type == pa.string()
    assert_matches(scalar, vectorised, values)


# ------------------------------------------------------------------ all normalisers


@pytest.mark.parametrize(("name", "scalar", "vectorised"), NORMALISERS, ids=NAMES)
@PROPERTY
@given(values=TEXT_LISTS)
def test_vectorised_equals_scalar_on_arbitrary_text(
    name: str, scalar: Scalar, vectorised: Vectorised, values: list[str | None]
) -> None:
    """On any text, each vectorised normaliser returns the scalar result and raise mask."""
    assert_vectorised_matches_scalar(scalar, vectorised, values)


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_normalising_twice_changes_nothing(name: str, data: st.DataObject) -> None:
    """normalise(normalise(x)) == normalise(x) for every x that normalises."""
    scalar = SCALARS[name]
    raw = data.draw(st.one_of(MOSTLY_VALID[name], TEXT))
    once, invalid = outcome(scalar, raw)
    assume(not invalid)
    assert scalar(once) == once


@pytest.mark.parametrize(("name", "scalar", "vectorised"), NORMALISERS, ids=NAMES)
@pytest.mark.parametrize("raw", [None, "", " ", "\t\u00a0\u3000\u200b\ufeff\n"])
def test_none_and_blank_are_absent_not_invalid(
    name: str, scalar: Scalar, vectorised: Vectorised, raw: str | None
) -> None:
    """None and whitespace-only input give None (scalar) and null, not invalid (vectorised)."""
    assert scalar(raw) is None
    normalised, invalid = vectorised(pa.array([raw], pa.string()))
    assert normalised.to_pylist() == [None]
    assert invalid.to_pylist() == [False]


@pytest.mark.parametrize(("name", "scalar", "vectorised"), NORMALISERS, ids=NAMES)
def test_vectorised_accepts_large_dictionary_chunked_and_null_arrays(
    name: str, scalar: Scalar, vectorised: Vectorised
) -> None:
    """large_string keeps its type; dictionary, chunked and all-null input are accepted."""
    raw = [" 10.0.0.1 ", None, "12 Baker Street", "a@b.com", "07911 123456", " 10.0.0.1 "]
    expected = [outcome(scalar, value)[0] for value in raw]
    large, _ = vectorised(pa.array(raw, pa.large_string()))
    assert large.type == pa.large_string()
    assert large.to_pylist() == expected
    assert vectorised(pa.array(raw).dictionary_encode())[0].to_pylist() == expected
    assert vectorised(pa.chunked_array([raw[:2], raw[2:]]))[0].to_pylist() == expected
    normalised, invalid = vectorised(pa.nulls(3))
    assert normalised.to_pylist() == [None] * 3
    assert invalid.to_pylist() == [False] * 3


@pytest.mark.parametrize(("name", "scalar", "vectorised"), NORMALISERS, ids=NAMES)
def test_vectorised_rejects_non_string_arrays(
    name: str, scalar: Scalar, vectorised: Vectorised
) -> None:
    """A non-string array raises TypeError instead of being coerced."""
    with pytest.raises(TypeError, match="expected a string array"):
        vectorised(pa.array([1, 2]))


def test_whitespace_is_python_isspace_plus_zero_width() -> None:
    """WHITESPACE is exactly str.isspace plus U+200B and U+FEFF."""
    isspace = {chr(code) for code in range(0x110000) if chr(code).isspace()}
    assert set(WHITESPACE) == isspace | {"\u200b", "\ufeff"}
    assert len(WHITESPACE) == len(set(WHITESPACE))


@pytest.mark.parametrize(
    "module",
    [normalise, _shared, address, codes, countries, identifiers, phone, timestamps],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module: Any) -> None:
    """Every docstring example in the normaliser modules gives the output it shows."""
    result = doctest.testmod(module)
    assert result.failed == 0


# ----------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("acc-1", "acc-1"), ("  acc-1\t", "acc-1"), ("\ufeffD 1\u3000", "D 1"), ("\u200b", None)],
)
def test_key_examples(raw: str, expected: str | None) -> None:
    """Keys lose surrounding (Unicode) whitespace and keep everything inside."""
    assert normalise_key(raw) == expected


@PROPERTY
@given(raw=TEXT)
def test_key_never_has_surrounding_whitespace(raw: str) -> None:
    """A normalised key neither starts nor ends with whitespace and is never empty."""
    key = normalise_key(raw)
    assume(key is not None)
    assert key
    assert key[0] not in WHITESPACE
    assert key[-1] not in WHITESPACE


# ---------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" J.Smith+promo@GoogleMail.com ", "jsmith@gmail.com"),
        ("j.s.m.i.t.h@gmail.com", "jsmith@gmail.com"),
        ("John.Doe+work@Outlook.com", "john.doe@outlook.com"),
        ("a.b+c@hotmail.com", "a.b@hotmail.com"),
        ("a.b-c+d@yahoo.com", "a.b-c+d@yahoo.com"),
        ("USER+x@Example.ORG", "user+x@example.org"),
        ("+only-tag@example.org", "+only-tag@example.org"),
        ("Ünïcode@Example.org", "Ünïcode@example.org"),
    ],
)
def test_email_examples(raw: str, expected: str) -> None:
    """Emails are lower-cased; Gmail drops dots and +tag; subaddress providers drop +tag."""
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "no-at-sign.example.com",
        "two@at@example.com",
        "@example.com",
        "user@",
        "user@localhost",
        "user@example..com",
        "user@.example.com",
        "user@example.com.",
        "us er@example.com",
        "user@exa\u00a0mple.com",
        "...@gmail.com",
        "+tag@gmail.com",
    ],
)
def test_email_invalid_raises_invalid_email(raw: str) -> None:
    """Malformed addresses raise InvalidValue with reason invalid_email."""
    with pytest.raises(InvalidValue) as caught:
        normalise_email(raw)
    assert caught.value.reason is InvalidReason.EMAIL
    assert raw not in str(caught.value)


@PROPERTY
@given(
    email=st.emails(),
    before=SURROUNDING_WHITESPACE,
    after=SURROUNDING_WHITESPACE,
    flips=st.lists(st.booleans()),
)
def test_email_ignores_surrounding_whitespace_and_case(
    email: str, before: str, after: str, flips: list[bool]
) -> None:
    """Surrounding whitespace and ASCII letter case never change the normalised email."""
    expected, invalid = outcome(normalise_email, email)
    assume(not invalid)
    assert normalise_email(before + ascii_case_variant(email, flips) + after) == expected


@PROPERTY
@given(
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
    dots=st.lists(st.booleans(), max_size=12),
    tag=st.one_of(st.just(""), st.text(alphabet="abcxyz.-+_", max_size=6).map("+{}".format)),
    domain=st.sampled_from(["gmail.com", "googlemail.com", "GMail.com", "GOOGLEMAIL.COM"]),
    flips=st.lists(st.booleans()),
)
def test_gmail_dot_and_tag_variants_collapse(
    user: str, dots: list[bool], tag: str, domain: str, flips: list[bool]
) -> None:
    """Every dotted, tagged, re-cased gmail/googlemail spelling maps to user@gmail.com."""
    dotted = "".join(ch + ("." if dot else "") for ch, dot in zip(user, dots, strict=False))
    dotted += user[len(dots) :]
    raw = ascii_case_variant(f"{dotted}{tag}@{domain}", flips)
    assert normalise_email(raw) == f"{user}@gmail.com"
    assert normalise_emails(pa.array([raw]))[0].to_pylist() == [f"{user}@gmail.com"]


@PROPERTY
@given(values=TEXT_LISTS)
def test_email_rules_are_configurable(values: list[str | None]) -> None:
    """Custom EmailRules apply to both paths: aliasing, tag dropping and dot removal."""
    rules = EmailRules(
        domain_aliases={"corp.example": "example.com"},
        dotless_domains=frozenset({"example.org"}),
        subaddress_domains=frozenset({"example.com"}),
    )
    assert normalise_email("A.B+x@Corp.Example", rules=rules) == "a.b@example.com"
    assert normalise_email("a.b+x@example.org", rules=rules) == "ab+x@example.org"
    assert normalise_email("a.b+x@gmail.com", rules=rules) == "a.b+x@gmail.com"

    def scalar(raw: str | None) -> str | None:
        return normalise_email(raw, rules=rules)

    def vectorised(array: pa.Array) -> tuple[pa.Array, pa.Array]:
        return normalise_emails(array, rules=rules)

    assert_vectorised_matches_scalar(scalar, vectorised, values)


# ---------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07911 123456", "GB", "+447911123456"),
        ("+44 (0)7911 123-456", "GB", "+447911123456"),
        ("0044 7911 123456", "GB", "+447911123456"),
        ("tel:+44-7911-123456", "GB", "+447911123456"),
        ("(202) 456-1111", "US", "+12024561111"),
        ("+1 202 456 1111", "GB", "+12024561111"),
        ("\u00a0030 123456\u3000", "DE", "+4930123456"),
    ],
)
def test_phone_examples(raw: str, region: str, expected: str) -> None:
    """Phones in common national and international formats become E.164."""
    assert normalise_phone(raw, region) == expected
    assert normalise_phones(pa.array([raw]), region)[0].to_pylist() == [expected]


@pytest.mark.parametrize("raw", ["12345", "+44 1234", "not a number", "+999 123456789", "0" * 300])
def test_phone_invalid_raises_invalid_phone(raw: str) -> None:
    """Unparseable or invalid numbers raise InvalidValue with reason invalid_phone."""
    with pytest.raises(InvalidValue) as caught:
        normalise_phone(raw)
    assert caught.value.reason is InvalidReason.PHONE


def test_phone_unknown_region_raises_value_error() -> None:
    """An unknown default region is a caller error on both paths, even for blank input."""
    with pytest.raises(ValueError, match="unknown phone region"):
        normalise_phone(None, "XX")
    with pytest.raises(ValueError, match="unknown phone region"):
        normalise_phones(pa.array(["07911 123456"]), "XX")


@PROPERTY
@given(
    region_number=valid_phone_numbers(),
    separators=st.lists(st.sampled_from(["", "", " ", "-", ".", "/"]), max_size=15),
    bracketed=st.integers(min_value=0, max_value=5),
)
def test_phone_formatting_variants_share_one_e164(
    region_number: tuple[str, phonenumbers.PhoneNumber], separators: list[str], bracketed: int
) -> None:
    """Spaces, dashes, brackets, national and international forms give one E.164."""
    region, number = region_number
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    fmt = phonenumbers.PhoneNumberFormat
    national = phonenumbers.format_number(number, fmt.NATIONAL)
    national_digits = "".join(ch for ch in national if ch.isdigit())
    spaced = "".join(
        digit + sep for digit, sep in zip(national_digits, separators + [""] * 20, strict=False)
    )
    variants = [
        expected,
        phonenumbers.format_number(number, fmt.INTERNATIONAL),
        phonenumbers.format_number(number, fmt.RFC3966),
        national,
        spaced,
        f"({national_digits[:bracketed]}) {national_digits[bracketed:]}" if bracketed else spaced,
        f"+{number.country_code} {'-'.join(str(number.national_number))}",
    ]
    assert {normalise_phone(variant, region) for variant in variants} == {expected}
    normalised, invalid = normalise_phones(pa.array(variants), region)
    assert set(normalised.to_pylist()) == {expected}
    assert not any(invalid.to_pylist())


def test_phone_cache_is_bounded_and_keeps_recent_entries() -> None:
    """The parse cache evicts the least recently used entry once over its cap."""
    cache = _shared.BoundedCache(max_entries=2)
    calls: list[str] = []

    def compute(key: str) -> str:
        calls.append(key)
        return key.upper()

    assert cache.resolve(["a", "b"], compute) == ["A", "B"]
    assert cache.resolve(["a"], compute) == ["A"]  # hit: "a" becomes most recent
    assert cache.resolve(["c"], compute) == ["C"]  # evicts "b"
    assert cache.resolve(["a", "b"], compute) == ["A", "B"]
    assert calls == ["a", "b", "c", "b"]


def test_phone_vectorised_parses_each_distinct_value_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Values needing libphonenumber are parsed once per batch and not again in the next;
    well-formed numbers of the default region never reach the parser."""
    normalise.clear_caches()
    parsed: list[str] = []
    real = phone._phone_e164

    def counting(trimmed: str, region: str) -> str:
        parsed.append(trimmed)
        return real(trimmed, region)

    monkeypatch.setattr(phone, "_phone_e164", counting)
    batch = pa.array(["07911 123456", " 07911 123456 ", None, "123", "07911 123456", "123"])
    first, invalid = normalise_phones(batch)
    second, _ = normalise_phones(batch)
    assert first.to_pylist() == ["+447911123456"] * 2 + [None, None, "+447911123456", None]
    assert invalid.to_pylist() == [False, False, False, True, False, True]
    assert second.equals(first)
    assert sorted(parsed) == ["123"]


# ------------------------------------------------------------------------------- IP


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 10.0.0.1 ", "10.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::1", "::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("0:0:0:0:0:FFFF:C000:0201", "192.0.2.1"),
    ],
)
def test_ip_examples(raw: str, expected: str) -> None:
    """IPs become ipaddress's compressed form; IPv4-mapped IPv6 becomes IPv4."""
    assert normalise_ip(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["256.1.1.1", "01.2.3.4", "10.0.0.01", "1.2.3", "1.2.3.4.5", "gggg::1", "1:2", "10 .0.0.1"],
)
def test_ip_invalid_raises_invalid_ip(raw: str) -> None:
    """Malformed addresses, including leading-zero octets, raise reason invalid_ip."""
    with pytest.raises(InvalidValue) as caught:
        normalise_ip(raw)
    assert caught.value.reason is InvalidReason.IP


@PROPERTY
@given(address=st.ip_addresses())
def test_ip_round_trips_ipaddress_str(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    """str(ip_address(x)) and its exploded/upper-case forms normalise to str(ip_address(x))."""
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    expected = str(mapped if mapped is not None else address)
    variants = [str(address), address.exploded, address.exploded.upper()]
    assert [normalise_ip(variant) for variant in variants] == [expected] * 3
    assert normalise_ips(pa.array(variants))[0].to_pylist() == [expected] * 3


@PROPERTY
@given(address=st.ip_addresses(v=4), octet=st.integers(min_value=0, max_value=3))
def test_ip_leading_zeros_are_rejected(address: ipaddress.IPv4Address, octet: int) -> None:
    """An IPv4 octet written with a leading zero is invalid on both paths."""
    octets = str(address).split(".")
    octets[octet] = "0" + octets[octet]
    raw = ".".join(octets)
    with pytest.raises(InvalidValue):
        normalise_ip(raw)
    assert normalise_ips(pa.array([raw]))[1].to_pylist() == [True]


@PROPERTY
@given(address=st.ip_addresses(v=4), upper=st.booleans())
def test_ip_v4_mapped_v6_collapses_to_v4(address: ipaddress.IPv4Address, upper: bool) -> None:
    """::ffff:a.b.c.d and its hex form normalise to a.b.c.d."""
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    variants = [f"::ffff:{address}", mapped.exploded, str(mapped)]
    variants = [variant.upper() if upper else variant for variant in variants]
    assert {normalise_ip(variant) for variant in variants} == {str(address)}
    assert set(normalise_ips(pa.array(variants))[0].to_pylist()) == {str(address)}


@PROPERTY
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.ip_addresses().map(str),
            st.lists(st.integers(min_value=0, max_value=999), min_size=3, max_size=5).map(
                lambda parts: ".".join(map(str, parts))
            ),
            st.lists(
                st.sampled_from(["0", "00", "1", "01", "255", "256"]), min_size=4, max_size=4
            ).map(".".join),
        ),
        max_size=30,
    )
)
def test_ip_fast_path_agrees_with_ipaddress(values: list[str | None]) -> None:
    """The IPv4 regex fast path accepts exactly what ipaddress accepts unchanged."""
    assert_vectorised_matches_scalar(normalise_ip, normalise_ips, values)


# -------------------------------------------------------------------------- address


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12 Baker Street, Apt. 4", "12 BAKER ST UNIT 4"),
        ("12  baker st apt 4", "12 BAKER ST UNIT 4"),
        ("Flat 3, 5 Court Road", "UNIT 3 5 CT RD"),
        ("Apartment #7,Park Avenue", "UNIT 7 PARK AVE"),
        ("Earl's Court Court Lane", "EARL'S CT CT LN"),
        ("Streetly Road", "STREETLY RD"),
        ("1 Market\tPlace\u00a0Square", "1 MARKET PL SQ"),
        ("9 Drive-In Close", "9 DRIVE-IN CLOSE"),
        ("café street", "CAFé ST"),
        (" #., ", None),
    ],
)
def test_address_examples(raw: str, expected: str | None) -> None:
    """Addresses are upper-cased, de-punctuated, collapsed and abbreviated by whole word;
    apartment, flat and other unit designators become UNIT (UK forms included)."""
    assert normalise_address(raw) == expected


@PROPERTY
@given(
    raw=TEXT,
    before=SURROUNDING_WHITESPACE,
    after=SURROUNDING_WHITESPACE,
    flips=st.lists(st.booleans()),
)
def test_address_ignores_surrounding_whitespace_and_case(
    raw: str, before: str, after: str, flips: list[bool]
) -> None:
    """Surrounding whitespace and ASCII letter case never change the normalised address."""
    assert normalise_address(before + ascii_case_variant(raw, flips) + after) == normalise_address(
        raw
    )


def test_normalisers_never_put_the_value_in_the_error() -> None:
    """InvalidValue messages carry the reason, not the personal data that was rejected."""
    cases: list[tuple[Callable[[str], Any], str]] = [
        (normalise_email, "secret.person@@example.com"),
        (normalise_phone, "secret-0000"),
        (normalise_ip, "secret.10.0.0.1"),
    ]
    for scalar, raw in cases:
        with pytest.raises(InvalidValue) as caught:
            scalar(raw)
        assert "secret" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(
    national=st.from_regex(r"7[0-9]{9}", fullmatch=True),
    style=st.sampled_from(["0{} ", "+44{}", "+44 {}", "0{}", "(0){}"]),
)
def test_phone_fast_shapes_agree_with_libphonenumber(national: str, style: str) -> None:
    """Where libphonenumber accepts a GB number, the parse-free shape gives the same E.164."""
    raw = style.format(national[:4] + " " + national[4:])
    number = phonenumbers.parse(raw, "GB")
    if phonenumbers.is_valid_number(number):
        expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert normalise_phone(raw, "GB") == expected


# ------------------------------------------------------------------- phone by country


@PROPERTY
@given(
    area=st.sampled_from(["201", "212", "305", "415", "614", "646", "702", "917"]),
    exchange=st.integers(min_value=200, max_value=999),
    line=st.integers(min_value=0, max_value=9999),
    default=st.sampled_from(["GB", "DE", "US"]),
)
def test_us_national_formats_with_country_us_share_one_e164(
    area: str, exchange: int, line: int, default: str
) -> None:
    """Six common US national formats, read with country=US whatever the default region,
    give the E.164 form that the international spelling gives."""
    digits = f"{area}{exchange:03d}{line:04d}"
    expected = f"+1{digits}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(expected)))
    a, b, c = digits[:3], digits[3:6], digits[6:]
    formats = [
        f"({a}) {b}-{c}",
        digits,
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"1 {a} {b} {c}",
        f"1-{a}-{b}-{c}",
    ]
    assert {normalise_phone(f, default, country="US") for f in formats} == {expected}
    normalised, invalid = normalise_phones(
        pa.array(formats), default, countries=pa.array(["US"] * len(formats))
    )
    assert set(normalised.to_pylist()) == {expected}
    assert not any(invalid.to_pylist())


def test_number_not_valid_in_the_rows_country_is_read_in_the_default_region() -> None:
    """A UK mobile on an event whose IP is in France is still the UK number; a number that
    is valid in the row's country is read there."""
    assert normalise_phone("07911 123456", "GB", country="FR") == "+447911123456"
    assert normalise_phone("01 42 68 53 00", "GB", country="FR") == "+33142685300"
    normalised, invalid = normalise_phones(
        pa.array(["07911 123456", "01 42 68 53 00", "12"]),
        "GB",
        countries=pa.array(["FR", "FR", "FR"]),
    )
    assert normalised.to_pylist() == ["+447911123456", "+33142685300", None]
    assert invalid.to_pylist() == [False, False, True]


@pytest.mark.parametrize("country", ["US", "CA", "JP", "AU"])
def test_double_zero_international_prefix_works_in_every_region(country: str) -> None:
    """'0044 ...' is an international number even where the dialling prefix is not 00."""
    assert normalise_phone("0044 7911 123456", country=country) == "+447911123456"
    assert normalise_phone("+44 7911 123456", country=country) == "+447911123456"


@PROPERTY
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            TEXT,
            valid_phone_numbers().map(
                lambda pair: phonenumbers.format_number(
                    pair[1], phonenumbers.PhoneNumberFormat.NATIONAL
                )
            ),
        ),
        max_size=12,
    ),
    data=st.data(),
)
def test_phones_by_country_vectorised_equals_scalar(
    values: list[str | None], data: st.DataObject
) -> None:
    """With a country per row (known, unknown or null), both paths agree everywhere."""
    countries = data.draw(
        st.lists(
            st.one_of(st.none(), st.sampled_from([*PHONE_REGIONS, "XX", "ZZ", ""])),
            min_size=len(values),
            max_size=len(values),
        )
    )
    expected = [
        outcome(lambda v, c=c: normalise_phone(v, "GB", country=c), value)
        for value, c in zip(values, countries, strict=True)
    ]
    normalised, invalid = normalise_phones(
        pa.array(values, pa.string()), "GB", countries=pa.array(countries, pa.string())
    )
    assert normalised.to_pylist() == [v for v, _ in expected]
    assert invalid.to_pylist() == [b for _, b in expected]
