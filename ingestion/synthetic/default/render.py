"""Rendering integer-coded events as text: ids, IPs, phones, emails, addresses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from graph_service.typing import I64, BoolArray
from ingestion.schema import EVENT_SCHEMA, TIMESTAMP
from ingestion.synthetic.default.events import I8, IP_INDEX_MASK, EventBatch
from ingestion.synthetic.default.population import Population
from ingestion.synthetic.default.tables import (
    ADDRESS_STYLES,
    FIRST_NAMES,
    GMAIL,
    GOOGLEMAIL,
    HOUSE_NUMBERS,
    LAST_NAMES,
    LAYOUT_INDEX,
    MAIL_DOMAINS,
    MAIL_TAGS,
    N_NAME_COMBOS,
    PHONE_ALLOWED,
    PHONE_TRUNK,
    POSTCODE_LETTERS,
    STREET_TYPES,
    STREETS,
    TOWNS,
    V_AREAS,
    V_COUNTRIES,
    V_DOMAINS,
    V_EVENT_TYPES,
    V_FIRST,
    V_LAST,
    V_OS,
    V_PHONE_PREFIX,
    V_PHONE_SEPARATORS,
    V_SEPARATORS,
    V_SPACES,
    V_STREET_TYPES,
    V_STREETS,
    V_TAGS,
    V_TOWNS,
    V_UNITS,
)
from ingestion.synthetic.hashing import splitmix
from ingestion.synthetic.text import (
    Text,
    Vocab,
    blank_unless,
    const_text,
    decimal_text,
    digit_planes,
    dotted_quads,
    hex_text,
    identifier_text,
    optional_array,
    string_array,
)


def render(population: Population, batch: EventBatch, first_event: int) -> pa.Table:
    """Turn an integer-coded batch into a table of ``EVENT_SCHEMA``."""
    n = len(batch)
    every = np.arange(n, dtype=np.int64)
    columns: dict[str, pa.Array] = {
        "event_id": string_array(n, [(every, [identifier_text("E", first_event + every, 12)])]),
        "ts": pa.Array.from_buffers(TIMESTAMP, n, [None, pa.py_buffer(batch.ts.copy())]),
        "event_type": V_EVENT_TYPES.arrow.take(pa.array(batch.etype)),
        "account_id": account_ids(population, every, batch.account),
        "counterparty_account_id": account_ids(
            population, np.flatnonzero(batch.counterparty >= 0), batch.counterparty
        ),
    }

    at = np.flatnonzero(batch.device >= 0)
    device = batch.device[at]
    columns["device_id"] = string_array(
        n, [(at, [identifier_text("D", population.scramble_device(device), 10)])]
    )
    emulator, rooted, os = population.device_attributes(device)
    columns["is_emulator"] = optional_array(n, at, emulator, np.bool_)
    columns["is_rooted"] = optional_array(n, at, rooted, np.bool_)
    columns["os"] = V_OS.arrow_take(n, at, os)

    at = np.flatnonzero(batch.ip >= 0)
    columns["ip"], proxy, asn, country = _ips(population, n, at, batch.ip[at])
    columns["is_proxy"] = optional_array(n, at, proxy, np.bool_)
    columns["asn"] = optional_array(n, at, asn, np.int64)
    columns["country"] = V_COUNTRIES.arrow_take(n, at, country)

    at = np.flatnonzero(batch.phone >= 0)
    columns["phone"] = _phones(population, n, at, batch.phone[at], batch.phone_fmt[at])
    at = np.flatnonzero(batch.email >= 0)
    columns["email"] = _emails(population, n, at, batch.email[at], batch.email_var[at])
    at = np.flatnonzero(batch.address >= 0)
    columns["address"] = _addresses(population, n, at, batch.address[at], batch.address_var[at])

    at = np.flatnonzero(batch.card >= 0)
    columns["card_id"] = string_array(
        n, [(at, [identifier_text("C", population.scramble_card(batch.card[at]), 12)])]
    )
    at = np.flatnonzero(batch.merchant >= 0)
    merchant = population.scramble_merchant(batch.merchant[at])
    columns["merchant_id"] = string_array(n, [(at, [identifier_text("M", merchant, 7)])])
    at = np.flatnonzero(~np.isnan(batch.amount))
    columns["amount"] = optional_array(n, at, batch.amount[at], np.float64)
    currency = Vocab([population.region.currency])
    columns["currency"] = currency.arrow_take(n, at, np.zeros(at.size, np.int64))
    return pa.Table.from_arrays([columns[name] for name in EVENT_SCHEMA.names], schema=EVENT_SCHEMA)


def account_ids(population: Population, at: I64, account: I64) -> pa.Array:
    rows = account.size
    number = population.scramble_account(account[at])
    return string_array(rows, [(at, [identifier_text("A", number, 9)])])


def _ips(
    population: Population, rows: int, at: I64, code: I64
) -> tuple[pa.Array, BoolArray, I64, I64]:
    """IP strings (dotted quads, or IPv6 for some homes) and their attributes.

    IPs repeat a lot (NAT, VPN, homes), so each distinct one is rendered once.
    """
    distinct, inverse = np.unique(code, return_inverse=True)
    value, proxy, asn, country = population.ip_attributes(distinct)
    # Render IPv4 first, then IPv6; ``rank`` maps each distinct code to its string.
    v4 = np.flatnonzero(value >= 0)
    v6 = np.flatnonzero(value < 0)
    four = value[v4]
    text = dotted_quads(four)
    if v6.size:
        slot = population.scramble_home(distinct[v6] & IP_INDEX_MASK)
        prefixes = Vocab([isp.ipv6_prefix for isp in population.region.isps])
        k = slot.size
        six = [
            prefixes.take(slot & 3),
            hex_text(slot >> 12, 4),
            const_text(":", k),
            hex_text(0x1000 | (slot & 0xFFF), 4),  # never 0, so "::" compresses only the tail
            const_text("::1", k),
        ]
        text = pa.concat_arrays([text, string_array(k, [(np.arange(k), six)])])
    rank = np.empty(distinct.size, np.int64)
    rank[np.concatenate([v4, v6])] = np.arange(distinct.size)
    full = np.zeros(rows, np.int64)
    full[at] = rank[inverse]
    valid = np.zeros(rows, np.bool_)
    valid[at] = True
    strings = text.take(pa.array(full, mask=~valid))
    return strings, proxy[inverse], asn[inverse], country[inverse]


def _phones(population: Population, rows: int, at: I64, code: I64, fmt: I8) -> pa.Array:
    """Phone numbers in one of the layouts valid for the default region."""
    region = population.region.country
    k = code.size
    gb = code // PHONE_TRUNK == 44
    nsn = code % PHONE_TRUNK
    layout = np.empty(k, np.int64)
    for country, mask in (("GB", gb), ("US", ~gb)):
        allowed = PHONE_ALLOWED[(country, region)]
        table = np.asarray([LAYOUT_INDEX[(country, name)] for name in allowed], np.int64)
        layout[mask] = table[fmt[mask].astype(np.int64) % len(allowed)]
    digits = digit_planes(nsn, 10)
    parts: list[Text] = [V_PHONE_PREFIX.take(layout)]
    for position in range(10):
        parts.append(Text(digits[position : position + 1], None))
        parts.append(V_PHONE_SEPARATORS.take(layout * 10 + position))
    return string_array(rows, [(at, parts)])


def _emails(population: Population, rows: int, at: I64, code: I64, variant: I8) -> pa.Array:
    """Email addresses in one of the spellings of ``EMAIL_VARIANTS``."""
    k = code.size
    domain = code & 15
    scrambled = population.scramble_mailbox(code >> 4)
    combo, suffix = scrambled % N_NAME_COMBOS, scrambled // N_NAME_COMBOS
    n_first, n_last = len(FIRST_NAMES), len(LAST_NAMES)
    first = combo % n_first
    last = (combo // n_first) % n_last
    separator = combo // (n_first * n_last)
    gmail = (domain == GMAIL) | (domain == GOOGLEMAIL)
    var = np.where(gmail, variant, variant % 4).astype(np.int64)
    case = np.select([var == 1, var == 2], [1, 2], 0)
    first_style = np.where(var == 6, 3, case)
    separator = np.where((var == 4) & (separator == 0), 2, separator)
    domain = np.where(var == 7, np.where(domain == GMAIL, GOOGLEMAIL, GMAIL), domain)
    domain_case = np.select([case == 2, var == 3], [2, 1], 0)
    tag = np.where(var == 5, 1 + np.arange(k) % (len(MAIL_TAGS) - 1), 0)
    parts = [
        V_FIRST.take(first_style * n_first + first),
        V_SEPARATORS.take(separator),
        V_LAST.take(case * n_last + last),
        blank_unless(decimal_text(suffix), suffix > 0),
        V_TAGS.take(tag),
        const_text("@", k),
        V_DOMAINS.take(domain_case * len(MAIL_DOMAINS) + domain),
    ]
    return string_array(rows, [(at, parts)])


def _addresses(population: Population, rows: int, at: I64, code: I64, variant: I8) -> pa.Array:
    """Postal addresses (UK style) in one of the spellings of ``ADDRESS_STYLES``."""
    k = code.size
    scrambled = population.scramble_address(code)
    number = 1 + scrambled % HOUSE_NUMBERS
    rest = scrambled // HOUSE_NUMBERS
    street = rest % len(STREETS)
    rest //= len(STREETS)
    street_type = rest % len(STREET_TYPES)
    town = rest // len(STREET_TYPES)
    postcode = splitmix(scrambled, population.salts["address"])
    district = 1 + (postcode % np.uint64(28)).astype(np.int64)
    sector = ((postcode >> np.uint64(8)) % np.uint64(10)).astype(np.int64)
    unit = ((postcode >> np.uint64(16)) % np.uint64(len(POSTCODE_LETTERS) ** 2)).astype(np.int64)
    styles = np.asarray(ADDRESS_STYLES, np.int64)[variant.astype(np.int64)]
    case, abbreviated, spaced = styles[:, 0], styles[:, 1], styles[:, 2]
    lower_postcode = (case == 2).astype(np.int64)
    gap = V_SPACES.take(1 + spaced)
    n_types = len(STREET_TYPES)
    parts = [
        V_SPACES.take(spaced),
        decimal_text(number),
        gap,
        V_STREETS.take(case * len(STREETS) + street),
        const_text(" ", k),
        V_STREET_TYPES.take((case * 2 + abbreviated) * n_types + street_type),
        const_text(",", k),
        gap,
        V_TOWNS.take(case * len(TOWNS) + town),
        gap,
        V_AREAS.take(lower_postcode * len(TOWNS) + town),
        decimal_text(district),
        const_text(" ", k),
        decimal_text(sector),
        V_UNITS.take(lower_postcode * len(POSTCODE_LETTERS) ** 2 + unit),
        V_SPACES.take(spaced),
    ]
    return string_array(rows, [(at, parts)])
