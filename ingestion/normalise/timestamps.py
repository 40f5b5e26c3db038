"""Timestamps of events and labels, as UTC instants with microsecond precision.

Accepted (after trimming; letters in any ASCII case):

* ISO 8601 / RFC 3339 and the common SQL and log forms: ``YYYY-MM-DD``,
  ``YYYY-MM-DDTHH:MM``, ``...:SS``, ``...:SS.ffffff`` (1 to 9 fraction digits, ``.`` or
  ``,``; digits past the sixth are dropped), with ``T`` or one space between date and
  time, and ``/`` accepted in place of ``-`` in the date (``2026/01/02 03:04:05``); months,
  days and hours may have one digit.
* An optional zone after the time, with or without one space before it: ``Z``, ``UTC``,
  ``GMT``, ``+HH:MM``, ``+HHMM``, ``+HH`` (or ``-``; hours 00-23, minutes 00-59). A value
  with a zone is converted to UTC; a value without one is taken to be UTC already. A date
  alone is midnight UTC.
* Unix epochs, as integers or decimal strings (``1767323045``, ``"1767323045.5"``), told
  apart by magnitude; every class covers 1973-03-03T09:46:40Z to 5138-11-16T09:46:40Z:

  ============= ============================ ===================================
  unit          value ``v``                  fraction digits kept
  ============= ============================ ===================================
  seconds       10^8  <= v < 10^11           6 (microseconds)
  milliseconds  10^11 <= v < 10^14           3
  microseconds  10^14 <= v < 10^17           none
  nanoseconds   10^17 <= v < 10^19           none (truncated to microseconds)
  ============= ============================ ===================================

  Smaller numbers (a year such as ``2026``, a compact date such as ``20260102``),
  negative numbers and signs are invalid rather than read as 1970. Floating-point epochs
  follow the same ranges, rounded half to even to the microsecond.
* Native timestamps (any unit; zone-less ones are UTC) and dates (midnight UTC).

Anything else, or a calendar-impossible value (``2026-02-30``, ``24:00``, a leap second),
is invalid (reason ``bad_timestamp``). Two-digit years and day-first or month-first
dates (``01/02/2026``) are not accepted: they are ambiguous.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.normalise._shared import (
    ASCII_UPPER,
    WHITESPACE,
    InvalidReason,
    InvalidValue,
    all_false,
    combined,
    is_present,
    is_text,
    trim,
)

TIMESTAMP_TYPE: Final = pa.timestamp("us", tz="UTC")

#: Each epoch class: (lowest value, one past the highest, microseconds per unit as a
#: (numerator, denominator) pair, fraction digits kept).
EPOCH_CLASSES: Final[tuple[tuple[int, int, int, int, int], ...]] = (
    (10**8, 10**11, 1_000_000, 1, 6),
    (10**11, 10**14, 1_000, 1, 3),
    (10**14, 10**17, 1, 1, 0),
    (10**17, 10**19, 1, 1_000, 0),
)

_ISO_BODY: Final = (
    r"(?P<y>[0-9]{4})[-/](?P<mo>[0-9]{1,2})[-/](?P<d>[0-9]{1,2})"
    r"(?:[T ](?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?)?"
    r"(?: ?(?P<z>Z|UTC|GMT|(?P<sign>[+-])(?P<zh>[0-9]{2})(?::?(?P<zm>[0-9]{2}))?))?)?"
)
_EPOCH_BODY: Final = r"(?P<int>[0-9]{1,19})(?:\.(?P<frac>[0-9]{1,9}))?"
_ISO_PY: Final = re.compile(_ISO_BODY)
_EPOCH_PY: Final = re.compile(_EPOCH_BODY)
_ISO_RE2: Final = "^" + _ISO_BODY + "$"
_EPOCH_RE2: Final = "^" + _EPOCH_BODY + "$"

_MIN_US: Final = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
_MAX_US: Final = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS_IN_MONTH: Final = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def normalise_timestamp(raw: str | int | float | datetime | date | None) -> datetime | None:
    """A point in time as an aware UTC ``datetime`` (microsecond precision).

    Parameters
    ----------
    raw : str, int, float, datetime, date or None
        As received (see the module docstring for the accepted forms).

    Returns
    -------
    datetime or None
        In UTC; ``None`` for ``None`` or blank text.

    Raises
    ------
    InvalidValue
        With reason ``bad_timestamp`` for anything else (a ``bool`` included).

    Examples
    --------
    >>> normalise_timestamp("2026-01-02T03:04:05+02:00")
    datetime.datetime(2026, 1, 2, 1, 4, 5, tzinfo=datetime.timezone.utc)
    >>> normalise_timestamp("2026/01/02 03:04:05") == normalise_timestamp(1767323045)
    True
    >>> normalise_timestamp("1767323045000") == normalise_timestamp("2026-01-02 03:04:05Z")
    True
    >>> normalise_timestamp("2026-01-02")
    datetime.datetime(2026, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)

    Notes
    -----
    O(length of the value).
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise InvalidValue(InvalidReason.TIMESTAMP, "a flag is not a time")
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    if isinstance(raw, int):
        return _from_micros(_epoch_micros(raw))
    if isinstance(raw, float):
        return _from_micros(_float_micros(raw))
    text = raw.strip(WHITESPACE).translate(ASCII_UPPER)
    if not text:
        return None
    epoch = _EPOCH_PY.fullmatch(text)
    if epoch is not None:
        fraction = epoch.group("frac") or ""
        return _from_micros(_epoch_micros(int(epoch.group("int")), _digits(fraction)))
    iso = _ISO_PY.fullmatch(text)
    if iso is None:
        raise InvalidValue(InvalidReason.TIMESTAMP, "not a timestamp in a known form")
    return _iso(iso)


def _iso(match: re.Match[str]) -> datetime:
    group = match.group
    zh, zm = int(group("zh") or 0), int(group("zm") or 0)
    if zh > 23 or zm > 59:
        raise InvalidValue(InvalidReason.TIMESTAMP, "zone offset out of range")
    offset = timedelta(hours=zh, minutes=zm) * (-1 if group("sign") == "-" else 1)
    try:
        local = datetime(
            int(group("y")),
            int(group("mo")),
            int(group("d")),
            int(group("h") or 0),
            int(group("mi") or 0),
            int(group("s") or 0),
            int((group("f") or "").ljust(9, "0")[:6]),
            tzinfo=timezone(offset),
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidValue(InvalidReason.TIMESTAMP, "not a calendar date and time") from None


def _digits(fraction: str) -> int:
    """A fraction's first nine digits as nanoseconds-style integer (``"5"`` -> 500000000)."""
    return int(fraction.ljust(9, "0")[:9])


def _epoch_micros(value: int, fraction_nines: int = 0) -> int:
    """Microseconds since the epoch of an integer epoch with an optional 9-digit fraction."""
    for low, high, per_unit, divisor, kept in EPOCH_CLASSES:
        if low <= value < high:
            fraction = fraction_nines // 10 ** (9 - kept) if kept else 0
            return value * per_unit // divisor + fraction
    raise InvalidValue(InvalidReason.TIMESTAMP, "epoch number outside the accepted ranges")


def _float_micros(value: float) -> int:
    if not math.isfinite(value):
        raise InvalidValue(InvalidReason.TIMESTAMP, "not a finite epoch number")
    for low, high, per_unit, divisor, _ in EPOCH_CLASSES:
        if low <= value < high:
            return round(value * (per_unit / divisor))
    raise InvalidValue(InvalidReason.TIMESTAMP, "epoch number outside the accepted ranges")


def _from_micros(micros: int) -> datetime:
    if not _MIN_US <= micros <= _MAX_US:
        raise InvalidValue(InvalidReason.TIMESTAMP, "outside years 1 to 9999")
    return _EPOCH_UTC + timedelta(microseconds=micros)


def normalise_timestamps(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_timestamp``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings, integers, floats, timestamps (any unit and zone) or dates; anything else
        (decimals, booleans) is read as its text.

    Returns
    -------
    normalised : pyarrow.TimestampArray
        ``timestamp[us, tz=UTC]``; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_timestamp`` would raise ``InvalidValue``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> ts, invalid = normalise_timestamps(pa.array(["2026-01-02", "1767323045", "soon"]))
    >>> [t.isoformat() if t else None for t in ts.to_pylist()], invalid.to_pylist()
    (['2026-01-02T00:00:00+00:00', '2026-01-02T03:04:05+00:00', None], [False, False, True])

    Notes
    -----
    O(total bytes): two regex extractions over the text, then integer arithmetic on the
    parts (the civil-date to day-number conversion of H. Hinnant) in numpy; no Python per
    value.
    """
    array = combined(values)
    kind = array.type
    n = len(array)
    if pa.types.is_null(kind):
        return pa.nulls(n, TIMESTAMP_TYPE), all_false(n)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_date(kind):
            array = pc.cast(array, pa.timestamp("us"))
        return pc.cast(array, TIMESTAMP_TYPE, safe=False), all_false(n)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        micros, ok = _numeric_micros(array)
        return _as_timestamps(micros, ok), pc.and_(pc.is_valid(array), pc.invert(ok))
    strings = array if is_text(kind) else pc.cast(array, pa.string())
    text = pc.ascii_upper(trim(strings))
    micros = np.zeros(n, np.int64)
    ok = np.zeros(n, np.bool_)
    _parse_epochs(text, micros, ok)
    _parse_iso(text, micros, ok)
    good = pa.array(ok, pa.bool_())
    return _as_timestamps(pa.array(micros, pa.int64()), good), pc.and_(
        is_present(text), pc.invert(good)
    )


def _as_timestamps(micros: pa.Array, ok: pa.Array) -> pa.Array:
    kept = pc.if_else(ok, micros, pa.scalar(None, pa.int64()))
    return kept.cast(TIMESTAMP_TYPE)


def _numeric_micros(array: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Epoch microseconds of an integer or float array, and where they are valid."""
    floating = pa.types.is_floating(array.type)
    valid = np.asarray(pc.is_valid(array))
    micros = np.zeros(len(array), np.int64)
    ok = np.zeros(len(array), np.bool_)
    if floating:
        values = np.asarray(pc.fill_null(pc.cast(array, pa.float64()), 0.0))
        finite = np.isfinite(values)
        for low, high, per_unit, divisor, _ in EPOCH_CLASSES:
            inside = valid & finite & (values >= low) & (values < high)
            micros[inside] = np.round(values[inside] * (per_unit / divisor)).astype(np.int64)
            ok |= inside
    else:
        unsigned = pa.types.is_unsigned_integer(array.type)
        wide = pa.uint64() if unsigned else pa.int64()
        ints = np.asarray(pc.fill_null(pc.cast(array, wide), 0))
        top = np.iinfo(ints.dtype).max
        for low, high, per_unit, divisor, _ in EPOCH_CLASSES:
            inside = valid & (ints >= low)
            if high <= top:
                inside &= ints < high
            scaled = ints[inside] * ints.dtype.type(per_unit) // ints.dtype.type(divisor)
            micros[inside] = scaled.astype(np.int64)
            ok |= inside
    ok &= (micros >= _MIN_US) & (micros <= _MAX_US)
    return pa.array(micros, pa.int64()), pa.array(ok, pa.bool_())


def _parse_epochs(text: pa.Array, micros: np.ndarray, ok: np.ndarray) -> None:
    """Fill ``micros``/``ok`` for the rows that are epoch numbers as text."""
    found = pc.extract_regex(text, _EPOCH_RE2)
    matched = np.asarray(pc.fill_null(pc.is_valid(found), False))
    if not matched.any():
        return
    rows = np.flatnonzero(matched)
    parts = pc.take(found, pa.array(rows))
    whole = np.asarray(pc.cast(pc.struct_field(parts, "int"), pa.uint64()))
    fraction = np.asarray(
        pc.cast(pc.utf8_rpad(pc.struct_field(parts, "frac"), width=9, padding="0"), pa.int64())
    )
    for low, high, per_unit, divisor, kept in EPOCH_CLASSES:
        inside = (whole >= low) & (whole < high)
        if not inside.any():
            continue
        value = whole[inside].astype(np.int64) if high <= 2**63 else whole[inside]
        scaled = (value * per_unit // divisor).astype(np.int64)
        if kept:
            scaled = scaled + fraction[inside] // 10 ** (9 - kept)
        micros[rows[inside]] = scaled
        ok[rows[inside]] = True


def _parse_iso(text: pa.Array, micros: np.ndarray, ok: np.ndarray) -> None:
    """Fill ``micros``/``ok`` for the rows that are ISO-like date-times.

    The common shape (``YYYY-MM-DD[T ]HH:MM:SS[.f]``, optional ``Z``) is cut at fixed
    positions; only the other rows pay for the general extraction with its groups.
    """
    strict = np.asarray(pc.fill_null(pc.match_substring_regex(text, _STRICT_RE2), False))
    if strict.any():
        rows = np.flatnonzero(strict)
        _fill_iso(rows, _strict_parts(pc.take(text, pa.array(rows))), micros, ok)
    rest = np.flatnonzero(~strict & ~ok)
    if not rest.size:
        return
    found = pc.extract_regex(pc.take(text, pa.array(rest)), _ISO_RE2)
    matched = np.asarray(pc.fill_null(pc.is_valid(found), False))
    if matched.any():
        rows = rest[matched]
        _fill_iso(rows, _group_parts(pc.filter(found, pa.array(matched))), micros, ok)


#: The shape most feeds use, parsed by position: a subset of ``_ISO_BODY``.
_STRICT_RE2: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z?$"
)


def _numbers(strings: pa.Array) -> np.ndarray:
    """Digit strings (``""`` read as 0) as int64."""
    strings = pc.if_else(pc.equal(strings, ""), pa.scalar("0", strings.type), strings)
    result: np.ndarray = np.asarray(pc.cast(strings, pa.int64()))
    return result


def _fraction(strings: pa.Array) -> np.ndarray:
    """Fraction digits (up to nine, ``""`` for none) as nanoseconds."""
    result: np.ndarray = np.asarray(
        pc.cast(pc.utf8_rpad(strings, width=9, padding="0"), pa.int64())
    )
    return result


def _strict_parts(rows: pa.Array) -> dict[str, np.ndarray]:
    """Parts of strict-shape rows, read straight from the ASCII bytes by position."""
    offset_type = np.int64 if pa.types.is_large_string(rows.type) else np.int32
    _, offsets_buffer, data_buffer = rows.buffers()
    offsets = np.frombuffer(offsets_buffer, offset_type)[rows.offset : rows.offset + len(rows) + 1]
    data = (
        np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
    )
    start, stop = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    stop = stop - (data[np.maximum(stop - 1, 0)] == ord("Z"))

    def number(first: int, width: int) -> np.ndarray:
        value = np.zeros(len(start), np.int64)
        for position in range(first, first + width):
            value = value * 10 + (data[start + position].astype(np.int64) - ord("0"))
        return value

    fraction = np.zeros(len(start), np.int64)
    for k in range(9):
        present = start + 20 + k < stop
        digit = data[np.where(present, start + 20 + k, 0)].astype(np.int64) - ord("0")
        fraction = fraction * 10 + np.where(present, digit, 0)
    zeros = np.zeros(len(start), np.int64)
    return {
        "y": number(0, 4),
        "mo": number(5, 2),
        "d": number(8, 2),
        "h": number(11, 2),
        "mi": number(14, 2),
        "s": number(17, 2),
        "f": fraction,
        "zh": zeros,
        "zm": zeros,
        "negative": np.zeros(len(start), np.bool_),
    }


def _group_parts(found: pa.Array) -> dict[str, np.ndarray]:
    parts = {name: _numbers(pc.struct_field(found, name)) for name in _NUMBER_GROUPS}
    parts["f"] = _fraction(pc.struct_field(found, "f"))
    parts["negative"] = np.asarray(pc.equal(pc.struct_field(found, "sign"), "-"))
    return parts


_NUMBER_GROUPS: Final = ("y", "mo", "d", "h", "mi", "s", "zh", "zm")


def _fill_iso(
    rows: np.ndarray, parts: dict[str, np.ndarray], micros: np.ndarray, ok: np.ndarray
) -> None:
    """Validate calendar parts and store their UTC microseconds at ``rows``."""
    year, month, day = parts["y"], parts["mo"], parts["d"]
    hour, minute, second = parts["h"], parts["mi"], parts["s"]
    zone_hours, zone_minutes = parts["zh"], parts["zm"]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days_in_month = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    valid = (
        (year >= 1)
        & month_ok
        & (day >= 1)
        & (day <= days_in_month)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
        & (zone_hours <= 23)
        & (zone_minutes <= 59)
    )
    offset = (zone_hours * 3600 + zone_minutes * 60) * np.where(parts["negative"], -1, 1)
    seconds = _days_from_civil(year, np.where(month_ok, month, 1), day) * 86_400
    seconds = seconds + hour * 3600 + minute * 60 + second - offset
    value = seconds * 1_000_000 + parts["f"] // 1_000
    valid &= (value >= _MIN_US) & (value <= _MAX_US)
    micros[rows[valid]] = value[valid]
    ok[rows[valid]] = True


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    result: np.ndarray = era * 146_097 + day_of_era - 719_468
    return result
