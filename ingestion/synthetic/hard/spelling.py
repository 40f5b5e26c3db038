"""How the hard profile spells phones, emails and US postal addresses.

Phones are written in national format when the number belongs to the row's country
(``(646) 279-7153``, ``646-279-7153``, ``6462797153``, ``646.279.7153``; ``07400 123456``
...), else in E.164. Emails vary in case and, where the provider allows, in Gmail dots,
``googlemail.com`` and ``+tags``. Addresses follow USPS Publication 28 with its common
variants: suffix (``DRIVE``/``DR``/``DRV``), unit (``APT 103``, ``#103``, ``UNIT 103``,
``APARTMENT 103``, ``APT. 103``), state (``NM``/``NEW MEXICO``), ZIP or ZIP+4,
pre-directional (``N``/``NORTH``) and case.

Variant codes
-------------
Email: 0 lower; 1 Title local part; 2 UPPER; 3 lower local part, Title domain; 4 Gmail
dots dropped; 5 Gmail dot inside the first name; 6 ``googlemail.com``; 7-15 a ``+tag``
(providers with sub-addressing). Variants a domain does not allow fall back to ``v % 4``.

Address (bits): 0-1 case (0 UPPER, 1 Title, 2 lower); 2-3 suffix (0 standard
abbreviation, 1 primary name, 2 common variant); 4-6 unit (0 ``APT``, 1 ``#``, 2 ``UNIT``,
3 ``APARTMENT``, 4 ``APT.``); 7 state name; 8 ZIP+4; 9 spelled-out directional.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from graph_service.typing import I64
from ingestion.synthetic.hard.events import EMAIL_SHIFT, PHONE_SHIFT
from ingestion.synthetic.hard.tables import (
    CITIES,
    COUNTRIES,
    DIRECTIONALS,
    FIRST_NAMES,
    GMAIL,
    GOOGLEMAIL,
    LAST_NAMES,
    MAIL_DOMAINS,
    MAIL_TAGS,
    STREET_SUFFIXES,
    STREETS,
    SUBADDRESS_DOMAINS,
)
from ingestion.synthetic.hard.world import HOUSE_NUMBERS, World
from ingestion.synthetic.hashing import splitmix
from ingestion.synthetic.text import (
    Text,
    Vocab,
    blank_unless,
    const_text,
    decimal_text,
    digit_planes,
    string_array,
)

__all__ = ["addresses", "emails", "phones"]

_I8 = npt.NDArray[np.int8]
_I16 = npt.NDArray[np.int16]
_CASES: Final = (str.upper, str.title, str.lower)


def _cased(words: list[str]) -> Vocab:
    """``words`` in each case of ``_CASES``: index ``case * len(words) + word``."""
    return Vocab([f(w) for f in _CASES for w in words])


# -- phones ---------------------------------------------------------------------------

_NANP: Final = frozenset({"US", "CA"})
#: NANP national layouts: prefix, separator after the area code, after the exchange.
_NANP_LAYOUTS: Final = (("(", ") ", "-"), ("", "-", "-"), ("", "", ""), ("", ".", "."))


def phones(
    world: World,
    rows: int,
    at: I64,
    phone: I64,
    country: I64,
    national: npt.NDArray[np.bool_],
    keys: I64,
) -> pa.Array:
    """Phone numbers: national format for some of the rows whose country is the
    number's own, E.164 elsewhere.

    Parameters
    ----------
    world : World
    rows : int
        Length of the column.
    at : ndarray of int64
        Rows holding a number; the other rows are null.
    phone : ndarray of int64
        Phone codes at those rows.
    country : ndarray of int64
        Each row's country index.
    national : ndarray of bool
        Rows that use the national format if the number is of the row's country.
    keys : ndarray of int64
        Event numbers of the rows; they pick the national layout.

    Returns
    -------
    pyarrow.StringArray
    """
    owner = phone >> np.int64(PHONE_SHIFT)
    nsn = phone & np.int64((1 << PHONE_SHIFT) - 1)
    national &= owner == country
    pieces: list[tuple[I64, list[Text]]] = []
    e164 = np.flatnonzero(~national)
    if e164.size:
        calling = np.asarray([c.calling_code for c in COUNTRIES], np.int64)[owner[e164]]
        width = np.asarray(
            [
                len(str(c.phone_prefixes[0] if c.phone_prefixes else 0)) + c.phone_rest_digits
                for c in COUNTRIES
            ],
            np.int64,
        )[owner[e164]]
        pieces.append(
            (at[e164], [const_text("+", e164.size), decimal_text(calling * 10**width + nsn[e164])])
        )
    for index, spec in enumerate(COUNTRIES):
        rows_c = np.flatnonzero(national & (owner == index))
        if not rows_c.size:
            continue
        width = len(str(spec.phone_prefixes[0])) + spec.phone_rest_digits
        digits = digit_planes(nsn[rows_c], width)
        if spec.alpha2 in _NANP:
            layout = splitmix(keys[rows_c], world.salts["render"]) % np.uint64(len(_NANP_LAYOUTS))
            for k, (prefix, after_area, after_exchange) in enumerate(_NANP_LAYOUTS):
                sub = np.flatnonzero(layout == k)
                if not sub.size:
                    continue
                d = digits[:, sub]
                pieces.append(
                    (
                        at[rows_c[sub]],
                        [
                            const_text(prefix, sub.size) if prefix else _empty(sub.size),
                            Text(d[0:3], None),
                            const_text(after_area, sub.size) if after_area else _empty(sub.size),
                            Text(d[3:6], None),
                            const_text(after_exchange, sub.size)
                            if after_exchange
                            else _empty(sub.size),
                            Text(d[6:10], None),
                        ],
                    )
                )
            continue
        parts: list[Text] = (
            [const_text(spec.national_trunk, rows_c.size)] if spec.national_trunk else []
        )
        position = 0
        for g, size in enumerate(spec.national_groups):
            if g:
                parts.append(const_text(" ", rows_c.size))
            parts.append(Text(digits[position : position + size], None))
            position += size
        pieces.append((at[rows_c], parts))
    return string_array(rows, pieces)


def _empty(count: int) -> Text:
    return Text(np.zeros((1, count), np.uint8), np.zeros((1, count), np.bool_))


# -- emails ---------------------------------------------------------------------------

_V_FIRST: Final = Vocab(
    [*FIRST_NAMES, *(n.title() for n in FIRST_NAMES), *(n.upper() for n in FIRST_NAMES)]
    + [f"{n[0]}.{n[1:]}" for n in FIRST_NAMES]
)
_V_LAST: Final = _cased(list(LAST_NAMES))
_V_SEPARATORS: Final = Vocab([".", "_", ""])
_V_TAGS: Final = Vocab(["", *MAIL_TAGS])
#: Domains in upper case, capitalised (as phones auto-capitalise) and lower case.
_V_DOMAINS: Final = Vocab(
    [f(d) for f in (str.upper, str.capitalize, str.lower) for d, _ in MAIL_DOMAINS]
)
_SUBADDRESS: Final = np.asarray([i in SUBADDRESS_DOMAINS for i in range(len(MAIL_DOMAINS))])


def emails(world: World, rows: int, at: I64, email: I64, variant: _I8) -> pa.Array:
    """Email addresses in the given spellings (see the module docstring).

    Parameters
    ----------
    world : World
    rows : int
        Length of the column.
    at : ndarray of int64
        Rows holding an address; the other rows are null.
    email : ndarray of int64
        Email codes (mailbox and domain) at those rows.
    variant : ndarray of int8
        Spelling of each.

    Returns
    -------
    pyarrow.StringArray
    """
    k = email.size
    domain = email & np.int64((1 << EMAIL_SHIFT) - 1)
    mailbox = email >> np.int64(EMAIL_SHIFT)
    combo = world.scramble_mailbox(mailbox)
    n_first, n_last = len(FIRST_NAMES), len(LAST_NAMES)
    first = combo % n_first
    last = (combo // n_first) % n_last
    separator = (combo // (n_first * n_last)) % 3
    number = combo // (n_first * n_last * 3) % 100
    ring = mailbox >= world.n
    separator[ring] = 0  # ring mailboxes are first.last, so dots can be dropped
    number[ring] = 0
    gmail = domain == GMAIL
    v = variant.astype(np.int64)
    v = np.where((v >= 4) & (v <= 6) & ~gmail, v % 4, v)
    v = np.where((v >= 7) & ~_SUBADDRESS[domain], v % 4, v)
    case = np.select([v == 1, v == 2], [1, 2], 0)
    first_style = np.where(v == 5, 3, np.where(case == 1, 1, np.where(case == 2, 2, 0)))
    separator = np.where(v == 4, np.where(separator == 0, 2, separator), separator)
    domain = np.where(v == 6, GOOGLEMAIL, domain)
    domain_case = np.select([case == 2, v == 3], [0, 1], 2)
    last_case = np.select([case == 1, case == 2], [1, 0], 2)
    tag = np.where(v >= 7, v - 6, 0)
    parts = [
        _V_FIRST.take(first_style * n_first + first),
        _V_SEPARATORS.take(separator),
        _V_LAST.take(last_case * n_last + last),
        blank_unless(decimal_text(number), number > 0),
        _V_TAGS.take(tag),
        const_text("@", k),
        _V_DOMAINS.take(domain_case * len(MAIL_DOMAINS) + domain),
    ]
    return string_array(rows, [(at, parts)])


# -- addresses ------------------------------------------------------------------------

_V_STREETS: Final = Vocab(
    [s.upper() for s in STREETS] + list(STREETS) + [s.lower() for s in STREETS]
)
_SUFFIX_FORMS: Final = [
    form
    for primary, standard, variants in STREET_SUFFIXES
    for form in (standard, primary, variants[0] if variants else standard)
]
_V_SUFFIXES: Final = _cased(_SUFFIX_FORMS)
_UNITS: Final = ("APT ", "#", "UNIT ", "APARTMENT ", "APT. ")
_V_UNITS: Final = _cased(list(_UNITS))
_V_DIRECTIONS: Final = _cased([f"{d} " for pair in DIRECTIONALS for d in pair] + [""])
_V_CITIES: Final = _cased([c.name for c in CITIES])
_V_STATES: Final = Vocab(
    [c.state for c in CITIES]
    + [c.state_name.upper() for c in CITIES]
    + [c.state for c in CITIES]
    + [c.state_name for c in CITIES]
    + [c.state.lower() for c in CITIES]
    + [c.state_name.lower() for c in CITIES]
)


def addresses(world: World, rows: int, at: I64, address: I64, variant: _I16) -> pa.Array:
    """US postal addresses in the given spellings (see the module docstring).

    Parameters
    ----------
    world : World
    rows : int
        Length of the column.
    at : ndarray of int64
        Rows holding an address; the other rows are null.
    address : ndarray of int64
        Address codes at those rows (household numbers, then ring addresses).
    variant : ndarray of int16
        Spelling of each (bit fields, see the module docstring).

    Returns
    -------
    pyarrow.StringArray
    """
    k = address.size
    scrambled = world.scramble_address(address)
    city = scrambled % len(CITIES)
    rest = scrambled // len(CITIES)
    suffix = rest % len(STREET_SUFFIXES)
    rest //= len(STREET_SUFFIXES)
    street = rest % len(STREETS)
    number = 1 + (rest // len(STREETS)) % HOUSE_NUMBERS
    traits = splitmix(address, world.salts["address"])
    has_unit = (traits & np.uint64(0xFF)) < np.uint64(90)  # about 35% are apartments
    unit = 1 + ((traits >> np.uint64(8)) % np.uint64(40)).astype(np.int64) * 100
    unit += ((traits >> np.uint64(16)) % np.uint64(24)).astype(np.int64)
    has_direction = ((traits >> np.uint64(24)) & np.uint64(0xFF)) < np.uint64(38)
    direction = ((traits >> np.uint64(32)) % np.uint64(len(DIRECTIONALS))).astype(np.int64)
    zip5 = np.asarray([c.zip3 for c in CITIES], np.int64)[city] * 100
    zip5 += ((traits >> np.uint64(40)) % np.uint64(100)).astype(np.int64)
    plus4 = ((traits >> np.uint64(48)) % np.uint64(9_999)).astype(np.int64) + 1

    v = variant.astype(np.int64)
    case = np.minimum(v & 3, 2)
    suffix_form = np.minimum((v >> 2) & 3, 2)
    unit_form = np.minimum((v >> 4) & 7, len(_UNITS) - 1)
    state_name = (v >> 7) & 1
    zip4 = ((v >> 8) & 1).astype(np.bool_)
    direction_form = (v >> 9) & 1
    n_dirs = 2 * len(DIRECTIONALS) + 1
    direction_index = np.where(has_direction, direction * 2 + direction_form, n_dirs - 1)
    n_cities = len(CITIES)
    space = const_text(" ", k)
    comma = const_text(", ", k)
    parts = [
        decimal_text(number),
        space,
        _V_DIRECTIONS.take(case * n_dirs + direction_index),
        _V_STREETS.take(case * len(STREETS) + street),
        space,
        _V_SUFFIXES.take(case * len(_SUFFIX_FORMS) + suffix * 3 + suffix_form),
        blank_unless(const_text(" ", k), has_unit),
        blank_unless(_V_UNITS.take(case * len(_UNITS) + unit_form), has_unit),
        blank_unless(decimal_text(unit), has_unit),
        comma,
        _V_CITIES.take(case * n_cities + city),
        comma,
        _V_STATES.take(case * 2 * n_cities + state_name * n_cities + city),
        space,
        decimal_text(zip5, 5),
        blank_unless(const_text("-", k), zip4),
        blank_unless(decimal_text(plus4, 4), zip4),
    ]
    return string_array(rows, [(at, parts)])
