"""Small coded values: autonomous system numbers, flags, currencies, event types, labels.

ASN
    ``13335``, ``AS13335``, ``as13335``, ``AS 13335``, ``ASN13335``, ``013335``,
    ``13335.0`` (a spreadsheet's float) and native integers all give ``13335``. Valid:
    0 to 4,294,967,295 (32-bit ASNs). Negative, fractional, non-numeric or larger values
    are invalid (``bad_type``). A dot is always a decimal point: the ``asdot`` notation
    (``1.10``) is not read.
Flags
    ``true/false``, ``yes/no``, ``y/n``, ``t/f``, ``on/off``, ``1/0`` in any ASCII case,
    native booleans and the integers 0 and 1. Anything else is invalid (``bad_type``),
    floats included.
Currency
    Three ASCII letters in any case (ISO 4217 shape), upper-cased; else ``bad_value``.
Event type
    Case, spaces, ``_``, ``-`` and ``.`` are ignored (``SignUp``, ``sign_up``, ``SIGN-UP``
    are ``signup``), then ``EVENT_TYPE_SYNONYMS`` maps the folded name to one of
    ``signup, login, payment, transfer``; anything else is ``unknown_event_type``.
Label
    Folded the same way, then ``LABEL_SYNONYMS`` maps it to ``fraud`` or ``legit``;
    anything else is ``unknown_label``.

Every scalar function is the reference; its vectorised twin agrees with it on any input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.normalise._shared import (
    ASCII_LOWER,
    ASCII_UPPER,
    WHITESPACE,
    WS_CLASS_PY,
    WS_CLASS_RE2,
    InvalidReason,
    InvalidValue,
    all_false,
    combined,
    is_present,
    is_text,
    lookup,
    trim,
)
from ingestion.schema import EventType

#: The largest autonomous system number (32-bit).
ASN_MAX: Final = 4_294_967_295

#: Flag spellings (after trimming and ASCII lower-casing).
TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "0", "off"})

#: Folded event-type name (lower case, no spaces, ``_``, ``-`` or ``.``) -> event type.
EVENT_TYPE_SYNONYMS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **dict.fromkeys(
            [
                "signup",
                "register",
                "registration",
                "accountopening",
                "openaccount",
                "accountcreation",
                "enrolment",
                "enrollment",
                "onboarding",
            ],
            EventType.SIGNUP.value,
        ),
        **dict.fromkeys(["login", "logon", "signin"], EventType.LOGIN.value),
        **dict.fromkeys(
            ["payment", "purchase", "cardpayment", "cardpurchase", "pay", "checkout"],
            EventType.PAYMENT.value,
        ),
        **dict.fromkeys(
            [
                "transfer",
                "p2p",
                "p2ptransfer",
                "wire",
                "wiretransfer",
                "banktransfer",
                "moneytransfer",
                "sendmoney",
            ],
            EventType.TRANSFER.value,
        ),
    }
)

#: Folded label (as for event types) -> ``fraud`` or ``legit``.
LABEL_SYNONYMS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **dict.fromkeys(
            ["fraud", "fraudulent", "confirmedfraud", "chargeback", "sar", "1", "true"], "fraud"
        ),
        **dict.fromkeys(
            ["legit", "legitimate", "genuine", "notfraud", "nonfraud", "0", "false"], "legit"
        ),
    }
)

_ASN_BODY: Final = "(?:ASN?[{ws}]*)?0*(?P<number>[0-9]{{1,10}})(?:\\.0+)?"
_ASN_RE2: Final = "^" + _ASN_BODY.format(ws=WS_CLASS_RE2) + "$"
_ASN_PY: Final = re.compile(_ASN_BODY.format(ws=WS_CLASS_PY))
_CURRENCY_RE2: Final = "^[A-Z]{3}$"
_NAME_SEPARATORS: Final = " _-."
_FOLD_NAME: Final = {ord(ch): None for ch in WHITESPACE + _NAME_SEPARATORS}
_NAME_SEPARATORS_RE2: Final = "[" + WS_CLASS_RE2 + re.escape(_NAME_SEPARATORS) + "]"


# --------------------------------------------------------------------------------- ASN


def normalise_asn(raw: str | int | float | None) -> int | None:
    """An autonomous system number as an integer.

    Parameters
    ----------
    raw : str, int, float or None
        As received (see the module docstring for the accepted forms).

    Returns
    -------
    int or None
        The number; ``None`` for ``None``, NaN-free blank text.

    Raises
    ------
    InvalidValue
        With reason ``bad_type`` for anything that is not an ASN (a ``bool`` included).

    Examples
    --------
    >>> normalise_asn(" AS 13335 "), normalise_asn("as13335"), normalise_asn("13335.0")
    (13335, 13335, 13335)
    >>> try:
    ...     normalise_asn("-5")
    ... except InvalidValue as error:
    ...     print(error.reason)
    bad_type

    Notes
    -----
    O(length of the value).
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise InvalidValue(InvalidReason.BAD_TYPE, "a flag is not an AS number")
    if isinstance(raw, int):
        return _asn_in_range(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise InvalidValue(InvalidReason.BAD_TYPE, "not a whole AS number")
        return _asn_in_range(int(raw))
    trimmed = raw.strip(WHITESPACE)
    if not trimmed:
        return None
    match = _ASN_PY.fullmatch(trimmed.translate(ASCII_UPPER))
    if match is None:
        raise InvalidValue(InvalidReason.BAD_TYPE, "not an AS number")
    return _asn_in_range(int(match.group("number")))


def _asn_in_range(value: int) -> int:
    if not 0 <= value <= ASN_MAX:
        raise InvalidValue(InvalidReason.BAD_TYPE, "AS number out of range")
    return value


def normalise_asns(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_asn``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings, integers, floats or booleans (anything else is read as its text).

    Returns
    -------
    normalised : pyarrow.Int64Array
        The numbers; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_asn`` would raise ``InvalidValue``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> asns, invalid = normalise_asns(pa.array(["AS209", "x", " ", "4294967296"]))
    >>> asns.to_pylist(), invalid.to_pylist()
    ([209, None, None, None], [False, True, False, True])

    Notes
    -----
    O(total bytes) for text (one regex extraction), O(n) for numbers.
    """
    array = combined(values)
    kind = array.type
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.int64()), all_false(len(array))
    if pa.types.is_boolean(kind):
        return pa.nulls(len(array), pa.int64()), pc.is_valid(array)
    if pa.types.is_integer(kind):
        return _int_range(pc.cast(array, pa.int64()) if kind != pa.uint64() else array)
    if pa.types.is_floating(kind):
        floats = pc.cast(array, pa.float64())
        whole = pc.and_(pc.is_finite(floats), pc.equal(pc.floor(floats), floats))
        whole = pc.and_(
            whole, pc.and_(pc.greater_equal(floats, 0.0), pc.less_equal(floats, ASN_MAX))
        )
        whole = pc.fill_null(whole, False)
        numbers = pc.cast(pc.if_else(whole, floats, pa.scalar(None, pa.float64())), pa.int64())
        return numbers, pc.and_(pc.is_valid(floats), pc.invert(whole))
    strings = array if is_text(kind) else pc.cast(array, pa.string())
    trimmed = trim(strings)
    found = pc.extract_regex(pc.ascii_upper(trimmed), _ASN_RE2)
    # A struct's children ignore the parent's validity, so carry "matched" explicitly.
    matched = pc.fill_null(pc.is_valid(found), False)
    digits = pc.if_else(matched, pc.struct_field(found, [0]), pa.scalar(None, trimmed.type))
    numbers = pc.cast(digits, pa.int64())
    in_range = pc.less_equal(numbers, ASN_MAX)
    numbers = pc.if_else(in_range, numbers, pa.scalar(None, pa.int64()))
    return numbers, pc.and_(is_present(trimmed), pc.is_null(numbers))


def _int_range(ints: pa.Array) -> tuple[pa.Array, pa.Array]:
    ok = pc.fill_null(pc.and_(pc.greater_equal(ints, 0), pc.less_equal(ints, ASN_MAX)), False)
    numbers = pc.cast(pc.if_else(ok, ints, pa.scalar(None, ints.type)), pa.int64())
    return numbers, pc.and_(pc.is_valid(ints), pc.invert(ok))


# ------------------------------------------------------------------------------- flags


def normalise_bool(raw: str | bool | int | float | None) -> bool | None:
    """A yes/no flag as a boolean.

    Parameters
    ----------
    raw : str, bool, int, float or None
        As received (see the module docstring for the accepted spellings).

    Returns
    -------
    bool or None
        The flag; ``None`` for ``None`` or blank text.

    Raises
    ------
    InvalidValue
        With reason ``bad_type`` for any other value.

    Examples
    --------
    >>> normalise_bool(" Yes "), normalise_bool("off"), normalise_bool(1), normalise_bool("T")
    (True, False, True, True)

    Notes
    -----
    O(length of the value).
    """
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, int):
        if raw in (0, 1):
            return raw == 1
        raise InvalidValue(InvalidReason.BAD_TYPE, "an integer flag must be 0 or 1")
    if isinstance(raw, float):
        raise InvalidValue(InvalidReason.BAD_TYPE, "a number is not a flag")
    word = raw.strip(WHITESPACE).translate(ASCII_LOWER)
    if not word:
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidValue(InvalidReason.BAD_TYPE, "not a yes/no flag")


def normalise_bools(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_bool``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings, booleans, integers or floats (anything else is read as its text).

    Returns
    -------
    normalised : pyarrow.BooleanArray
        The flags; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_bool`` would raise ``InvalidValue``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> flags, invalid = normalise_bools(pa.array(["Y", "no", "maybe", None]))
    >>> flags.to_pylist(), invalid.to_pylist()
    ([True, False, None, None], [False, False, True, False])

    Notes
    -----
    O(total bytes): trim, lower-case and two set lookups.
    """
    array = combined(values)
    kind = array.type
    n = len(array)
    if pa.types.is_null(kind):
        return pa.nulls(n, pa.bool_()), all_false(n)
    if pa.types.is_boolean(kind):
        return array, all_false(n)
    if pa.types.is_integer(kind):
        ok = pc.fill_null(pc.is_in(array, value_set=pa.array([0, 1], kind)), False)
        flags = pc.if_else(ok, pc.equal(array, pa.scalar(1, kind)), pa.scalar(None, pa.bool_()))
        return flags, pc.and_(pc.is_valid(array), pc.invert(ok))
    if pa.types.is_floating(kind):
        return pa.nulls(n, pa.bool_()), pc.is_valid(array)
    strings = array if is_text(kind) else pc.cast(array, pa.string())
    words = pc.ascii_lower(trim(strings))
    true = pc.is_in(words, value_set=pa.array(sorted(TRUE_WORDS), words.type))
    false = pc.is_in(words, value_set=pa.array(sorted(FALSE_WORDS), words.type))
    known = pc.or_(true, false)
    flags = pc.if_else(known, true, pa.scalar(None, pa.bool_()))
    return flags, pc.and_(is_present(words), pc.invert(known))


# --------------------------------------------------------------------------- currency


def normalise_currency(raw: str | None) -> str | None:
    """A currency code, upper-cased.

    Parameters
    ----------
    raw : str or None

    Returns
    -------
    str or None
        Three upper-case ASCII letters; ``None`` for ``None`` or blank input.

    Raises
    ------
    InvalidValue
        With reason ``bad_value`` unless the value is three ASCII letters.

    Examples
    --------
    >>> normalise_currency(" gbp ")
    'GBP'

    Notes
    -----
    O(1): at most a few characters are looked at.
    """
    if raw is None:
        return None
    code = raw.strip(WHITESPACE).translate(ASCII_UPPER)
    if not code:
        return None
    if len(code) != 3 or not all("A" <= ch <= "Z" for ch in code):
        raise InvalidValue(InvalidReason.BAD_VALUE, "not a three-letter currency code")
    return code


def normalise_currencies(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_currency``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (anything else is read as its text).

    Returns
    -------
    normalised : pyarrow.StringArray
        Codes; null where the input is null, blank or invalid.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_currency`` would raise ``InvalidValue``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> codes, invalid = normalise_currencies(pa.array(["eur", "pounds"]))
    >>> codes.to_pylist(), invalid.to_pylist()
    (['EUR', None], [False, True])

    Notes
    -----
    O(total bytes): three Arrow kernels.
    """
    codes = pc.ascii_upper(trim(_text(values)))
    ok = pc.match_substring_regex(codes, _CURRENCY_RE2)
    normalised = pc.if_else(ok, codes, pa.scalar(None, codes.type))
    return normalised, pc.and_(is_present(codes), pc.invert(pc.fill_null(ok, False)))


# ------------------------------------------------------------------ event types, labels


def fold_name(raw: str) -> str:
    """An event type or label as looked up: lower case, no whitespace, ``_``, ``-``, ``.``.

    Parameters
    ----------
    raw : str

    Returns
    -------
    str
        The name with whitespace and separators removed, ASCII letters lower-cased.

    Examples
    --------
    >>> fold_name(" Sign-Up "), fold_name("log_in"), fold_name("Bank Transfer")
    ('signup', 'login', 'banktransfer')

    Notes
    -----
    O(length of the value).
    """
    return raw.translate(_FOLD_NAME).translate(ASCII_LOWER)


def normalise_event_type(raw: str | None) -> str | None:
    """The event type a name stands for.

    Parameters
    ----------
    raw : str or None

    Returns
    -------
    str or None
        ``signup``, ``login``, ``payment`` or ``transfer``; ``None`` for ``None`` or
        blank input.

    Raises
    ------
    InvalidValue
        With reason ``unknown_event_type`` when the folded name is not in
        ``EVENT_TYPE_SYNONYMS``.

    Examples
    --------
    >>> normalise_event_type("SignUp"), normalise_event_type("LOG_IN")
    ('signup', 'login')
    >>> normalise_event_type("card_payment"), normalise_event_type("Wire")
    ('payment', 'transfer')

    Notes
    -----
    O(length of the value).
    """
    return _synonym(raw, EVENT_TYPE_SYNONYMS, InvalidReason.EVENT_TYPE)


def normalise_event_types(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_event_type``.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings (anything else is read as its text).

    Returns
    -------
    normalised : pyarrow.StringArray
        Event types; null where the input is null, blank or unknown.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_event_type`` would raise ``InvalidValue``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> kinds, invalid = normalise_event_types(pa.array(["Sign_Up", "p2p", "teleport"]))
    >>> kinds.to_pylist(), invalid.to_pylist()
    (['signup', 'transfer', None], [False, False, True])

    Notes
    -----
    O(total bytes): two Arrow kernels and one hash lookup per value.
    """
    return _synonyms(values, EVENT_TYPE_SYNONYMS)


def normalise_label(raw: str | None) -> str | None:
    """``fraud`` or ``legit`` for a label as banks write it.

    Parameters
    ----------
    raw : str or None

    Returns
    -------
    str or None
        ``fraud`` or ``legit``; ``None`` for ``None`` or blank input.

    Raises
    ------
    InvalidValue
        With reason ``unknown_label`` when the folded label is not in ``LABEL_SYNONYMS``.

    Examples
    --------
    >>> normalise_label("Confirmed Fraud"), normalise_label("0"), normalise_label("GENUINE")
    ('fraud', 'legit', 'legit')

    Notes
    -----
    O(length of the value).
    """
    return _synonym(raw, LABEL_SYNONYMS, InvalidReason.LABEL)


def normalise_labels(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised ``normalise_label`` (booleans read as ``true``/``false``).

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings, booleans or integers (anything else is read as its text).

    Returns
    -------
    normalised : pyarrow.StringArray
        ``fraud``/``legit``; null where the input is null, blank or unknown.
    invalid : pyarrow.BooleanArray
        True exactly where ``normalise_label`` would raise ``InvalidValue`` on the text.

    Examples
    --------
    >>> import pyarrow as pa
    >>> labels, invalid = normalise_labels(pa.array(["SAR", "not_fraud", "maybe"]))
    >>> labels.to_pylist(), invalid.to_pylist()
    (['fraud', 'legit', None], [False, False, True])

    Notes
    -----
    O(total bytes): two Arrow kernels and one hash lookup per value.
    """
    return _synonyms(values, LABEL_SYNONYMS)


def _synonym(raw: str | None, table: Mapping[str, str], reason: InvalidReason) -> str | None:
    if raw is None:
        return None
    folded = fold_name(raw)
    if not folded:
        return None
    found = table.get(folded)
    if found is None:
        raise InvalidValue(reason, "not a known name")
    return found


def _synonyms(
    values: pa.Array | pa.ChunkedArray, table: Mapping[str, str]
) -> tuple[pa.Array, pa.Array]:
    folded = pc.ascii_lower(pc.replace_substring_regex(_text(values), _NAME_SEPARATORS_RE2, ""))
    found = lookup(folded.cast(pa.string()), dict(table), pa.string())
    return found, pc.and_(is_present(folded), pc.is_null(found))


def _text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any array as strings (booleans as ``true``/``false``, numbers as their digits)."""
    array = combined(values)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    if is_text(array.type):
        return array
    return pc.cast(array, pa.string())


__all__ = [
    "ASN_MAX",
    "EVENT_TYPE_SYNONYMS",
    "FALSE_WORDS",
    "LABEL_SYNONYMS",
    "TRUE_WORDS",
    "fold_name",
    "normalise_asn",
    "normalise_asns",
    "normalise_bool",
    "normalise_bools",
    "normalise_currencies",
    "normalise_currency",
    "normalise_event_type",
    "normalise_event_types",
    "normalise_label",
    "normalise_labels",
]
