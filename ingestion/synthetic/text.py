"""Fast text for synthetic events: strings assembled as byte matrices, not Python objects.

Strings are assembled as byte matrices laid out (width, rows): every fragment is one
contiguous block per character position, which is several times faster than row-major
assembly. ``keep`` marks the bytes that belong to the string (variable-length text). A
column is then one pyarrow string array built straight from the bytes and offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from graph_service.typing import I64, U8, BoolArray

__all__ = [
    "Text",
    "Vocab",
    "blank_unless",
    "const_text",
    "decimal_text",
    "digit_planes",
    "hex_text",
    "identifier_text",
    "optional_array",
    "string_array",
]


@dataclass(frozen=True, slots=True)
class Text:
    """One text fragment per row: the bytes ``chars[keep[:, i], i]`` of row ``i``.

    ``keep`` is ``None`` when every byte is kept (fixed width).
    """

    chars: U8
    keep: BoolArray | None


class Vocab:
    """A fixed list of ASCII strings, gathered by index into fragments."""

    def __init__(self, words: Sequence[str]) -> None:
        encoded = [w.encode("ascii") for w in words]
        width = max([1, *(len(e) for e in encoded)])
        self.words: tuple[str, ...] = tuple(words)
        chars = np.zeros((width, len(encoded)), np.uint8)
        for i, e in enumerate(encoded):
            chars[: len(e), i] = np.frombuffer(e, np.uint8)
        lengths = np.array([len(e) for e in encoded], np.int64)
        self.chars: U8 = chars
        self.keep: BoolArray = np.arange(width)[:, None] < lengths[None, :]
        self.fixed = bool(self.keep.all())
        self.arrow: pa.Array = pa.array(self.words, pa.string())

    def take(self, index: npt.NDArray[np.integer]) -> Text:
        """Fragments ``words[index[i]]``."""
        return Text(self.chars[:, index], None if self.fixed else self.keep[:, index])

    def arrow_take(self, rows: int, at: I64, index: npt.NDArray[np.integer]) -> pa.Array:
        """A string array of ``rows`` rows: ``words[index]`` at rows ``at``, null elsewhere."""
        full = np.zeros(rows, np.int32)
        full[at] = index
        valid = np.zeros(rows, np.bool_)
        valid[at] = True
        return self.arrow.take(pa.array(full, mask=~valid))


def const_text(text: str, rows: int) -> Text:
    """The same ASCII ``text`` on every row."""
    column = np.frombuffer(text.encode("ascii"), np.uint8)[:, None]
    return Text(np.broadcast_to(column, (column.shape[0], rows)), None)


def digit_planes(values: npt.NDArray[np.integer], width: int, prefix: str = "") -> U8:
    """``prefix`` then the ``width`` low decimal digits of ``values``, as ASCII planes."""
    lead = len(prefix)
    planes = np.empty((lead + width, values.shape[0]), np.uint8)
    planes[:lead] = np.frombuffer(prefix.encode("ascii"), np.uint8)[:, None]
    remaining = values.astype(np.int64)
    pending = width  # digits still to write, right to left
    while pending > 0:
        # Chunks of up to 9 digits fit uint32, whose division is much cheaper.
        chunk = min(9, pending)
        if pending > chunk:
            remaining, low64 = np.divmod(remaining, 10**chunk)
            low = low64.astype(np.uint32)
        else:
            low = remaining.astype(np.uint32)
        for j in range(lead + pending - 1, lead + pending - chunk - 1, -1):
            quotient = low // 10
            np.subtract(low, quotient * 10, out=planes[j], casting="unsafe")
            low = quotient
        pending -= chunk
    planes[lead:] += 48
    return planes


def identifier_text(prefix: str, values: npt.NDArray[np.integer], width: int) -> Text:
    """Fixed-width opaque ids: ``prefix`` and ``values`` zero-padded to ``width`` digits."""
    return Text(digit_planes(values, width, prefix), None)


def decimal_text(values: npt.NDArray[np.integer], width: int = 0) -> Text:
    """Decimal text of non-negative ``values``: zero-padded to ``width`` if given, else
    without leading zeros."""
    rows = values.shape[0]
    top = int(values.max()) if rows else 0
    digits = max(width, len(str(top)), 1)
    planes = digit_planes(values, digits)
    if width >= digits:
        return Text(planes, None)
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    keep = (values[None, :] >= powers[:, None]) | (np.arange(digits) >= digits - 1)[:, None]
    return Text(planes, keep)


_HEX_DIGITS: Final = np.frombuffer(b"0123456789abcdef", np.uint8)


def hex_text(values: I64, digits: int) -> Text:
    """Lower-case hexadecimal text of ``values`` (< 16**digits) without leading zeros."""
    shifts = 4 * np.arange(digits - 1, -1, -1, dtype=np.int64)
    nibbles = (values[None, :] >> shifts[:, None]) & 15
    keep = (values[None, :] >= (np.int64(1) << shifts)[:, None]) | (
        np.arange(digits) == digits - 1
    )[:, None]
    return Text(_HEX_DIGITS[nibbles], keep)


def blank_unless(text: Text, rows: BoolArray) -> Text:
    """``text`` on the selected rows, empty elsewhere."""
    keep = np.ones(text.chars.shape, np.bool_) if text.keep is None else text.keep
    return Text(text.chars, keep & rows[None, :])


def _assemble(parts: Sequence[Text]) -> tuple[U8, I64]:
    """Concatenate fragments row-wise; return the bytes and the length of each row."""
    rows = parts[0].chars.shape[1]
    chars = parts[0].chars if len(parts) == 1 else np.concatenate([p.chars for p in parts])
    if all(p.keep is None for p in parts):
        width = chars.shape[0]
        return np.ascontiguousarray(chars.T).reshape(-1), np.full(rows, width, np.int64)
    keep = np.concatenate(
        [np.ones(p.chars.shape, np.bool_) if p.keep is None else p.keep for p in parts], axis=0
    )
    keep_rows = np.ascontiguousarray(keep.T)
    data = np.ascontiguousarray(chars.T)[keep_rows]
    return data, keep_rows.sum(axis=1, dtype=np.int64)


def string_array(rows: int, pieces: Sequence[tuple[I64, Sequence[Text]]]) -> pa.Array:
    """A string array of ``rows`` rows built from row subsets.

    Each piece is ``(at, fragments)``: ascending row numbers and the fragments that,
    concatenated, give those rows' strings. Rows in no piece are null.
    """
    assembled = [(at, *_assemble(parts)) for at, parts in pieces if at.size]
    lengths = np.zeros(rows, np.int64)
    valid = np.zeros(rows, np.bool_)
    for at, _, row_lengths in assembled:
        lengths[at] = row_lengths
        valid[at] = True
    offsets = np.zeros(rows + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    if total >= 2**31:
        raise OverflowError("a part holds more than 2 GiB of text in one column")
    if len(assembled) == 1:
        data = assembled[0][1]
    else:
        data = np.empty(total, np.uint8)
        for at, piece_data, row_lengths in assembled:
            own_starts = np.cumsum(row_lengths) - row_lengths
            target = np.repeat(offsets[at] - own_starts, row_lengths)
            data[target + np.arange(piece_data.size)] = piece_data
    n_valid = int(valid.sum())
    validity = None if n_valid == rows else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.string(),
        rows,
        [validity, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)],
        null_count=rows - n_valid,
    )


def optional_array(rows: int, at: I64, values: npt.NDArray[np.generic], dtype: type) -> pa.Array:
    """An array of ``rows`` rows holding ``values`` at rows ``at`` and nulls elsewhere."""
    full: npt.NDArray[Any] = np.zeros(rows, dtype)
    full[at] = values
    valid = np.zeros(rows, np.bool_)
    valid[at] = True
    return pa.array(full, mask=~valid)


_OCTETS: Final = Vocab([str(i) for i in range(256)])


def dotted_quads(values: I64) -> pa.Array:
    """IPv4 addresses (``uint32`` values in int64) as dotted-quad strings, one per value."""
    octets = [_OCTETS.take((values >> shift) & 255) for shift in (24, 16, 8, 0)]
    dot = const_text(".", values.size)
    return string_array(
        values.size,
        [(np.arange(values.size), [octets[0], dot, octets[1], dot, octets[2], dot, octets[3]])],
    )
