"""What every normaliser shares: the whitespace set, the error type, the bounded cache and
the Arrow plumbing that turns any string-like array into one plain string array."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from enum import StrEnum
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import KEY_WHITESPACE

#: Every character trimmed from the ends of a value (and, for addresses, collapsed inside).
WHITESPACE: Final = KEY_WHITESPACE
WHITESPACE_SET: Final = frozenset(WHITESPACE)
#: ``WHITESPACE`` as the body of an RE2 character class (Arrow's regex kernels).
WS_CLASS_RE2: Final = "".join(f"\\x{{{ord(ch):04x}}}" for ch in WHITESPACE)
#: ``WHITESPACE`` as the body of a Python ``re`` character class.
WS_CLASS_PY: Final = "".join(f"\\u{ord(ch):04x}" for ch in WHITESPACE)

ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

#: Upper bound on the entries of each cache (phones of all regions together, IPs). An
#: entry is a few hundred bytes, so a full cache costs a few hundred MB at most.
CACHE_MAX_ENTRIES: Final = 1_000_000


class InvalidReason(StrEnum):
    """Why a value was rejected; the value is the machine-readable quarantine reason."""

    EMAIL = "invalid_email"
    PHONE = "invalid_phone"
    IP = "invalid_ip"
    BAD_TYPE = "bad_type"
    BAD_VALUE = "bad_value"
    TIMESTAMP = "bad_timestamp"
    EVENT_TYPE = "unknown_event_type"
    LABEL = "unknown_label"


class InvalidValue(ValueError):
    """A non-blank value that cannot be normalised.

    Parameters
    ----------
    reason : InvalidReason
        Which kind of value was rejected.
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


class BoundedCache:
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

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


def combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous, dictionary-decoded array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values


def is_text(arrow_type: pa.DataType) -> bool:
    """Whether ``arrow_type`` is ``string`` or ``large_string``."""
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one string array (``string`` or ``large_string`` kept as given).

    Raises
    ------
    TypeError
        If ``values`` holds something other than strings or nulls.
    """
    values = combined(values)
    if pa.types.is_null(values.type):
        return values.cast(pa.string())
    if is_text(values.type):
        return values
    msg = f"expected a string array, got {values.type}"
    raise TypeError(msg)


def trim(strings: pa.Array) -> pa.Array:
    """Strip ``WHITESPACE`` from both ends."""
    return pc.utf8_trim(strings, characters=WHITESPACE)


def is_present(trimmed: pa.Array) -> pa.Array:
    """True where the trimmed value is non-null and non-empty."""
    return pc.fill_null(pc.not_equal(trimmed, ""), False)


def null_if_empty(strings: pa.Array) -> pa.Array:
    """Empty strings become null."""
    return pc.if_else(pc.equal(strings, ""), pa.scalar(None, strings.type), strings)


def all_false(length: int) -> pa.Array:
    """A boolean array of ``length`` false values."""
    return pa.repeat(False, length)


def is_in(strings: pa.Array, value_set: frozenset[str]) -> pa.Array:
    """Membership of each string in ``value_set`` (null stays null)."""
    return pc.is_in(strings, value_set=pa.array(sorted(value_set), strings.type))


def replace_where(
    strings: pa.Array, where: pa.Array, transform: Callable[[pa.Array], pa.Array]
) -> pa.Array:
    """Apply ``transform`` only to the rows where ``where`` is true (null counts as false)."""
    where = pc.fill_null(where, False)
    if not pc.any(where).as_py():
        return strings
    return pc.replace_with_mask(strings, where, transform(pc.filter(strings, where)))


def lookup(keys: pa.Array, table: dict[str, str], result_type: pa.DataType) -> pa.Array:
    """``table[key]`` for each key, null where the key is null or not in ``table``.

    Notes
    -----
    O(n) with one hash-table probe per value (``pc.index_in``).
    """
    position = pc.index_in(keys, value_set=pa.array(list(table), keys.type))
    return pc.take(pa.array(list(table.values()), result_type), position)


def normalise_distinct(
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
