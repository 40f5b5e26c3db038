"""Streaming reader of a top-level JSON array: one element at a time, never the whole file.

A bank's exports often come as one JSON array of event objects, gigabytes long;
:class:`ArrayElements` decodes it block by block and says where a damaged or cut-short
array stops making sense (:class:`~ingestion.errors.TruncatedFile`), so everything before
that point can load.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Final

from graph_service.errors import InvalidInput
from ingestion.errors import TruncatedFile

__all__ = ["NULL", "ArrayElements"]

_BLOCK_CHARS: Final = 1 << 20
#: Longest element the array reader waits for before calling the rest damaged.
_MAX_ELEMENT_CHARS: Final = 64 << 20
_JSON_WHITESPACE: Final = " \t\r\n"


class _Expect(StrEnum):
    ARRAY = "["
    SEPARATOR = ", or ]"
    NOTHING = "end"


class ArrayElements:
    """The elements of a top-level JSON array, decoded one at a time from a text stream.

    Memory holds one block of text (plus the element being decoded), never the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index = 0  # elements returned so far
        self._fh = path.open(encoding="utf-8-sig")
        self._buffer = ""
        self._pos = 0
        self._decoder = json.JSONDecoder()
        self._expect = _Expect.ARRAY

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def next(self) -> object | None:
        """The next element (``NULL`` for a JSON ``null``), or ``None`` after the last.

        Raises
        ------
        InvalidInput
            If the file is not a JSON array or not UTF-8.
        TruncatedFile
            If the array is cut short or damaged after ``index`` elements.
        """
        if self._expect is _Expect.NOTHING:
            return None
        if self._expect is _Expect.ARRAY:
            if self._peek() != "[":
                raise InvalidInput(f"{self.path}: not a JSON array of objects")
            self._pos += 1
            if self._peek() == "]":
                self._finish()
                return None
        elif self._expect is _Expect.SEPARATOR:
            mark = self._peek()
            if mark == "]":
                self._finish()
                return None
            if mark != ",":
                raise self._damaged(f"expected ',' or ']', found {mark or 'the end'!r}")
            self._pos += 1
        while True:
            if self._peek() == "":
                raise self._damaged("the file ends inside the array")
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buffer) - self._pos < _MAX_ELEMENT_CHARS and self._fill():
                    continue  # the element may run past the buffer: read on and retry
                raise self._damaged(exc.msg) from exc
            if end == len(self._buffer) and self._fill():
                continue  # a number at the end of the buffer may go on in the next block
            self._pos = end
            self.index += 1
            self._expect = _Expect.SEPARATOR
            return NULL if value is None else value

    def _finish(self) -> None:
        self._pos += 1
        self._expect = _Expect.NOTHING
        if self._peek() != "":
            raise self._damaged("text after the closing ']'")

    def _fill(self) -> bool:
        """Append one more block; False at the end of the file."""
        try:
            block = self._fh.read(_BLOCK_CHARS)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{self.path}: not a UTF-8 JSON file ({exc.reason})") from exc
        if not block:
            return False
        self._buffer = self._buffer[self._pos :] + block
        self._pos = 0
        return True

    def _peek(self) -> str:
        """The next non-blank character (not consumed), or ``""`` at the end of the file."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in _JSON_WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return ""

    def _damaged(self, what: str) -> TruncatedFile:
        return TruncatedFile(
            f"{self.path}: JSON array is damaged after element {self.index} ({what})"
        )


#: Stands for a JSON ``null`` element (``None`` means "no more elements").
NULL: Final = object()
