"""Spell a batch of coded events as the bank's feed does: all-text CSV columns.

With mixed formats, timestamps are ISO 8601 with ``Z`` or with the customer's offset,
naive UTC, epoch seconds or epoch milliseconds; booleans are ``true/yes/Y/1/t`` (and
their negatives) in mixed case; ASNs are ``AS209``, ``as209`` or ``209``; countries are
``US``, ``us``, ``USA`` or ``United States``; phones, emails and addresses vary as
:mod:`ingestion.synthetic.hard.spelling` describes; a few rows carry one malformed
optional field and a few are re-sent verbatim. Canonical formats spell every value one
way: E.164, integer ASNs, ``true/false``, ISO-8601 UTC with milliseconds.

Every per-row choice is a hash of the row's event number, so rendering is deterministic
whatever the thread that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from graph_service.typing import F64, I64, U8, BoolArray
from ingestion.schema import EVENT_SCHEMA, EventType
from ingestion.synthetic.hard.config import HardScenarioConfig
from ingestion.synthetic.hard.events import (
    ANDROID,
    DAY,
    DEV_BRANCH,
    DEV_CALL_CENTRE,
    DEV_FAMILY,
    DEV_PERSONAL,
    DEV_RING,
    IOS,
    IPADOS,
    MACOS,
    OS_NAMES,
    WINDOWS,
    EventBatch,
    index_of,
    kind_of,
)
from ingestion.synthetic.hard.networks import ip_attributes, ip_text
from ingestion.synthetic.hard.spelling import addresses, emails, phones
from ingestion.synthetic.hard.tables import COUNTRIES, US
from ingestion.synthetic.hard.world import World
from ingestion.synthetic.hashing import derive_salt, hashed_unit, splitmix
from ingestion.synthetic.text import (
    Text,
    Vocab,
    blank_unless,
    const_text,
    decimal_text,
    digit_planes,
    identifier_text,
    string_array,
)

__all__ = ["Rendered", "account_ids", "device_attributes", "render", "write_csv"]

_V_EVENT_TYPES: Final = Vocab([t.value for t in EventType])
_V_OS: Final = Vocab(OS_NAMES)
#: Boolean spellings: (true, false) per form, each in lower and upper case.
_BOOLEAN_FORMS: Final = (("true", "false"), ("yes", "no"), ("y", "n"), ("1", "0"), ("t", "f"))
_V_BOOLEANS: Final = Vocab(
    [f(pair[value]) for pair in _BOOLEAN_FORMS for value in (0, 1) for f in (str.lower, str.upper)]
)
_GARBLED_BOOLEANS: Final = ("ture", "flase", "yess", "2", "-1", "tru", "N0", "nope")
_V_COUNTRIES: Final = Vocab(
    [c.alpha2 for c in COUNTRIES]
    + [c.alpha2.lower() for c in COUNTRIES]
    + [c.alpha3 for c in COUNTRIES]
    + [c.name for c in COUNTRIES]
)
_V_ASN_PREFIX: Final = Vocab(["AS", "as", ""])
#: Date-time separator and zone suffix by timestamp form (suffix 2/3: offset sign).
_V_SEPARATORS: Final = Vocab(["T", "T", " ", "", ""])
_V_SUFFIXES: Final = Vocab(["Z", "", "+", "-"])
_TS_ISO_Z, _TS_OFFSET, _TS_NAIVE, _TS_EPOCH_S, _TS_EPOCH_MS = range(5)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered part: the CSV table and what it holds beyond the events."""

    table: pa.Table
    duplicates: int
    malformed: int


class _Draws:
    """Per-row uniform draws keyed by event number and purpose (each computed once)."""

    def __init__(self, seed: int, numbers: I64) -> None:
        self.seed = seed
        self.numbers = numbers
        self._cache: dict[str, F64] = {}

    def __call__(self, purpose: str) -> F64:
        drawn = self._cache.get(purpose)
        if drawn is None:
            salt = derive_salt(self.seed, f"render/{purpose}")
            drawn = self._cache[purpose] = hashed_unit(self.numbers, salt)
        return drawn


def _choose(u: F64, weights: tuple[float, ...]) -> I64:
    cdf = np.cumsum(weights, dtype=np.float64)
    return np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(weights) - 1)


def render(world: World, batch: EventBatch, first_event: int) -> Rendered:
    """Turn a coded batch into a table of all-text event columns (schema order).

    Parameters
    ----------
    world : World
    batch : EventBatch
        Time-sorted events of one part.
    first_event : int
        Number of the batch's first event; event ``i`` is number ``first_event + i``.
        Re-sent copies carry their original's number, hence its id and spelling.

    Returns
    -------
    Rendered
        The table (``EVENT_SCHEMA`` column names, all strings, nulls for absent values)
        and how many re-sent and malformed rows it holds.
    """
    config = world.config
    mixed = config.mixed_formats
    formats = config.formats
    number = first_event + np.arange(len(batch), dtype=np.int64)
    duplicates = 0
    if config.duplicate_fraction > 0 and len(batch):
        order = _resent(_Draws(config.seed, number), config.duplicate_fraction)
        duplicates = order.size - len(batch)
        batch, number = batch.take(order), number[order]
    n = len(batch)
    every = np.arange(n, dtype=np.int64)
    draw = _Draws(config.seed, number)
    columns: dict[str, pa.Array] = {
        "event_id": string_array(n, [(every, [identifier_text("E", number, 12)])]),
        "ts": _timestamps(world, batch, draw, mixed, config),
        "event_type": _V_EVENT_TYPES.arrow.take(pa.array(batch.etype)),
        "account_id": _accounts(world, every, batch.account),
    }
    at = np.flatnonzero(batch.counterparty >= 0)
    columns["counterparty_account_id"] = _accounts(world, at, batch.counterparty, n)

    at = np.flatnonzero(batch.device >= 0)
    device = batch.device[at]
    number_of_device = kind_of(device) * 10**9 + index_of(device)
    columns["device_id"] = string_array(
        n, [(at, [identifier_text("D", world.scramble_device(number_of_device), 10)])]
    )
    emulator, rooted, os = device_attributes(world, device)
    style = _boolean_style(draw, at, mixed, formats.boolean_weights, formats.boolean_upper_share)
    columns["is_emulator"] = _words(n, at, _V_BOOLEANS, style + 2 * (~emulator))
    columns["is_rooted"] = _words(n, at, _V_BOOLEANS, style + 2 * (~rooted))
    columns["os"] = _words(n, at, _V_OS, os)

    at = np.flatnonzero(batch.ip >= 0)
    columns["ip"] = ip_text(world, n, at, batch.ip[at])
    asn, country, proxy = ip_attributes(world, batch.ip[at])
    known = proxy >= 0
    style = _boolean_style(draw, at, mixed, formats.boolean_weights, formats.boolean_upper_share)
    columns["is_proxy"] = _words(n, at[known], _V_BOOLEANS, (style + 2 * (proxy == 0))[known])
    asn_form = _choose(draw("asn")[at], formats.asn_weights) if mixed else np.full(at.size, 2)
    columns["asn"] = string_array(n, [(at, [_V_ASN_PREFIX.take(asn_form), decimal_text(asn)])])
    row_country = world.country[batch.account].astype(np.int64)
    row_country[at] = country
    form = _choose(draw("country"), formats.country_weights) if mixed else np.zeros(n, np.int64)
    columns["country"] = _V_COUNTRIES.arrow.take(pa.array(form * len(COUNTRIES) + row_country))

    at = np.flatnonzero(batch.phone >= 0)
    national = (
        draw("phone")[at] < formats.national_phone_share if mixed else np.zeros(at.size, np.bool_)
    )
    columns["phone"] = phones(world, n, at, batch.phone[at], row_country[at], national, number[at])
    at = np.flatnonzero(batch.email >= 0)
    variant = world.email_pin[batch.account[at]].astype(np.int64)
    if mixed:
        again = draw("email")[at] < formats.email_respelled_share
        variant[again] = (splitmix(number[at[again]], world.salts["pins"]) % np.uint64(16)).astype(
            np.int64
        )
    else:
        variant[variant <= 3] = 0  # case is formatting; dots and tags are what was typed
    columns["email"] = emails(world, n, at, batch.email[at], variant.astype(np.int8))
    at = np.flatnonzero(batch.address >= 0)
    if mixed:
        spelling = world.address_pin[batch.account[at]].astype(np.int64)
        again = draw("address")[at] < formats.address_respelled_share
        spelling[again] = (
            splitmix(number[at[again]], world.salts["pins"]) % np.uint64(1_024)
        ).astype(np.int64)
    else:
        spelling = np.zeros(at.size, np.int64)
    columns["address"] = addresses(world, n, at, batch.address[at], spelling.astype(np.int16))

    at = np.flatnonzero(batch.card >= 0)
    card = batch.card[at]
    columns["card_id"] = string_array(
        n,
        [
            (
                at,
                [
                    identifier_text(
                        "C", world.scramble_card(kind_of(card) * 10**11 + index_of(card)), 12
                    )
                ],
            )
        ],
    )
    at = np.flatnonzero(batch.merchant >= 0)
    merchant = world.scramble_merchant(batch.merchant[at])
    columns["merchant_id"] = string_array(n, [(at, [identifier_text("M", merchant, 7)])])
    at = np.flatnonzero(~np.isnan(batch.amount))
    cents = np.round(batch.amount[at] * 100).astype(np.int64)
    columns["amount"] = string_array(
        n,
        [
            (
                at,
                [
                    decimal_text(cents // 100),
                    const_text(".", at.size),
                    decimal_text(cents % 100, 2),
                ],
            )
        ],
    )
    columns["currency"] = string_array(n, [(at, [const_text("USD", at.size)])])

    malformed = 0
    if mixed and formats.malformed_fraction > 0:
        malformed = _malform(columns, batch, draw, formats.malformed_fraction)
    table = pa.table({name: columns[name] for name in EVENT_SCHEMA.names})
    return Rendered(table, duplicates, malformed)


def _words(rows: int, at: I64, vocab: Vocab, index: I64) -> pa.Array:
    """``vocab`` words at rows ``at``, null elsewhere."""
    return string_array(rows, [(at, [vocab.take(index)])])


def _accounts(world: World, at: I64, account: I64, rows: int | None = None) -> pa.Array:
    number = world.scramble_account(account[at])
    return string_array(
        account.size if rows is None else rows, [(at, [identifier_text("A", number, 9)])]
    )


def _boolean_style(
    draw: _Draws, at: I64, mixed: bool, weights: tuple[float, ...], upper: float
) -> I64:
    """Index of the spelling of ``true`` (add 2 for ``false``) of each row."""
    if not mixed:
        return np.zeros(at.size, np.int64)
    form = _choose(draw("boolean")[at], weights)
    return form * 4 + (draw("boolean_case")[at] < upper)


def device_attributes(world: World, device: I64) -> tuple[BoolArray, BoolArray, I64]:
    """``(is_emulator, is_rooted, os)`` of each device code."""
    kind = kind_of(device)
    index = index_of(device)
    n = device.size
    emulator = np.zeros(n, np.bool_)
    rooted = np.zeros(n, np.bool_)
    os = np.full(n, WINDOWS, np.int64)
    personal = kind == DEV_PERSONAL
    person = index >> 4
    slot = (index >> 2) & 3
    salt = world.salts["device_traits"]
    u = hashed_unit(index, salt)
    ios_share = np.where(world.country[np.where(personal, person, 0)] == US, 0.55, 0.3)
    phone = personal & (slot == 0)
    os = np.where(phone, np.where(u < ios_share, IOS, ANDROID), os)
    rooted = (
        phone
        & (os == ANDROID)
        & (hashed_unit(index, world.salts["rooted"]) < world.config.rooted_device_fraction)
    )
    second = personal & (slot == 1)
    os = np.where(second, np.select([u < 0.45, u < 0.7], [WINDOWS, MACOS], IPADOS), os)
    emulator = personal & (slot == 2)
    os = np.where(emulator, ANDROID, os)
    os = np.where(kind == DEV_FAMILY, np.where(u < 0.6, IPADOS, WINDOWS), os)
    os = np.where(kind == DEV_BRANCH, IPADOS, os)
    os = np.where(kind == DEV_CALL_CENTRE, WINDOWS, os)
    ring = np.flatnonzero(kind == DEV_RING)
    if ring.size:
        reg = world.registry
        j = index[ring]
        emulator[ring] = np.asarray(reg.device_emulator, np.bool_)[j]
        rooted[ring] = np.asarray(reg.device_rooted, np.bool_)[j]
        os[ring] = np.asarray(reg.device_os, np.int64)[j]
    return emulator, rooted, os


# -- timestamps -----------------------------------------------------------------------


def _civil(days: I64) -> tuple[I64, I64, I64]:
    """(year, month, day) of days since 1970-01-01 (proleptic Gregorian)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _planes(parts: list[U8]) -> U8:
    return np.concatenate(parts)


def _date_matrix(first: int, count: int) -> U8:
    """``YYYY-MM-DD`` of ``count`` days from day number ``first``, as (10, count) bytes."""
    year, month, day = _civil(np.arange(first, first + count, dtype=np.int64))
    dash = np.full((1, count), ord("-"), np.uint8)
    return _planes(
        [digit_planes(year, 4), dash, digit_planes(month, 2), dash, digit_planes(day, 2)]
    )


def _time_matrix() -> U8:
    """``HH:MM:SS`` of every second of a day, as (8, 86400) bytes."""
    second = np.arange(86_400, dtype=np.int64)
    colon = np.full((1, second.size), ord(":"), np.uint8)
    return _planes(
        [
            digit_planes(second // 3_600, 2),
            colon,
            digit_planes(second // 60 % 60, 2),
            colon,
            digit_planes(second % 60, 2),
        ]
    )


_TIMES_OF_DAY: Final = _time_matrix()


def _clock(us: I64, separator: str, millis: bool) -> list[Text]:
    """``YYYY-MM-DD<sep>HH:MM:SS[.mmm]`` fragments of microsecond times.

    Dates and times of day repeat, so each is gathered from a table of its spellings.
    """
    k = us.size
    days = us // DAY
    first = int(days.min()) if k else 0
    span = int(days.max()) - first + 1 if k else 1
    parts = [
        Text(_date_matrix(first, span)[:, days - first], None),
        const_text(separator, k),
        Text(_TIMES_OF_DAY[:, (us % DAY) // 1_000_000], None),
    ]
    if millis:
        parts += [const_text(".", k), Text(digit_planes(us // 1_000 % 1_000, 3), None)]
    return parts


def _timestamps(
    world: World, batch: EventBatch, draw: _Draws, mixed: bool, config: HardScenarioConfig
) -> pa.Array:
    """Timestamps in the row's format, assembled in one pass (every fragment for every
    row, kept where the format uses it)."""
    n = len(batch)
    ts = batch.ts
    every = np.arange(n, dtype=np.int64)
    if not mixed:
        return string_array(n, [(every, [*_clock(ts, "T", True), const_text("Z", n)])])
    form = _choose(draw("timestamp"), config.formats.timestamp_weights)
    offset_rows = np.flatnonzero(form == _TS_OFFSET)
    offset = np.zeros(n, np.int64)
    household = world.household[batch.account[offset_rows]].astype(np.int64)
    offset[offset_rows] = world.utc_offset(household, ts[offset_rows])
    local = ts + offset * 60_000_000
    calendar = form <= _TS_NAIVE
    date, _, time_of_day, *millis = _clock(local, "T", True)
    with_ms = (form == _TS_ISO_Z) & (draw("timestamp_ms") < 0.5)
    epoch = np.where(form == _TS_EPOCH_S, ts // 1_000_000, ts // 1_000)
    magnitude = np.abs(offset)
    on_offset = form == _TS_OFFSET
    parts = [
        blank_unless(date, calendar),
        _V_SEPARATORS.take(form),
        blank_unless(time_of_day, calendar),
        *(blank_unless(t, with_ms) for t in millis),
        _V_SUFFIXES.take(np.where(on_offset, 2 + (offset < 0), np.minimum(form, 1))),
        blank_unless(Text(digit_planes(magnitude // 60, 2), None), on_offset),
        blank_unless(const_text(":", n), on_offset),
        blank_unless(Text(digit_planes(magnitude % 60, 2), None), on_offset),
        blank_unless(decimal_text(epoch), ~calendar),
    ]
    return string_array(n, [(every, parts)])


# -- feed defects ---------------------------------------------------------------------


def _malform(columns: dict[str, pa.Array], batch: EventBatch, draw: _Draws, fraction: float) -> int:
    """Spoil one optional field (ASN, phone or a flag) in a share ``fraction`` of all
    rows, picked among the rows that have one; return how many rows."""
    present = np.stack([batch.ip >= 0, batch.phone >= 0, batch.device >= 0])
    options = present.sum(axis=0)
    eligible = options > 0
    rate = min(1.0, fraction * len(batch) / max(int(eligible.sum()), 1))
    bad = eligible & (draw("malformed") < rate)
    # The k-th field present in the row, k uniform over the fields it has.
    k = (draw("malformed_field") * np.maximum(options, 1)).astype(np.int64)
    which = np.argmax(np.cumsum(present, axis=0) > k, axis=0)
    spoiled = 0
    for which_field, field in enumerate(("asn", "phone", "is_rooted")):
        rows = np.flatnonzero(bad & (which == which_field))
        if not rows.size:
            continue
        if field == "asn":
            replacement = pa.array(["ASX"] * rows.size, pa.string())
        elif field == "phone":  # a number cut to its last four digits
            replacement = pc.utf8_slice_codeunits(columns[field].take(pa.array(rows)), -4)
        else:
            garbled = pa.array(_GARBLED_BOOLEANS, pa.string())
            replacement = garbled.take(pa.array(draw.numbers[rows] % len(_GARBLED_BOOLEANS)))
        mask = np.zeros(len(batch), np.bool_)
        mask[rows] = True
        columns[field] = pc.replace_with_mask(columns[field], pa.array(mask), replacement)
        spoiled += rows.size
    return spoiled


def _resent(draw: _Draws, fraction: float) -> I64:
    """Row order with a share of the rows repeated a little later (a re-sent message)."""
    n = draw.numbers.size
    copies = np.flatnonzero(draw("duplicate") < fraction)
    later = np.minimum(copies + 1 + (draw("duplicate_gap")[copies] * 500).astype(np.int64), n - 1)
    key = np.concatenate([np.arange(n, dtype=np.int64) * 2, later * 2 + 1])
    source = np.concatenate([np.arange(n, dtype=np.int64), copies])
    return source[np.argsort(key, kind="stable")]


# -- files ----------------------------------------------------------------------------


def account_ids(world: World, accounts: I64) -> pa.Array:
    """Account id strings (``A`` and nine digits) of account numbers."""
    return _accounts(world, np.arange(accounts.size, dtype=np.int64), accounts)


def write_csv(table: pa.Table, path: Path) -> None:
    """Write a CSV file atomically: readers skip the hidden partial file.

    Parameters
    ----------
    table : pyarrow.Table
    path : Path
        Where the file ends up; ``.<name>.partial`` beside it while writing.
    """
    partial = path.with_name(f".{path.name}.partial")
    pacsv.write_csv(table, partial, pacsv.WriteOptions(quoting_style="needed"))
    partial.replace(path)
