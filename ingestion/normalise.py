"""Identifier normalisers: one canonical string per key, email, phone, IP and address.

Two events name the same entity only if their identifiers normalise to the same string,
so every identifier column passes through here before it becomes a graph node key.

Each normaliser comes twice: a scalar function (``normalise_email``) that is the
reference, and a vectorised one over a pyarrow string array (``normalise_emails``) that
ingestion runs on whole batches. Both give exactly the same result for every input;
the test suite checks this on arbitrary text.

Shared rules
------------
* Leading and trailing whitespace is trimmed. Whitespace is Python's ``str.isspace`` set
  plus U+200B ZERO WIDTH SPACE and U+FEFF ZERO WIDTH NO-BREAK SPACE (a stray byte-order
  mark), spelled out in ``WHITESPACE`` so pyarrow and Python agree on it.
* ``None`` and blank (whitespace-only) input give ``None``; that is "absent", not invalid.
* Case folding is ASCII-only (``A-Z`` <-> ``a-z``). Python and Arrow's utf8proc follow
  different Unicode versions and Python applies full (one-to-many) case mappings, so a
  Unicode-wide fold could not be identical on both paths; non-ASCII letters are kept as
  given.
* A value that cannot be normalised raises ``InvalidValue`` (scalar) or is flagged in the
  ``invalid`` mask (vectorised). The error message never contains the value: identifiers
  are personal data.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import KEY_WHITESPACE

__all__ = [
    "ADDRESS_ABBREVIATIONS",
    "DEFAULT_EMAIL_RULES",
    "WHITESPACE",
    "EmailRules",
    "InvalidReason",
    "InvalidValue",
    "normalise_address",
    "normalise_addresses",
    "normalise_email",
    "normalise_emails",
    "normalise_ip",
    "normalise_ips",
    "normalise_key",
    "normalise_keys",
    "normalise_phone",
    "normalise_phones",
]

#: Every character trimmed from the ends of a value (and, for addresses, collapsed inside).
WHITESPACE: Final = KEY_WHITESPACE
_WHITESPACE_SET: Final = frozenset(WHITESPACE)
#: ``WHITESPACE`` as the body of a regex character class, valid in RE2 and Python ``re``.
_WS_CLASS: Final = "".join(f"\\x{{{ord(ch):04x}}}" for ch in WHITESPACE)

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

#: Whole-word address abbreviations, applied after upper-casing. No abbreviation is
#: itself a key, so applying them twice changes nothing.
ADDRESS_ABBREVIATIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "STREET": "ST",
        "ROAD": "RD",
        "AVENUE": "AVE",
        "APARTMENT": "APT",
        "LANE": "LN",
        "DRIVE": "DR",
        "COURT": "CT",
        "PLACE": "PL",
        "SQUARE": "SQ",
    }
)
#: Characters that separate address words, like whitespace.
_ADDRESS_PUNCTUATION: Final = ".,#"
_ADDRESS_SEPARATORS_RE: Final = re.compile(f"[{re.escape(WHITESPACE + _ADDRESS_PUNCTUATION)}]+")

#: Canonical dotted-quad IPv4 (no leading zeros): already in ``ipaddress``'s form.
_CANONICAL_IPV4_RE2: Final = (
    r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
)

#: Upper bound on the entries of each phone / IP cache. An entry is a few hundred bytes,
#: so a full cache costs a few hundred MB at most.
CACHE_MAX_ENTRIES: Final = 1_000_000


class InvalidReason(StrEnum):
    """Why a value was rejected; the value is the machine-readable code."""

    EMAIL = "invalid_email"
    PHONE = "invalid_phone"
    IP = "invalid_ip"


class InvalidValue(ValueError):
    """A non-blank identifier that cannot be normalised.

    Parameters
    ----------
    reason : InvalidReason
        Which kind of identifier was rejected.
    detail : str
        What was wrong, for humans. Never contains the value itself.

    Attributes
    ----------
    reason : InvalidReason
        Machine-readable code, e.g. ``"invalid_email"``.
    detail : str
        Human-readable explanation.
    """

    def __init__(self, reason: InvalidReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class EmailRules:
    """Provider-specific email canonicalisation. All domains are lower-case.

    Parameters
    ----------
    domain_aliases : Mapping[str, str]
        Domains replaced by their canonical domain before the other rules apply.
    dotless_domains : frozenset[str]
        Domains whose mailboxes ignore dots in the local part.
    subaddress_domains : frozenset[str]
        Domains that deliver ``user+tag`` to ``user``; the ``+tag`` is dropped.
    """

    domain_aliases: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"googlemail.com": "gmail.com"})
    )
    dotless_domains: frozenset[str] = frozenset({"gmail.com"})
    # Yahoo sub-addresses with '-', which is also legal inside ordinary local parts.
    subaddress_domains: frozenset[str] = frozenset(
        {"gmail.com", "outlook.com", "hotmail.com", "live.com", "icloud.com"}
    )


DEFAULT_EMAIL_RULES: Final = EmailRules()


# --------------------------------------------------------------------------- scalar


def normalise_key(raw: str | None) -> str | None:
    """Trim an opaque identifier (account, device, card or merchant id).

    Parameters
    ----------
    raw : str or None
        The identifier as received.

    Returns
    -------
    str or None
        ``raw`` without leading or trailing ``WHITESPACE``; ``None`` if nothing is left.

    Examples
    --------
    >>> normalise_key("  acc-001\\u00a0")
    'acc-001'
    >>> normalise_key(" \\t ") is None
    True
    """
    if raw is None:
        return None
    return raw.strip(WHITESPACE) or None


def normalise_email(raw: str | None, *, rules: EmailRules = DEFAULT_EMAIL_RULES) -> str | None:
    """Canonicalise an email address so that one mailbox has one spelling.

    Trims, lower-cases (ASCII), replaces domain aliases (``googlemail.com`` ->
    ``gmail.com``), drops a ``+tag`` for providers with sub-addressing and removes dots
    from the local part for providers that ignore them.

    Parameters
    ----------
    raw : str or None
        The address as received.
    rules : EmailRules, optional
        Provider rules; ``DEFAULT_EMAIL_RULES`` covers Gmail, Outlook/Hotmail/Live
        and iCloud.

    Returns
    -------
    str or None
        ``local@domain`` in canonical form; ``None`` for ``None`` or blank input.

    Raises
    ------
    InvalidValue
        With reason ``invalid_email`` when there is not exactly one ``@``, the local
        part is empty (also after dropping dots and tag), the domain is not two or more
        non-empty dot-separated labels, or whitespace appears inside.

    Examples
    --------
    >>> normalise_email(" J.Smith+promo@GoogleMail.com ")
    'jsmith@gmail.com'
    >>> normalise_email("J.Smith+promo@example.co.uk")
    'j.smith+promo@example.co.uk'
    >>> try:
    ...     normalise_email("no-at-sign.example.com")
    ... except InvalidValue as error:
    ...     print(error)
    invalid_email: expected exactly one '@'
    """
    if raw is None:
        return None
    trimmed = raw.strip(WHITESPACE)
    if not trimmed:
        return None
    lowered = trimmed.translate(_ASCII_LOWER)
    if lowered.count("@") != 1:
        raise InvalidValue(InvalidReason.EMAIL, "expected exactly one '@'")
    if not _WHITESPACE_SET.isdisjoint(lowered):
        raise InvalidValue(InvalidReason.EMAIL, "whitespace inside the address")
    local, _, domain = lowered.partition("@")
    if not local:
        raise InvalidValue(InvalidReason.EMAIL, "empty local part")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise InvalidValue(InvalidReason.EMAIL, "domain is not dot-separated labels")
    domain = rules.domain_aliases.get(domain, domain)
    if domain in rules.subaddress_domains:
        local = local.partition("+")[0]
    if domain in rules.dotless_domains:
        local = local.replace(".", "")
    if not local:
        raise InvalidValue(InvalidReason.EMAIL, "local part empty once canonicalised")
    return f"{local}@{domain}"


def normalise_phone(raw: str | None, default_region: str = "GB") -> str | None:
    """Format a phone number as E.164.

    Parameters
    ----------
    raw : str or None
        The number as received, in any common format (spaces, dashes, parentheses,
        national or international).
    default_region : str, optional
        ISO 3166-1 alpha-2 region used for numbers written without ``+``.

    Returns
    -------
    str or None
        The number as ``+<country code><national number>``; ``None`` for ``None`` or
        blank input.

    Raises
    ------
    InvalidValue
        With reason ``invalid_phone`` when ``phonenumbers`` cannot parse the number or
        does not consider it valid.
    ValueError
        If ``default_region`` is not a region ``phonenumbers`` knows.

    Notes
    -----
    Numbers of the default region written as ``+<cc> <nsn>`` or ``<national prefix><nsn>``
    (digits and separators only) are canonicalised by shape, checking the national
    significant number against the region's possible lengths, without a libphonenumber
    parse; every other form is parsed and validated by libphonenumber. The two agree
    wherever libphonenumber accepts a number (property-tested), and the shape path is what
    keeps bulk ingestion fast when most numbers are distinct.

    Examples
    --------
    >>> normalise_phone("07911 123-456")
    '+447911123456'
    >>> normalise_phone("(202) 456-1111", default_region="US")
    '+12024561111'
    >>> try:
    ...     normalise_phone("12345")
    ... except InvalidValue as error:
    ...     print(error.reason)
    invalid_phone
    """
    _check_region(default_region)
    if raw is None:
        return None
    trimmed = raw.strip(WHITESPACE)
    if not trimmed:
        return None
    return _phone_e164(trimmed, default_region)


def normalise_ip(raw: str | None) -> str | None:
    """Canonicalise an IPv4 or IPv6 address.

    Parameters
    ----------
    raw : str or None
        The address as received.

    Returns
    -------
    str or None
        ``str(ipaddress.ip_address(raw))``: dotted decimal for IPv4, compressed
        lower-case for IPv6, and the embedded IPv4 address for IPv4-mapped IPv6
        (``::ffff:a.b.c.d``); ``None`` for ``None`` or blank input.

    Raises
    ------
    InvalidValue
        With reason ``invalid_ip`` when ``ipaddress`` rejects the value, including IPv4
        octets with leading zeros (ambiguous: octal to some parsers).

    Examples
    --------
    >>> normalise_ip(" 2001:DB8:0:0::1 ")
    '2001:db8::1'
    >>> normalise_ip("::ffff:192.0.2.7")
    '192.0.2.7'
    >>> try:
    ...     normalise_ip("192.168.001.1")
    ... except InvalidValue as error:
    ...     print(error.reason)
    invalid_ip
    """
    if raw is None:
        return None
    trimmed = raw.strip(WHITESPACE)
    if not trimmed:
        return None
    return _ip_canonical(trimmed)


def normalise_address(raw: str | None) -> str | None:
    """Canonicalise a postal address line for exact matching.

    Upper-cases (ASCII), treats ``.``, ``,`` and ``#`` as word separators like
    whitespace, collapses separators to one space and abbreviates whole words with
    ``ADDRESS_ABBREVIATIONS`` (``STREET`` -> ``ST``; ``FLAT`` is kept).

    Parameters
    ----------
    raw : str or None
        The address as received.

    Returns
    -------
    str or None
        Space-separated upper-case words; ``None`` for ``None`` or input with no words.

    Examples
    --------
    >>> normalise_address("12 Baker Street, Apt. 4")
    '12 BAKER ST APT 4'
    >>> normalise_address("12  baker st apt 4")
    '12 BAKER ST APT 4'
    >>> normalise_address(" #., ") is None
    True
    """
    if raw is None:
        return None
    words = _ADDRESS_SEPARATORS_RE.split(raw.translate(_ASCII_UPPER))
    return " ".join(ADDRESS_ABBREVIATIONS.get(word, word) for word in words if word) or None


# ----------------------------------------------------------------------- vectorised


def normalise_keys(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_key``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null or blank.
    invalid : pyarrow.BooleanArray
        All false: any non-blank key is valid.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_keys(pa.array([" a1 ", "\\u3000", None]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['a1', None, None], [False, False, False])

    Notes
    -----
    O(total bytes), two Arrow kernels.
    """
    strings = _as_strings(values)
    trimmed = _trim(strings)
    return _null_if_empty(trimmed), _all_false(len(strings))


def normalise_emails(
    values: pa.Array | pa.ChunkedArray, *, rules: EmailRules = DEFAULT_EMAIL_RULES
) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_email``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).
    rules : EmailRules, optional
        Provider rules, as for ``normalise_email``.

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_email`` would raise ``InvalidValue``.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_emails(pa.array(["A.B+x@gmail.com", "nope", " "]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['ab@gmail.com', None, None], [False, True, False])

    Notes
    -----
    O(total bytes): a fixed number of Arrow kernels, no Python per value. The ``+tag`` and
    dot rewrites run only on the rows at providers with those rules that need them.
    """
    strings = _as_strings(values)
    string_type = strings.type
    trimmed = _trim(strings)
    parts = pc.extract_regex(pc.ascii_lower(trimmed), _EMAIL_RE2)
    # A struct's children ignore the parent's validity, so carry "matched" explicitly.
    matched = pc.fill_null(pc.is_valid(parts), False)
    local = pc.struct_field(parts, "local")
    domain = pc.struct_field(parts, "domain")
    for alias, canonical in rules.domain_aliases.items():
        domain = pc.if_else(pc.equal(domain, alias), pa.scalar(canonical, string_type), domain)
    local = _replace_where(
        local,
        pc.and_(_is_in(domain, rules.subaddress_domains), pc.match_substring(local, "+")),
        lambda rows: pc.replace_substring_regex(rows, r"(?s)\+.*$", ""),
    )
    local = _replace_where(
        local,
        pc.and_(_is_in(domain, rules.dotless_domains), pc.match_substring(local, ".")),
        lambda rows: pc.replace_substring(rows, ".", ""),
    )
    valid = pc.and_(matched, pc.fill_null(pc.not_equal(local, ""), False))
    joined = pc.binary_join_element_wise(local, domain, pa.scalar("@", string_type))
    normalised = pc.if_else(valid, joined, pa.scalar(None, string_type))
    return normalised, pc.and_(_is_present(trimmed), pc.invert(valid))


def normalise_phones(
    values: pa.Array | pa.ChunkedArray, default_region: str = "GB"
) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_phone``; parses each distinct value once.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).
    default_region : str, optional
        As for ``normalise_phone``.

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_phone`` would raise ``InvalidValue``.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.
    ValueError
        If ``default_region`` is not a region ``phonenumbers`` knows.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_phones(pa.array(["07911 123456", "+44 7911 123456", "0"]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['+447911123456', '+447911123456', None], [False, False, True])

    Notes
    -----
    O(n) Arrow work plus one ``phonenumbers`` parse per distinct trimmed value not
    already in a process-wide cache of at most ``CACHE_MAX_ENTRIES`` entries per region
    (least recently used evicted first).
    """
    _check_region(default_region)
    cache = _phone_cache(default_region)

    def parse_or_none(value: str) -> str | None:
        try:
            return _phone_e164(value, default_region)
        except InvalidValue:
            return None

    def resolve(distinct: pa.Array) -> pa.Array:
        fast = _phone_fast_array(distinct, default_region)
        slow = pc.is_null(fast)
        if not pc.any(slow).as_py():
            return fast
        parsed = cache.resolve(pc.filter(distinct, slow).to_pylist(), parse_or_none)
        return pc.replace_with_mask(fast, slow, pa.array(parsed, distinct.type))

    return _normalise_distinct(_trim(_as_strings(values)), resolve)


def normalise_ips(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_ip``; canonical IPv4 takes a regex fast path.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_ip`` would raise ``InvalidValue``.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_ips(pa.array(["10.0.0.1", "::FFFF:10.0.0.1", "010.0.0.1"]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['10.0.0.1', '10.0.0.1', None], [False, False, True])

    Notes
    -----
    O(n) Arrow work; distinct values that are not canonical dotted-quad IPv4 go through
    ``ipaddress`` once each, unless already in a process-wide cache of at most
    ``CACHE_MAX_ENTRIES`` entries.
    """

    def resolve(distinct: pa.Array) -> pa.Array:
        slow = pc.invert(pc.match_substring_regex(distinct, _CANONICAL_IPV4_RE2))
        slow_values = pc.filter(distinct, slow).to_pylist()
        if not slow_values:
            return distinct
        resolved = _IP_CACHE.resolve(slow_values, _ip_or_none)
        return pc.replace_with_mask(distinct, slow, pa.array(resolved, distinct.type))

    return _normalise_distinct(_trim(_as_strings(values)), resolve)


def normalise_addresses(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_address``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null or has no words.
    invalid : pyarrow.BooleanArray
        All false: addresses are never rejected.

    Raises
    ------
    TypeError
        If ``values`` does not hold strings.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_addresses(pa.array(["12 Baker Street, Apt. 4", None]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['12 BAKER ST APT 4', None], [False, False])

    Notes
    -----
    O(total bytes): about ten Arrow kernels, no Python per value or per word.
    """
    strings = _as_strings(values)
    string_type = strings.type
    spaced = pc.ascii_upper(strings)
    # Whitespace other than ' ' is never printable ASCII and rare in addresses: only rows
    # that are not printable ASCII pay for the regex.
    spaced = _replace_where(
        spaced,
        pc.invert(pc.ascii_is_printable(spaced)),
        lambda rows: pc.replace_substring_regex(rows, _OTHER_WHITESPACE_RE2, " "),
    )
    for mark in _ADDRESS_PUNCTUATION:
        spaced = pc.replace_substring(spaced, mark, " ")
    # Only ' ' separates words now; Arrow's ASCII whitespace is a subset of WHITESPACE,
    # so splitting on it splits on runs of ' ' (leading/trailing runs give "" words).
    word_lists = pc.ascii_split_whitespace(spaced)
    flat_words = word_lists.values
    position = pc.index_in(flat_words, value_set=pa.array(list(ADDRESS_ABBREVIATIONS), string_type))
    abbreviations = pa.array(list(ADDRESS_ABBREVIATIONS.values()), string_type)
    flat_words = pc.replace_with_mask(
        flat_words, pc.is_valid(position), pc.take(abbreviations, pc.drop_null(position))
    )
    words = type(word_lists).from_arrays(
        word_lists.offsets, flat_words, mask=pc.is_null(word_lists)
    )
    joined = pc.utf8_trim(pc.binary_join(words, pa.scalar(" ", string_type)), characters=" ")
    return _null_if_empty(joined), _all_false(len(strings))


# -------------------------------------------------------------------------- private

_EMAIL_WORD: Final = f"[^@.{_WS_CLASS}]+"
_EMAIL_RE2: Final = f"^(?P<local>[^@{_WS_CLASS}]+)@(?P<domain>{_EMAIL_WORD}(?:\\.{_EMAIL_WORD})+)$"
_OTHER_WHITESPACE_RE2: Final = (
    "[" + "".join(f"\\x{{{ord(ch):04x}}}" for ch in WHITESPACE if ch != " ") + "]"
)


def _check_region(region: str) -> None:
    if region not in phonenumbers.SUPPORTED_REGIONS:
        msg = f"unknown phone region {region!r}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class _RegionShape:
    """What the fast phone path needs to know of the default region."""

    country_code: str
    national_prefix: str | None
    lengths: frozenset[int]


@functools.lru_cache(maxsize=64)
def _region_shape(region: str) -> _RegionShape:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = meta.national_prefix if meta is not None else None
    desc = meta.general_desc if meta is not None else None
    lengths = frozenset(desc.possible_length) if desc is not None else frozenset[int]()
    code = str(phonenumbers.country_code_for_region(region))
    return _RegionShape(code, prefix or None, lengths)


_PHONE_SEPARATORS: Final = " -().\u00a0"


def _phone_fast(trimmed: str, region: str) -> str | None:
    """E.164 for the two shapes that need no parsing, else ``None`` (use libphonenumber).

    The shapes are ``+<cc><nsn>`` and ``<national prefix><nsn>`` of the default region,
    written with digits and separators only, where the national significant number has
    one of the region's possible lengths and does not itself start with the national
    prefix. Such numbers are canonical by construction; checking them by length only is
    what lets the vectorised path skip per-value parsing.
    """
    shape = _region_shape(region)
    if shape.national_prefix is not None and len(shape.national_prefix) != 1:
        return None
    digits = trimmed.translate(_STRIP_SEPARATORS)
    body = digits[1:] if digits.startswith("+") else digits
    if not body.isascii() or not body.isdigit():
        return None
    if digits.startswith("+"):
        if not body.startswith(shape.country_code):
            return None
        nsn = body[len(shape.country_code) :]
    elif shape.national_prefix and body.startswith(shape.national_prefix):
        nsn = body[len(shape.national_prefix) :]
    else:
        return None
    if len(nsn) not in shape.lengths or (
        shape.national_prefix and nsn.startswith(shape.national_prefix)
    ):
        return None
    return f"+{shape.country_code}{nsn}"


_STRIP_SEPARATORS: Final = str.maketrans("", "", _PHONE_SEPARATORS)


def _phone_fast_array(trimmed: pa.Array, region: str) -> pa.Array:
    """Vectorised ``_phone_fast``: E.164 where a fast shape applies, null elsewhere."""
    shape = _region_shape(region)
    prefix = shape.national_prefix
    if prefix is not None and len(prefix) != 1:
        return pa.nulls(len(trimmed), trimmed.type)  # RE2 has no look-ahead; parse instead
    first = f"[{''.join(d for d in '0123456789' if d != prefix)}]" if prefix else "[0-9]"
    nsn = "|".join(f"{first}[0-9]{{{n - 1}}}" for n in sorted(shape.lengths) if n > 0)
    if not nsn:
        return pa.nulls(len(trimmed), trimmed.type)
    digits = pc.replace_substring_regex(trimmed, "[ ().\\x{00a0}-]", "")
    leads = [f"\\+{shape.country_code}"] + ([prefix] if prefix else [])
    result = pa.nulls(len(trimmed), trimmed.type)
    for lead in leads:
        found = pc.extract_regex(digits, f"^{lead}(?P<nsn>{nsn})$")
        national = pc.struct_field(found, [0])
        joined = pc.binary_join_element_wise(
            pa.scalar(f"+{shape.country_code}", trimmed.type),
            national,
            pa.scalar("", trimmed.type),
        )
        result = pc.if_else(pc.is_valid(national), joined, result)
    return result


def _phone_e164(trimmed: str, region: str) -> str:
    fast = _phone_fast(trimmed, region)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(trimmed, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue(InvalidReason.PHONE, "cannot be parsed as a number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(InvalidReason.PHONE, "not a valid number")
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164


def _ip_canonical(trimmed: str) -> str:
    try:
        address = ipaddress.ip_address(trimmed)
    except ValueError:
        raise InvalidValue(InvalidReason.IP, "not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _ip_or_none(trimmed: str) -> str | None:
    try:
        return _ip_canonical(trimmed)
    except InvalidValue:
        return None


class _BoundedCache:
    """Thread-safe least-recently-used map from a trimmed value to its canonical form.

    ``None`` as a stored result means "invalid".
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, keys: list[str], compute: Callable[[str], str | None]) -> list[str | None]:
        """Look ``keys`` up, computing (outside the lock) and storing the misses."""
        results: list[str | None] = []
        misses: list[int] = []
        with self._lock:
            for i, key in enumerate(keys):
                try:
                    results.append(self._entries[key])
                    self._entries.move_to_end(key)
                except KeyError:
                    results.append(None)
                    misses.append(i)
        if not misses:
            return results
        for i in misses:
            results[i] = compute(keys[i])
        with self._lock:
            for i in misses:
                self._entries[keys[i]] = results[i]
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return results

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


_IP_CACHE: Final = _BoundedCache(CACHE_MAX_ENTRIES)
_PHONE_CACHES: Final[dict[str, _BoundedCache]] = {}
_PHONE_CACHES_LOCK: Final = threading.Lock()


def _phone_cache(region: str) -> _BoundedCache:
    with _PHONE_CACHES_LOCK:
        cache = _PHONE_CACHES.get(region)
        if cache is None:
            cache = _PHONE_CACHES[region] = _BoundedCache(CACHE_MAX_ENTRIES)
        return cache


def _clear_caches() -> None:
    """Empty the phone and IP caches (for tests and benchmarks)."""
    _IP_CACHE.clear()
    with _PHONE_CACHES_LOCK:
        _PHONE_CACHES.clear()


def _as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_null(values.type):
        return values.cast(pa.string())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values
    msg = f"expected a string array, got {values.type}"
    raise TypeError(msg)


def _trim(strings: pa.Array) -> pa.Array:
    return pc.utf8_trim(strings, characters=WHITESPACE)


def _is_present(trimmed: pa.Array) -> pa.Array:
    """True where the trimmed value is non-null and non-empty."""
    return pc.fill_null(pc.not_equal(trimmed, ""), False)


def _null_if_empty(strings: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(strings, ""), pa.scalar(None, strings.type), strings)


def _all_false(length: int) -> pa.Array:
    return pa.repeat(False, length)


def _is_in(strings: pa.Array, value_set: frozenset[str]) -> pa.Array:
    return pc.is_in(strings, value_set=pa.array(sorted(value_set), strings.type))


def _replace_where(
    strings: pa.Array, where: pa.Array, transform: Callable[[pa.Array], pa.Array]
) -> pa.Array:
    """Apply ``transform`` only to the rows where ``where`` is true (null counts as false)."""
    where = pc.fill_null(where, False)
    if not pc.any(where).as_py():
        return strings
    return pc.replace_with_mask(strings, where, transform(pc.filter(strings, where)))


def _normalise_distinct(
    trimmed: pa.Array, resolve: Callable[[pa.Array], pa.Array]
) -> tuple[pa.Array, pa.Array]:
    """Normalise each distinct trimmed value once with ``resolve`` and map back.

    ``resolve`` gets the non-empty distinct values and returns, aligned with them, the
    canonical form or null for invalid ones.
    """
    encoded = pc.dictionary_encode(trimmed)
    distinct = encoded.dictionary
    present = pc.not_equal(distinct, "")
    canonical = pc.replace_with_mask(distinct, present, resolve(pc.filter(distinct, present)))
    canonical = pc.if_else(present, canonical, pa.scalar(None, distinct.type))
    invalid_distinct = pc.and_(present, pc.is_null(canonical))
    normalised = pc.take(canonical, encoded.indices)
    invalid = pc.fill_null(pc.take(invalid_distinct, encoded.indices), False)
    return normalised, invalid
