"""Phone numbers as E.164, national numbers read in the row's country or a default region.

A number written with ``+`` (or ``00``, the international prefix of most of the world, in
any region) carries its own country code and is read the same whatever the row's country. A national number (``(646) 279-7153``,
``07911 123456``) is read in the row's ``country`` when it is a region ``phonenumbers``
knows, and, if it is not a valid number there (the country of an event is often where its
IP is, and people travel), in the configured default region (``FRAUDGRAPH_DEFAULT_REGION``).
The vectorised path groups the rows by region and normalises each group against one
process-wide cache of parsed values.

A number valid in both regions is read in the row's country. Where ``country`` is where
the event's IP is rather than where the customer lives, a home-region national number
seen from abroad can therefore read as a foreign one (on the synthetic scenario, 15 of
23,837 UK mobile numbers on events with Swedish, German or Brazilian IPs): feeds like
that should send numbers in international form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.normalise._shared import (
    CACHE_MAX_ENTRIES,
    WHITESPACE,
    BoundedCache,
    InvalidReason,
    InvalidValue,
    as_strings,
    is_present,
    normalise_distinct,
    trim,
)

#: Regions ``phonenumbers`` can read national numbers in (ISO 3166-1 alpha-2 codes).
PHONE_REGIONS: Final = frozenset(phonenumbers.SUPPORTED_REGIONS)


def normalise_phone(
    raw: str | None, default_region: str = "GB", *, country: str | None = None
) -> str | None:
    """Format a phone number as E.164.

        Parameters
        ----------
        raw : str or None
            The number as received, in any common format (spaces, dashes, parentheses,
            national or international).
        default_region : str, optional
            ISO 3166-1 alpha-2 region for national numbers when ``country`` is not usable.
        country : str, optional
            The row's normalised country (ISO 3166-1 alpha-2); national numbers are read in
            it when ``phonenumbers`` knows it as a region.

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
            If ``default_region`` is not a region ``phonenumbers`` knows (an unknown
            ``country`` is not an error: the default region is used instead).

        Notes
        -----
        Numbers of the default region written as ``+<cc> <nsn>`` or ``<national prefix><nsn>``
        (digits and separators only) are canonicalised by shape, checking the national
        significant number against the region's possible lengths, without a libphonenumber
        parse; every other form is parsed and validated by libphonenumber. The two agree
        wherever libphonenumber accepts a number (property-tested), and the shape path is what
        keeps bulk ingestion fast when most numbers are distinct. A number that does not read as
    a valid one in the region but starts with ``00`` is read once more as ``+`` and the rest
    (``0044 ...`` in the United States). O(length of the number).

        Examples
        --------
        >>> normalise_phone("07911 123-456")
        '+447911123456'
        >>> normalise_phone("(202) 456-1111", default_region="US")
        '+12024561111'
        >>> normalise_phone("6144966718", country="US")
        '+16144966718'
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
    # A number written with "+" carries its country code: the region does not matter.
    region = default_region if trimmed.startswith("+") else region_for(country, default_region)
    try:
        return _phone_e164(trimmed, region)
    except InvalidValue:
        if region == default_region:
            raise
    return _phone_e164(trimmed, default_region)


def region_for(country: str | None, default_region: str) -> str:
    """The region a national number is read in first: ``country`` if usable, else the
    default.

    Parameters
    ----------
    country : str or None
        The row's normalised country (ISO 3166-1 alpha-2).
    default_region : str
        The configured default region.

    Returns
    -------
    str
        ``country`` when ``phonenumbers`` knows it as a region, else ``default_region``.

    Examples
    --------
    >>> region_for("US", "GB"), region_for(None, "GB"), region_for("XX", "GB")
    ('US', 'GB', 'GB')

    Notes
    -----
    O(1).
    """
    return country if country in PHONE_REGIONS else default_region


def normalise_phones(
    values: pa.Array | pa.ChunkedArray,
    default_region: str = "GB",
    *,
    countries: pa.Array | pa.ChunkedArray | None = None,
) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_phone``; parses each distinct (region, value) once.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (``string``, ``large_string``, a dictionary of either, or all-null).
    default_region : str, optional
        As for ``normalise_phone``.
    countries : pyarrow.Array or pyarrow.ChunkedArray, optional
        Each row's normalised country (strings, null where unknown), aligned with
        ``values``; as ``country`` for ``normalise_phone``.

    Returns
    -------
    normalised : pyarrow.Array
        Same string type as ``values``; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_phone`` would raise ``InvalidValue``.

    Raises
    ------
    TypeError
        If ``values`` or ``countries`` does not hold strings.
    ValueError
        If ``default_region`` is not a region ``phonenumbers`` knows, or ``countries``
        is not as long as ``values``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> normalised, invalid = normalise_phones(pa.array(["07911 123456", "+44 7911 123456", "0"]))
    >>> normalised.to_pylist(), invalid.to_pylist()
    (['+447911123456', '+447911123456', None], [False, False, True])
    >>> normalise_phones(pa.array(["(646) 279-7153"]), countries=pa.array(["US"]))[0].to_pylist()
    ['+16462797153']

    Notes
    -----
    O(n) Arrow work, one group per region present (and one more for the numbers not valid
    in their row's country, read again in the default region), plus one ``phonenumbers``
    parse per distinct (region, trimmed value) not already in a process-wide cache of at
    most ``CACHE_MAX_ENTRIES`` entries over all regions (least recently used evicted
    first).
    """
    _check_region(default_region)
    trimmed = trim(as_strings(values))
    if countries is None:
        return normalise_distinct(trimmed, functools.partial(_resolve, region=default_region))
    country = as_strings(countries).cast(pa.string())
    if len(country) != len(trimmed):
        msg = f"countries has {len(country)} rows, values {len(trimmed)}"
        raise ValueError(msg)
    usable = pc.fill_null(pc.is_in(country, value_set=_PHONE_REGION_ARRAY), False)
    usable = pc.and_(usable, pc.invert(pc.fill_null(pc.starts_with(trimmed, "+"), False)))
    regions = pc.if_else(usable, country, pa.scalar(default_region))
    present = is_present(trimmed)
    normalised = pa.nulls(len(trimmed), trimmed.type)
    invalid = pa.repeat(False, len(trimmed))
    for region in pc.unique(pc.filter(regions, present)).to_pylist():
        rows = pc.and_(present, pc.equal(regions, region))
        group, bad = normalise_distinct(
            pc.filter(trimmed, rows), functools.partial(_resolve, region=region)
        )
        normalised = pc.replace_with_mask(normalised, rows, group)
        invalid = pc.replace_with_mask(invalid, rows, bad)
    retry = pc.and_(invalid, pc.not_equal(regions, default_region))
    if pc.any(retry).as_py():
        group, bad = normalise_distinct(
            pc.filter(trimmed, retry), functools.partial(_resolve, region=default_region)
        )
        normalised = pc.replace_with_mask(normalised, retry, group)
        invalid = pc.replace_with_mask(invalid, retry, bad)
    return normalised, invalid


# -------------------------------------------------------------------------- private


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
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        # "00" is not the international prefix everywhere (011 in North America), but a
        # number written with it means "+" far more often than anything national.
        compact = trimmed.translate(_STRIP_SEPARATORS)
        if compact.startswith("00"):
            try:
                number = phonenumbers.parse("+" + compact[2:], region)
            except phonenumbers.NumberParseException:
                number = None
    if number is None:
        raise InvalidValue(InvalidReason.PHONE, "cannot be parsed as a number")
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(InvalidReason.PHONE, "not a valid number")
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164


def _parse_or_none(value: str, region: str) -> str | None:
    try:
        return _phone_e164(value, region)
    except InvalidValue:
        return None


def _resolve(distinct: pa.Array, *, region: str) -> pa.Array:
    """Canonical form (null: invalid) of distinct trimmed values, read in ``region``."""
    fast = _phone_fast_array(distinct, region)
    slow = pc.is_null(fast)
    if not pc.any(slow).as_py():
        return fast
    prefix = f"{region}\x00"
    keys = [prefix + value for value in pc.filter(distinct, slow).to_pylist()]
    parsed = _PHONE_CACHE.resolve(keys, lambda key: _parse_or_none(key[len(prefix) :], region))
    return pc.replace_with_mask(fast, slow, pa.array(parsed, distinct.type))


_PHONE_CACHE: Final = BoundedCache(CACHE_MAX_ENTRIES)
_PHONE_REGION_ARRAY: Final = pa.array(sorted(PHONE_REGIONS))
