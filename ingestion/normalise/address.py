"""Postal addresses standardised the way USPS Publication 28 does, for exact matching.

The rules, in order (``ingestion.normalise.usps`` holds the tables):

1. Upper case (ASCII letters only); ``WHITESPACE``, ``.`` and ``,`` separate words;
   ``#`` is a word of its own (``#103`` is ``# 103``), and a unit designator glued to its
   number is split (``APT103`` is ``APT 103``).
2. Each word is mapped once: a ZIP+4 code becomes its ZIP (``87158-1234`` ->
   ``87158``); street suffixes take their C1 standard abbreviation (``STREET``, ``STR``
   -> ``ST``; ``AVENUE``, ``AV``, ``AVEN`` -> ``AVE``; ``DRIVE``, ``DRIV``, ``DRV`` ->
   ``DR``; every C1 spelling, ``WY`` -> ``WAY`` only where no state stands: ``WY``
   last, or before a ZIP or the country, stays Wyoming); directionals take
   their one- or two-letter form (``NORTH`` -> ``N``, ``NORTHEAST`` -> ``NE``); the other
   C2 secondary unit designators take theirs (``FLOOR`` -> ``FL``, ``BUILDING`` ->
   ``BLDG``). Words are mapped wherever they stand, prefix, suffix or inside a name
   (``WEST END AVENUE`` -> ``W END AVE``): both spellings of an address always meet,
   at the cost of abbreviating some names USPS would spell out.
3. Unit designators collapse into one: ``APT``/``APARTMENT``, ``STE``/``SUITE``,
   ``UNIT``, ``#``, ``NO``/``NUMBER`` and ``FLAT`` (a UK flat is a unit like any other)
   become ``UNIT`` when a unit number follows (a word with a digit, a single letter, or
   another designator), so ``#103``, ``APT 103``, ``Apt. 103``, ``Suite 103`` and
   ``Flat 103`` are one unit; a run of designators is one (``APT # 5`` -> ``UNIT 5``), a
   ``#`` with no number is dropped, and a designator with no number stays a word
   (``STE GENEVIEVE``).
4. Split directionals join: ``N E`` (from ``N.E.``) -> ``NE``.
5. A trailing ``US``, ``USA``, ``U.S.A.``, ``United States [of America]`` after a ZIP is
   dropped, and a US state or territory name (or a traditional abbreviation such as
   ``Calif.``, or a dotted code such as ``N.M.``) at the end, or just before the ZIP,
   becomes its two-letter code: ``NEW MEXICO 87158`` -> ``NM 87158``.

So ``67 JUNIPER DRIVE, #103, SANTA FE, NEW MEXICO 87158`` and
``67 Juniper Dr Apt 103, Santa Fe, NM 87158-1234`` both read
``67 JUNIPER DR UNIT 103 SANTA FE NM 87158``. UK addresses keep working the same way
(``Flat 3, 5 Court Road`` -> ``UNIT 3 5 CT RD``). Normalising twice changes nothing.
Not handled: spelled-out numbers (``FIRST`` vs ``1ST``), ``P.O. BOX`` variants, and
city names that differ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.normalise._shared import (
    ASCII_UPPER,
    WHITESPACE,
    all_false,
    as_strings,
    null_if_empty,
    replace_where,
)
from ingestion.normalise.usps import (
    DIRECTIONALS,
    SECONDARY_UNITS,
    STATE_ABBREVIATIONS,
    STATES,
    STREET_SUFFIXES,
    UNIT_DESIGNATOR,
    UNIT_DESIGNATORS,
)


def _word_map() -> Mapping[str, str]:
    words: dict[str, str] = {}

    def add(word: str, standard: str) -> None:
        if words.setdefault(word, standard) != standard:
            msg = f"address word {word!r} has two standard forms"
            raise AssertionError(msg)

    for standard, spellings in STREET_SUFFIXES.items():
        for word in (standard, *spellings):
            add(word, standard)
    for table in (DIRECTIONALS, SECONDARY_UNITS):
        for word, standard in table.items():
            add(word, standard)
    return MappingProxyType(words)


#: Every word the address rules rewrite -> its standard form (a fixed point itself).
ADDRESS_WORDS: Final = _word_map()

_TO_SPACE: Final = {ord(ch): " " for ch in WHITESPACE + ".,"}
_OTHER_WHITESPACE_RE2: Final = (
    "[" + "".join(f"\\x{{{ord(ch):04x}}}" for ch in WHITESPACE if ch != " ") + "]"
)
_GLUED: Final = "(^| )(APARTMENT|APT|SUITE|STE|UNIT|FLAT|FLT)([0-9])"
_GLUED_PY: Final = re.compile(_GLUED)
_ZIP4: Final = "([0-9]{5})-[0-9]{4}"
_ZIP4_PY: Final = re.compile(_ZIP4)
#: ``WY`` is Wyoming where a state stands (last, or before a ZIP or the country), else
#: the C1 spelling of ``WAY`` (``12 GREENWOOD WY UNIT 5 AUSTIN TX``).
_WY: Final = "WY"
_WAY: Final = "WAY"
_STATE_FOLLOWER: Final = "[0-9]{5}|US|USA|U|UNITED"
_STATE_FOLLOWER_PY: Final = re.compile(_STATE_FOLLOWER)
_PAIR_FIRST: Final = frozenset({"N", "S"})
_PAIR_SECOND: Final = frozenset({"E", "W"})
_US: Final = "US|USA|U S|U S A|UNITED STATES|UNITED STATES OF AMERICA"
_US_TRAILING: Final = f"((?:.* )?[0-9]{{5}}) (?:{_US})"
_US_TRAILING_PY: Final = re.compile(_US_TRAILING)


def _standard_words(phrase: str) -> str:
    return " ".join(ADDRESS_WORDS.get(word, word) for word in phrase.split(" "))


def _state_index() -> Mapping[str, str]:
    index: dict[str, str] = {}
    codes = set(STATES.values())
    phrases = {**STATES, **STATE_ABBREVIATIONS, "U S VIRGIN ISLANDS": "VI"}
    phrases.update({f"{code[0]} {code[1]}": code for code in codes})
    for phrase, code in phrases.items():
        key = _standard_words(phrase)
        if index.setdefault(key, code) != code or not re.fullmatch("[A-Z]+(?: [A-Z]+)*", key):
            msg = f"state key {key!r} is ambiguous or not plain words"
            raise AssertionError(msg)
    return MappingProxyType(index)


#: State name, abbreviation or dotted code (in standard words) -> two-letter code.
STATE_INDEX: Final = _state_index()

_STATE_ALTERNATIVES: Final = "|".join(sorted(STATE_INDEX, key=lambda k: (-len(k), k)))
_STATE: Final = f"(?:(?P<head>.*?) )??(?P<state>{_STATE_ALTERNATIVES})(?P<zip> [0-9]{{5}})?"
_STATE_PY: Final = re.compile(_STATE)
_STATE_FIND_RE2: Final = f"(?:^| )(?:{_STATE_ALTERNATIVES})(?: [0-9]{{5}})?$"


def normalise_address(raw: str | None) -> str | None:
    """Standardise a postal address (see the module docstring for the rules).

    Parameters
    ----------
    raw : str or None
        The address as received, on one line.

    Returns
    -------
    str or None
        Space-separated upper-case words; ``None`` for ``None`` or input with no words.

    Examples
    --------
    >>> normalise_address("67 JUNIPER DRIVE, #103, SANTA FE, NEW MEXICO 87158")
    '67 JUNIPER DR UNIT 103 SANTA FE NM 87158'
    >>> normalise_address("67 Juniper Dr Apt 103, Santa Fe, NM 87158-1234")
    '67 JUNIPER DR UNIT 103 SANTA FE NM 87158'
    >>> normalise_address("12 Baker Street, Flat 4")
    '12 BAKER ST UNIT 4'
    >>> normalise_address(" #., ") is None
    True

    Notes
    -----
    O(length of the address): one pass per rule, each a dictionary lookup per word or an
    anchored regular expression.
    """
    if raw is None:
        return None
    text = raw.translate(ASCII_UPPER).translate(_TO_SPACE).replace("#", " # ")
    text = _GLUED_PY.sub(r"\1\2 \3", text)
    joined = " ".join(word for word in _standard(text.split(" ")) if word)
    trailing = _US_TRAILING_PY.fullmatch(joined)
    if trailing is not None:
        joined = trailing.group(1)
    state = _STATE_PY.fullmatch(joined)
    if state is not None:
        head = state.group("head")
        code = STATE_INDEX[state.group("state")] + (state.group("zip") or "")
        joined = f"{head} {code}" if head else code
    return joined or None


def _standard(split: list[str]) -> list[str]:
    """Rules 2 to 4 over one address's words."""
    words = [ADDRESS_WORDS.get(_zip5(w), _zip5(w)) for w in split if w]
    n = len(words)
    words = [
        _WAY if w == _WY and i + 1 < n and not _STATE_FOLLOWER_PY.fullmatch(words[i + 1]) else w
        for i, w in enumerate(words)
    ]
    unit = [
        words[i] in UNIT_DESIGNATORS
        and i + 1 < n
        and (words[i + 1] in UNIT_DESIGNATORS or _is_unit_number(words[i + 1]))
        for i in range(n)
    ]
    out: list[str] = []
    for i, word in enumerate(words):
        if unit[i]:
            out.append("" if i > 0 and unit[i - 1] else UNIT_DESIGNATOR)
        else:
            out.append("" if word == "#" else word)
    for i in range(n - 1):
        if words[i] in _PAIR_FIRST and words[i + 1] in _PAIR_SECOND:
            out[i], out[i + 1] = words[i] + words[i + 1], ""
    return out


def _zip5(word: str) -> str:
    return word[:5] if _ZIP4_PY.fullmatch(word) else word


def _is_unit_number(word: str) -> bool:
    return any("0" <= ch <= "9" for ch in word) or (len(word) == 1 and "A" <= word <= "Z")


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
    (['12 BAKER ST UNIT 4', None], [False, False])

    Notes
    -----
    O(total bytes): a fixed number of Arrow kernels over the text and over the flattened
    words (neighbours found by shifting the word array), no Python per value or per word.
    The state rule's extraction runs only on the rows that end with a state.
    """
    strings = as_strings(values)
    string_type = strings.type
    text = pc.ascii_upper(strings)
    # Whitespace other than ' ' is never printable ASCII and rare in addresses: only rows
    # that are not printable ASCII pay for the regex.
    text = replace_where(
        text,
        pc.invert(pc.ascii_is_printable(text)),
        lambda rows: pc.replace_substring_regex(rows, _OTHER_WHITESPACE_RE2, " "),
    )
    for mark in ".,":
        text = pc.replace_substring(text, mark, " ")
    text = pc.replace_substring(text, "#", " # ")
    text = replace_where(
        text,
        pc.match_substring_regex(text, _GLUED),
        lambda rows: pc.replace_substring_regex(rows, _GLUED, r"\1\2 \3"),
    )
    joined = _standard_array(pc.ascii_split_whitespace(text), string_type)
    joined = replace_where(
        joined,
        pc.match_substring_regex(joined, f"^{_US_TRAILING}$"),
        lambda rows: pc.replace_substring_regex(rows, f"^{_US_TRAILING}$", r"\1"),
    )
    joined = replace_where(joined, pc.match_substring_regex(joined, _STATE_FIND_RE2), _to_codes)
    return null_if_empty(joined), all_false(len(strings))


def _standard_array(lists: pa.Array, string_type: pa.DataType) -> pa.Array:
    """Rules 2 to 4 over every address's words at once; the joined result per address."""
    parents = np.asarray(pc.list_parent_indices(lists))
    words = pc.list_flatten(lists)
    keep = np.asarray(pc.not_equal(words, ""))
    words, parents = pc.filter(words, pa.array(keep)), parents[keep]
    words = pc.replace_substring_regex(words, f"^{_ZIP4}$", r"\1")
    position = pc.index_in(words, value_set=pa.array(list(ADDRESS_WORDS), string_type))
    standard = pa.array(list(ADDRESS_WORDS.values()), string_type)
    words = pc.if_else(pc.is_valid(position), pc.take(standard, position), words)
    n = len(words)
    same_next = np.zeros(n, np.bool_)
    same_next[:-1] = parents[1:] == parents[:-1]
    following = pc.take(words, pa.array(np.minimum(np.arange(n) + 1, max(n - 1, 0))))
    way = (
        np.asarray(pc.equal(words, _WY))
        & same_next
        & ~np.asarray(pc.match_substring_regex(following, f"^(?:{_STATE_FOLLOWER})$"))
    )
    words = pc.if_else(pa.array(way), pa.scalar(_WAY, string_type), words)
    following = pc.take(words, pa.array(np.minimum(np.arange(n) + 1, max(n - 1, 0))))
    designator = np.asarray(pc.is_in(words, value_set=_array(UNIT_DESIGNATORS, string_type)))
    number_next = np.asarray(
        pc.or_(
            pc.is_in(following, value_set=_array(UNIT_DESIGNATORS, string_type)),
            pc.or_(
                pc.match_substring_regex(following, "[0-9]"),
                pc.match_substring_regex(following, "^[A-Z]$"),
            ),
        )
    )
    unit = designator & same_next & number_next
    unit_before = np.zeros(n, np.bool_)
    unit_before[1:] = unit[:-1]
    pair = (
        np.asarray(pc.is_in(words, value_set=_array(_PAIR_FIRST, string_type)))
        & same_next
        & np.asarray(pc.is_in(following, value_set=_array(_PAIR_SECOND, string_type)))
    )
    pair_before = np.zeros(n, np.bool_)
    pair_before[1:] = pair[:-1]
    empty = pa.scalar("", string_type)
    out = pc.if_else(pa.array(unit), pa.scalar(UNIT_DESIGNATOR, string_type), words)
    out = pc.if_else(pa.array(unit & unit_before), empty, out)
    out = pc.if_else(pa.array(~unit & np.asarray(pc.equal(words, "#"))), empty, out)
    joined_pair = pc.binary_join_element_wise(words, following, empty)
    out = pc.if_else(pa.array(pair), joined_pair, out)
    out = pc.if_else(pa.array(pair_before), empty, out)
    counts = np.bincount(parents, minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    rebuilt = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), out, mask=pc.is_null(lists))
    joined = pc.binary_join(rebuilt, pa.scalar(" ", string_type))
    joined = pc.replace_substring_regex(joined, " {2,}", " ")
    return pc.utf8_trim(joined, characters=" ")


def _to_codes(rows: pa.Array) -> pa.Array:
    """Rule 5's state step on rows known to end with a state name."""
    found = pc.extract_regex(rows, f"^{_STATE}$")
    head = pc.struct_field(found, "head")
    state = pc.struct_field(found, "state")
    zip_code = pc.struct_field(found, "zip")
    codes = pc.take(
        pa.array(list(STATE_INDEX.values()), rows.type),
        pc.index_in(state, value_set=pa.array(list(STATE_INDEX), rows.type)),
    )
    tail = pc.binary_join_element_wise(codes, zip_code, pa.scalar("", rows.type))
    with_head = pc.binary_join_element_wise(head, tail, pa.scalar(" ", rows.type))
    return pc.if_else(pc.equal(head, ""), tail, with_head)


def _array(words: frozenset[str], string_type: pa.DataType) -> pa.Array:
    return pa.array(sorted(words), string_type)
