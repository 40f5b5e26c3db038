"""Turning the world into the files a bank would hand over: text in the forms feeds carry.

Entities are rendered once into small dictionaries of spellings (a phone in four national
formats and two E.164 ones, an address in six styles...); each event then takes a spelling
by index, and Arrow gathers the strings, so the cost per event stays a few array lookups.

Forms used: phones national for the row's country (``(646) 279-7153``, ``6462797153``,
``646-279-7153``, ``646.279.7153``, ``07400 123456``, ``55 1234 5678``) and E.164 otherwise
or now and then (``+16462797153``, ``+1 646-279-7153``); ASNs as ``AS7922`` (mostly on
signups and logins) or ``7922`` (mostly on payments and transfers);
booleans as ``True``/``False``, ``true``/``false``, ``Y``/``N`` or ``1``/``0``; timestamps
in ISO 8601 UTC with ``Z`` or naive ``YYYY-MM-DD HH:MM:SS`` (UTC, mostly from the card
processor); addresses with full or abbreviated suffixes, ``Apt``/``#``/``Unit`` units,
state code or name, ZIP or ZIP+4, upper or lower case; emails as typed, lower or upper.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from benchmarks.crosscheck.geo import (
    CARRIERS,
    COUNTRIES,
    CURRENCIES,
    METROS,
    PHONE_COUNTRIES,
    ROUTING_NUMBERS,
    STREETS,
    SUFFIXES,
)
from benchmarks.crosscheck.identities import OS_NAMES, DeviceKind, country_index
from benchmarks.crosscheck.world import (
    EVENT_TYPE_NAMES,
    I64,
    NONE,
    EventType,
    World,
    unique_integers,
)
from ingestion.schema import EVENT_SCHEMA

_HEX4: Final = np.array([format(i, "04x") for i in range(65_536)])
_HEX: Final = np.array([format(i, "x") for i in range(65_536)])
_HEX_DIGITS: Final = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_BOOLS: Final = (("True", "False"), ("true", "false"), ("Y", "N"), ("1", "0"))
_BOOL_WEIGHTS: Final = np.array([0.4, 0.3, 0.15, 0.15])
_WEB: Final = int(DeviceKind.WINDOWS)
_WRITE: Final = pacsv.WriteOptions(quoting_style="needed")
#: Spellings per phone (four national, then two international) and per address.
PHONE_SPELLINGS: Final = 6
EMAIL_SPELLINGS: Final = 4
ADDRESS_SPELLINGS: Final = 6


def _text(part: object) -> pa.Array:
    """A string array (or scalar) from a Python string, Arrow array or numpy array."""
    if isinstance(part, str):
        return pa.scalar(part)
    if isinstance(part, pa.Array):
        return part
    values = np.asarray(part)
    if values.dtype.kind in "iu":
        return pc.cast(pa.array(values), pa.string())
    return pa.array(values.astype(str) if values.dtype.kind == "O" else values, type=pa.string())


def _join(*parts: object) -> pa.Array:
    """Element-wise concatenation of strings, arrays and numbers as text."""
    return pc.binary_join_element_wise(*[_text(p) for p in parts], "")


def _where(mask: np.ndarray, yes: object, no: object) -> pa.Array:
    return pc.if_else(pa.array(mask), _text(yes), _text(no))


def _slice(values: pa.Array, start: int, stop: int | None = None) -> pa.Array:
    return pc.utf8_slice_codeunits(values, start, stop if stop is not None else 1 << 30)


def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random version-4 UUID strings, lower-case."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX_DIGITS[raw >> 4]
    hexed[:, 1::2] = _HEX_DIGITS[raw & 15]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for lo, hi, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, at : at + hi - lo] = hexed[:, lo:hi]
    return pa.array(out.view("S36").ravel(), type=pa.binary()).cast(pa.string())


def _ips(world: World) -> pa.Array:
    reg = world.entities.ips
    v4 = reg.col("v4")
    prefix = reg.col("v6_prefix")
    octets = [pc.cast(pa.array((v4 >> shift) & 255), pa.string()) for shift in (24, 16, 8, 0)]
    dotted = pc.binary_join_element_wise(*octets, ".")
    heads = np.array([p for _, p in CARRIERS])[np.maximum(prefix, 0)]
    mixed = (v4 * 2_654_435_761) & 0xFFFF_FFFF
    groups = [
        _HEX[(v4 >> 48) & 0x3FFF], _HEX[(v4 >> 32) & 0xFFFF], _HEX[(v4 >> 16) & 0xFFFF],
        _HEX[v4 & 0xFFFF], _HEX[(mixed >> 16) & 0xFFFF], _HEX[mixed & 0xFFFF],
    ]  # fmt: skip
    v6 = pc.binary_join_element_wise(*[_text(g) for g in (heads, *groups)], ":")
    return _where(prefix >= 0, v6, dotted)


def _phones(world: World) -> pa.Array:
    """Spellings of every phone, spelling-major: four national, then two international."""
    reg = world.entities.phones
    country = reg.col("country").astype(np.int64)
    s = _text(reg.col("nsn"))
    a, e, line = _slice(s, 0, 3), _slice(s, 3, 6), _slice(s, 6, 10)
    nanp = [
        _join("(", a, ") ", e, "-", line), s, _join(a, "-", e, "-", line), _join(a, ".", e, ".", line),
        _join("+1", s), _join("+1 ", a, "-", e, "-", line),
    ]  # fmt: skip
    ma, mb, mc = _slice(s, 0, 2), _slice(s, 2, 6), _slice(s, 6, 10)
    mexico = [
        _join(ma, " ", mb, " ", mc), s, _join(ma, "-", mb, "-", mc), _join("(", ma, ") ", mb, " ", mc),
        _join("+52", s), _join("+52 ", ma, " ", mb, " ", mc),
    ]  # fmt: skip
    ga, gb = _slice(s, 0, 4), _slice(s, 4, 10)
    britain = [
        _join("0", ga, " ", gb), _join("0", s), _join("0", ga, " ", _slice(s, 4, 7), " ", _slice(s, 7, 10)),
        _join("0", ga, " ", gb), _join("+44", s), _join("+44 ", ga, " ", gb),
    ]  # fmt: skip
    forms = [
        _where(country <= 1, nanp[k], _where(country == 2, mexico[k], britain[k]))
        for k in range(PHONE_SPELLINGS)
    ]
    return pa.concat_arrays(forms)


def _emails(world: World) -> pa.Array:
    """Spellings of every email, spelling-major: as typed, lower, capitalised, upper."""
    reg = world.entities.emails
    local, domain = _text(reg.col("local")), _text(reg.col("domain"))
    typed = _join(local, "@", domain)
    capital = _join(pc.utf8_capitalize(local), "@", pc.utf8_capitalize(domain))
    return pa.concat_arrays([typed, pc.utf8_lower(typed), capital, pc.utf8_upper(typed)])


def _addresses(world: World) -> pa.Array:
    """Spellings of every street address, spelling-major, six styles."""
    reg = world.entities.addresses
    number = _text(reg.col("number"))
    street = _text(np.array(STREETS)[reg.col("street")])
    suffix = reg.col("suffix")
    full = _text(np.array([f for f, _ in SUFFIXES])[suffix])
    abbr = _text(np.array([a for _, a in SUFFIXES])[suffix])
    metro = reg.col("metro").astype(np.int64)
    city = _text(np.array([m.city for m in METROS])[metro])
    state = _text(np.array([m.state for m in METROS])[metro])
    state_name = _text(np.array([m.state_name for m in METROS])[metro])
    zip5 = pc.utf8_lpad(_text(reg.col("zip")), 5, "0")
    zip9 = _join(zip5, "-", reg.col("zip4"))
    unit = _text(reg.col("unit"))
    has = reg.col("unit") != ""

    def u(label: str) -> pa.Array:
        return _where(has, _join(label, unit), "")

    styles = [
        _join(number, " ", street, " ", full, u(" Apt "), ", ", city, ", ", state, " ", zip5),
        _join(number, " ", street, " ", abbr, u(" #"), ", ", city, ", ", state, " ", zip5),
        pc.utf8_upper(_join(number, " ", street, " ", abbr, u(" APT "), " ", city, " ", state, " ", zip9)),
        pc.utf8_lower(_join(number, " ", street, " ", abbr, ".", u(", apt. "), ", ", city, ", ", state_name, " ", zip5)),
        _join(number, " ", street, " ", abbr, u(" Unit "), ", ", city, " ", state, " ", zip9),
        _join(number, " ", street, " ", full, u(", Apt "), ", ", city, ", ", state_name, " ", zip5),
    ]  # fmt: skip
    return pa.concat_arrays(styles)


def _take(dictionary: pa.Array, index: np.ndarray) -> pa.Array:
    idx = pa.array(np.where(index < 0, 0, index), mask=index < 0, type=pa.int64())
    return dictionary.take(idx)


class Renderer:
    """Spelling dictionaries of one world, and per-event spelling choices."""

    def __init__(self, world: World) -> None:
        rng = world.rng("render")
        ent = world.entities
        n = world.customers.n
        self.world = world
        self.rng = rng
        self.account_ids = unique_integers(rng, n, 1_000_000_000, 10_000_000_000).astype(str)
        ext_numbers = unique_integers(rng, len(ent.externals), 10_000_000, 100_000_000_000)
        routing = np.array(ROUTING_NUMBERS)[ent.externals.col("routing")]
        self.accounts = _text(self.account_ids)
        self.counterparties = pa.concat_arrays([self.accounts, _join(routing, "-", ext_numbers)])
        self.devices = uuids(rng, len(ent.devices))
        self.ips = _ips(world)
        self.phones = _phones(world)
        self.emails = _emails(world)
        self.addresses = _addresses(world)
        tokens = ent.cards.col("token")
        self.cards = _join("ct_", *[_HEX4[(tokens >> shift) & 0xFFFF] for shift in (48, 32, 16, 0)])
        self.merchants = _text(unique_integers(rng, len(ent.merchants), 10**14, 10**15))
        self.address_style = rng.integers(0, ADDRESS_SPELLINGS, n)
        self.phone_country = np.array([country_index(code) for code, _, _ in PHONE_COUNTRIES])
        self.os_names = _text(np.array(OS_NAMES))

    def table(self, ev: dict[str, np.ndarray]) -> pa.Table:
        """Render events (integer columns, in export order) as a table of text columns."""
        rng = self.rng
        ent = self.world.entities
        n = ev["ts"].size
        account = ev["account"].astype(np.int64)
        device, ip = ev["device"].astype(np.int64), ev["ip"].astype(np.int64)
        has_ip = ip >= 0
        ip_country = np.where(has_ip, ent.ips.col("country")[np.maximum(ip, 0)], NONE)
        cols: dict[str, pa.Array] = {}
        cols["event_id"] = uuids(rng, n)
        cols["ts"] = _timestamps(rng, ev["ts"], ev["etype"])
        cols["event_type"] = _take(pa.array(EVENT_TYPE_NAMES), ev["etype"].astype(np.int64))
        cols["account_id"] = _take(self.accounts, account)
        cols["device_id"] = _take(self.devices, device)
        cols["ip"] = _take(self.ips, ip)
        cols["phone"] = _take(
            self.phones, self._phone_spelling(ev["phone"].astype(np.int64), ip_country)
        )
        email = ev["email"].astype(np.int64)
        style = rng.choice(EMAIL_SPELLINGS, size=n, p=[0.7, 0.15, 0.1, 0.05])
        cols["email"] = _take(
            self.emails, np.where(email >= 0, style * len(ent.emails) + email, NONE)
        )
        address = ev["address"].astype(np.int64)
        style = np.where(
            rng.random(n) < 0.75, self.address_style[account], rng.integers(0, ADDRESS_SPELLINGS, n)
        )
        cols["address"] = _take(
            self.addresses, np.where(address >= 0, style * len(ent.addresses) + address, NONE)
        )
        cols["card_id"] = _take(self.cards, ev["card"].astype(np.int64))
        cols["merchant_id"] = _take(self.merchants, ev["merchant"].astype(np.int64))
        cols["counterparty_account_id"] = _take(
            self.counterparties, ev["counterparty"].astype(np.int64)
        )
        cols["amount"], cols["currency"] = _money(rng, ev["cents"], ev["currency"].astype(np.int64))
        kind = np.where(device >= 0, ent.devices.col("kind")[np.maximum(device, 0)], NONE)
        app = (device >= 0) & (kind < _WEB)
        cols["is_emulator"] = _bools(rng, ent.devices.col("emulator"), device, app)
        cols["is_rooted"] = _bools(rng, ent.devices.col("rooted"), device, app)
        os = np.where(device >= 0, ent.devices.col("os")[np.maximum(device, 0)], NONE).astype(
            np.int64
        )
        os_text = _take(self.os_names, os)
        cols["os"] = pc.if_else(pa.array(rng.random(n) < 0.15), pc.utf8_lower(os_text), os_text)
        known = has_ip & (rng.random(n) > 0.03)
        cols["is_proxy"] = _bools(rng, ent.ips.col("proxy"), ip, known)
        asn = _text(np.where(has_ip, ent.ips.col("asn")[np.maximum(ip, 0)], 0).astype(np.int64))
        # The app's IP-intelligence vendor writes "AS7922"; the payments platform "7922".
        app_event = ev["etype"] <= int(EventType.LOGIN)
        prefixed = rng.random(n) < np.where(app_event, 0.85, 0.15)
        asn = pc.if_else(pa.array(prefixed), _join("AS", asn), asn)
        cols["asn"] = pc.if_else(pa.array(known), asn, pa.scalar(None, pa.string()))
        countries = _text(np.array(list(COUNTRIES) + [c.lower() for c in COUNTRIES]))
        lower_country = (rng.random(n) < 0.05) * len(COUNTRIES)
        cols["country"] = _take(countries, np.where(has_ip, ip_country + lower_country, NONE))
        return pa.table({name: cols[name] for name in EVENT_SCHEMA.names})

    def _phone_spelling(self, phone: I64, row_country: I64) -> I64:
        """National spelling when the phone belongs to the row's country, else E.164."""
        rng = self.rng
        n = phone.size
        own = self.phone_country[self.world.entities.phones.col("country")[np.maximum(phone, 0)]]
        national = (own == row_country) & (rng.random(n) < 0.85)
        spelling = np.where(
            national, rng.choice(4, size=n, p=[0.35, 0.35, 0.2, 0.1]), 4 + (rng.random(n) < 0.3)
        )
        return np.where(phone >= 0, spelling * len(self.world.entities.phones) + phone, NONE)


def _timestamps(rng: np.random.Generator, ts: I64, etype: np.ndarray) -> pa.Array:
    naive = pc.cast(pa.array(ts.astype("datetime64[s]")), pa.string())
    iso = pc.binary_join_element_wise(pc.utf8_replace_slice(naive, 10, 11, "T"), "Z", "")
    card_processor = etype == int(EventType.PAYMENT)
    use_naive = rng.random(ts.size) < np.where(card_processor, 0.3, 0.05)
    return pc.if_else(pa.array(use_naive), naive, iso)


def _money(rng: np.random.Generator, cents: I64, currency: I64) -> tuple[pa.Array, pa.Array]:
    has = cents >= 0
    whole = pc.cast(pa.array(np.maximum(cents, 0) // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(np.maximum(cents, 0) % 100), pa.string()), 2, "0")
    amount = pc.binary_join_element_wise(whole, frac, ".")
    amount = pc.if_else(pa.array(has), amount, pa.scalar(None, pa.string()))
    codes = _text(np.array(list(CURRENCIES) + [c.lower() for c in CURRENCIES]))
    lower = (rng.random(cents.size) < 0.05) * len(CURRENCIES)
    return amount, _take(codes, np.where(currency >= 0, currency + lower, NONE))


def _bools(rng: np.random.Generator, values: np.ndarray, row: I64, present: np.ndarray) -> pa.Array:
    spelling = rng.choice(len(_BOOLS), size=row.size, p=_BOOL_WEIGHTS)
    truth = values[np.maximum(row, 0)].astype(bool)
    words = _text(np.array([w for pair in _BOOLS for w in pair]))
    index = spelling * 2 + (~truth).astype(np.int64)
    return _take(words, np.where(present, index, NONE))


def write_events(renderer: Renderer, events: dict[str, np.ndarray], out: Path) -> list[Path]:
    """Write events in time order, one CSV per calendar month; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    order = np.argsort(events["ts"], kind="stable")
    ordered = {name: column[order] for name, column in events.items()}
    month = ordered["ts"].astype("datetime64[s]").astype("datetime64[M]")
    paths: list[Path] = []
    bounds = np.flatnonzero(np.r_[True, month[1:] != month[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        chunk = {name: column[lo:hi] for name, column in ordered.items()}
        path = out / f"events-{month[lo]}.csv"
        pacsv.write_csv(renderer.table(chunk), path, write_options=_WRITE)
        paths.append(path)
    return paths


def write_rows(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> int:
    """Write a small CSV with the standard library; returns the number of rows."""
    count = 0
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
