"""Timestamp normaliser: the accepted forms, epochs of every magnitude, zones converted to
UTC, calendar checks, and scalar == vectorised on text, numbers and native timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.normalise import InvalidReason, InvalidValue
from ingestion.normalise.timestamps import (
    TIMESTAMP_TYPE,
    normalise_timestamp,
    normalise_timestamps,
)
from tests.ingestion.strategies import TEXT, assert_matches

INSTANT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02t03:04:05z",
        "2026-01-02T03:04:05",
        "2026-01-02 03:04:05",
        "2026-01-02T05:04:05+02:00",
        "2026-01-02T05:04:05+0200",
        "2026-01-02T05:04:05+02",
        "2026-01-02 05:04:05 +02:00",
        "2026-01-01T22:04:05-05:00",
        "2026-01-02 03:04:05 UTC",
        "2026-01-02 03:04:05 GMT",
        "2026/01/02 03:04:05",
        "2026-1-2 3:04:05",
        "2026-01-02T03:04:05.000000",
        "1767323045",
        "1767323045.0",
        "1767323045000",
        "1767323045000000",
        "1767323045000000000",
        " 1767323045 ",
    ],
)
def test_one_instant_in_every_accepted_form(raw: str) -> None:
    """ISO 8601 with or without zone, SQL and slash forms and epochs give one UTC instant."""
    assert normalise_timestamp(raw) == INSTANT
    assert normalise_timestamps(pa.array([raw]))[0].to_pylist() == [INSTANT]


def test_fractions_dates_and_native_values() -> None:
    """Fractions keep microseconds; a date is midnight UTC; native values pass through."""
    assert normalise_timestamp("2026-01-02T03:04:05.1234567Z") == INSTANT.replace(
        microsecond=123456
    )
    assert normalise_timestamp("2026-01-02T03:04:05,5") == INSTANT.replace(microsecond=500000)
    assert normalise_timestamp("1767323045.25") == INSTANT.replace(microsecond=250000)
    assert normalise_timestamp("1767323045123.9") == INSTANT.replace(microsecond=123900)
    assert normalise_timestamp("2026-01-02") == datetime(2026, 1, 2, tzinfo=UTC)
    assert normalise_timestamp(date(2026, 1, 2)) == datetime(2026, 1, 2, tzinfo=UTC)
    assert normalise_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == INSTANT
    paris = timezone(timedelta(hours=1))
    assert normalise_timestamp(datetime(2026, 1, 2, 4, 4, 5, tzinfo=paris)) == INSTANT
    assert normalise_timestamp(1767323045) == INSTANT
    assert normalise_timestamp(1767323045.0) == INSTANT


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "2026-02-30",
        "2026-13-01",
        "2026-01-02T24:00:00",
        "2026-01-02T23:59:60",
        "2026-01-02T03:04:05+24:00",
        "2026-01-02T03:04:05+02:60",
        "0000-01-01",
        "01/02/2026",
        "26-01-02",
        "2026",
        "20260102",
        "-1767323045",
        "+1767323045",
        "1" * 20,
        "2026-01-02T03:04:05.1234567890",
        True,
        float("nan"),
        -5,
    ],
)
def test_invalid_timestamps_are_bad_timestamp(raw: object) -> None:
    """Impossible, ambiguous and tiny-epoch values raise InvalidValue(bad_timestamp)."""
    with pytest.raises(InvalidValue) as caught:
        normalise_timestamp(raw)  # type: ignore[arg-type]
    assert caught.value.reason is InvalidReason.TIMESTAMP


@settings(deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1974, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
)
def test_epochs_of_one_instant_agree(moment: datetime) -> None:
    """Epoch seconds, milliseconds, microseconds and nanoseconds (integers or text) of the
    same instant give the same timestamp, truncated to the unit's precision."""
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    seconds = moment.replace(microsecond=0)
    millis = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    cases = [
        (micros // 1_000_000, seconds),
        (micros // 1_000, millis),
        (micros, moment),
        (micros * 1_000, moment),
    ]
    for value, expected in cases:
        assert normalise_timestamp(value) == expected
        assert normalise_timestamp(str(value)) == expected
    values = [value for value, _ in cases]
    expected_all = [e for _, e in cases]
    assert normalise_timestamps(pa.array(values, pa.int64()))[0].to_pylist() == expected_all
    assert normalise_timestamps(pa.array([str(v) for v in values]))[0].to_pylist() == expected_all


OFFSETS = st.tuples(st.sampled_from([-1, 1]), st.integers(0, 23), st.integers(0, 59))


@settings(deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30)),
    offset=OFFSETS,
    style=st.sampled_from(["{}T{}{}", "{} {}{}", "{} {} {}"]),
    colon=st.booleans(),
)
def test_offsets_convert_to_utc(
    moment: datetime, offset: tuple[int, int, int], style: str, colon: bool
) -> None:
    """A local time with a +HH:MM / +HHMM offset is the UTC instant it names."""
    sign, hours, minutes = offset
    zone = f"{'+' if sign > 0 else '-'}{hours:02d}{':' if colon else ''}{minutes:02d}"
    raw = style.format(moment.date().isoformat(), moment.time().isoformat(), zone)
    expected = moment.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    assert normalise_timestamp(raw) == expected.astimezone(UTC)
    assert normalise_timestamps(pa.array([raw]))[0].to_pylist() == [expected.astimezone(UTC)]


TIMESTAMP_TEXT = st.one_of(
    TEXT,
    st.lists(
        st.sampled_from(
            ["2026", "-", "/", "01", "1", "02", "29", "30", "31", "T", "t", " ", ":", "03", "59",
             "60", "24", ".", ",", "123456789", "Z", "z", "UTC", "+", "02", "00", "0000", "9999",
             "12", "1767323045", "000", "1"]
        ),
        max_size=14,
    ).map("".join),
    st.integers(0, 10**19).map(str),
    st.datetimes().map(lambda d: d.isoformat(sep=" ")),
)  # fmt: skip


@settings(deadline=None, max_examples=300)
@given(values=st.lists(st.one_of(st.none(), TIMESTAMP_TEXT), max_size=20))
def test_vectorised_equals_scalar_on_text(values: list[str | None]) -> None:
    """On any text, normalise_timestamps gives normalise_timestamp's answer and raise mask."""
    assert_matches(normalise_timestamp, normalise_timestamps, values)


@settings(deadline=None)
@given(
    ints=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=20),
    floats=st.lists(st.one_of(st.none(), st.floats(allow_nan=True), st.floats(1e8, 1e18))),
    moments=st.lists(st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))), max_size=10),
)
def test_vectorised_equals_scalar_on_numbers_and_timestamps(
    ints: list[int | None], floats: list[float | None], moments: list[datetime | None]
) -> None:
    """Integer, float, timestamp and date columns give the scalar's answers."""
    assert_matches(normalise_timestamp, normalise_timestamps, ints, pa.int64())
    assert_matches(normalise_timestamp, normalise_timestamps, floats, pa.float64())
    assert_matches(normalise_timestamp, normalise_timestamps, moments, TIMESTAMP_TYPE)
    naive = [None if m is None else m.replace(tzinfo=None) for m in moments]
    assert_matches(normalise_timestamp, normalise_timestamps, naive, pa.timestamp("us"))
    days = [None if m is None else m.date() for m in moments]
    assert_matches(normalise_timestamp, normalise_timestamps, days, pa.date32())


@settings(deadline=None)
@given(values=st.lists(st.one_of(st.none(), TIMESTAMP_TEXT), max_size=10))
def test_normalising_twice_changes_nothing(values: list[str | None]) -> None:
    """A normalised timestamp normalises to itself."""
    for value in values:
        try:
            once = normalise_timestamp(value)
        except InvalidValue:
            continue
        assert normalise_timestamp(once) == once
