"""Every entity's feature body of one snapshot, serialised once: an offsets array and the
bytes, in one memory-mapped file.

The GET endpoint answers with the JSON body of one entity (:meth:`FeatureSnapshot.body_at`).
Building it per request (the row's numbers, a dict, orjson) costs several microseconds of
Python; a :class:`BodyTable` holds the body of every row, built once when a snapshot is
loaded, so a GET is a dict probe and a slice. The table is a file mapped read-only: the
worker processes of one server map the same file (one page-cache copy per host, not one
heap copy per worker), and a worker that finds a valid file for its snapshot maps it
instead of building it again.

File layout (little-endian)::

    b"FGBODY01" | u32 header length | header (JSON) | padding to 8 bytes
    | u64 offsets[rows + 1] (positions in the file) | bodies, back to back

Row ``r``'s body is the file's bytes ``offsets[r]:offsets[r + 1]``; the last offset is the
file's size.

The header names the snapshot version and its row count; a file is used only if both
match and a sample of its bodies equals the bodies built afresh from the snapshot (a
version published again with other content, a truncated or foreign file: rebuilt).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import mmap
import os
import struct
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, cast

import numpy as np
import numpy.typing as npt
import orjson

from graph_service.errors import InvalidInput

if TYPE_CHECKING:
    from scoring.feature_cache.snapshot import FeatureSnapshot

log = logging.getLogger(__name__)

_MAGIC: Final = b"FGBODY01"
_HEADER_LEN: Final = struct.Struct("<I")
#: Rows serialised per chunk while a table is built: the payload dicts of one chunk stay
#: in the CPU caches (65,536 rows per chunk took 2.3x as long).
BUILD_CHUNK_ROWS: Final = 8_192
#: Rows whose stored bodies are compared with fresh ones before a file is trusted.
CHECKED_ROWS: Final = 64
#: Body files kept in a directory (the newest; the snapshot served now among them).
KEEP_FILES: Final = 3
_PREFIX: Final = "feature-bodies-"
_SUFFIX: Final = ".bin"


class BodyTable:
    """The feature bodies of one snapshot, row by row, in a read-only mapped file.

    Open one with :func:`body_table_for`; :meth:`body` is the whole read path.

    Attributes
    ----------
    version : str
        The snapshot version the bodies belong to.
    path : Path or None
        The file mapped (``None`` for a private file already unlinked).
    """

    __slots__ = ("_map", "_offsets", "path", "rows", "version")

    def __init__(self, mapped: mmap.mmap, *, path: Path | None) -> None:
        view = memoryview(mapped)
        if len(view) < 12 or bytes(view[:8]) != _MAGIC:
            view.release()
            raise InvalidInput("not a feature body file")
        (header_len,) = _HEADER_LEN.unpack_from(view, 8)
        try:
            header = orjson.loads(bytes(view[12 : 12 + header_len]))
            rows = int(header["rows"])
            version = str(header["version"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            view.release()
            raise InvalidInput(f"feature body file header is unreadable: {exc}") from exc
        start = _aligned(12 + header_len)
        data_at = start + 8 * (rows + 1)
        if rows < 0 or data_at > len(view):
            view.release()
            raise InvalidInput("feature body file is truncated")
        offsets = view[start:data_at].cast("Q")
        if offsets[0] != data_at or offsets[rows] != len(view):
            offsets.release()
            view.release()
            raise InvalidInput("feature body file is truncated")
        view.release()
        self._map = mapped
        self._offsets = offsets
        self.rows = rows
        self.version = version
        self.path = path

    def __len__(self) -> int:
        return self.rows

    def body(self, row: int) -> bytes:
        """The body of ``row`` (a valid row)."""
        offsets = self._offsets
        return self._map[offsets[row] : offsets[row + 1]]

    def matches(self, snapshot: FeatureSnapshot) -> bool:
        """Whether this table holds ``snapshot``'s bodies (version, rows and a sample)."""
        if self.version != snapshot.version or self.rows != len(snapshot):
            return False
        if self.rows == 0:
            return True
        sample = np.unique(np.linspace(0, self.rows - 1, CHECKED_ROWS).astype(np.int64))
        return all(self.body(row) == snapshot.built_body_at(row) for row in sample.tolist())

    def close(self) -> None:
        """Unmap the file (bodies already handed out stay valid: they are copies)."""
        self._offsets.release()
        with contextlib.suppress(BufferError):
            self._map.close()


def body_table_for(snapshot: FeatureSnapshot, directory: Path | None) -> BodyTable:
    """The body table of ``snapshot``: the valid file in ``directory``, or a new one.

    Parameters
    ----------
    snapshot : FeatureSnapshot
    directory : Path, optional
        Where the workers of one server keep body files (their shared run directory). A
        new file is written under a private name and renamed into place, so workers
        building at once never see half a file; older files beyond :data:`KEEP_FILES`
        are removed. ``None``: a private file, unlinked once mapped.

    Returns
    -------
    BodyTable

    Notes
    -----
    Building is O(rows): :meth:`FeatureSnapshot.payloads` and orjson over chunks of
    :data:`BUILD_CHUNK_ROWS` rows, written as they come (a few seconds per million rows).
    """
    if directory is None:
        with tempfile.TemporaryFile(prefix=_PREFIX, suffix=_SUFFIX) as handle:
            _write(snapshot, handle)
            return BodyTable(_map_file(handle.fileno()), path=None)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_PREFIX}{snapshot.version}{_SUFFIX}"
    table = _open_valid(path, snapshot)
    if table is None:
        fd, name = tempfile.mkstemp(prefix=f".{_PREFIX}", suffix=_SUFFIX, dir=directory)
        private = Path(name)
        try:
            with os.fdopen(fd, "w+b") as handle:
                _write(snapshot, handle)
                private.replace(path)
                table = BodyTable(_map_file(handle.fileno()), path=path)
        except BaseException:
            private.unlink(missing_ok=True)
            raise
        log.info(
            "feature bodies written",
            extra={"version": snapshot.version, "rows": len(snapshot), "path": str(path)},
        )
    _prune(directory, keep=path)
    return table


def _open_valid(path: Path, snapshot: FeatureSnapshot) -> BodyTable | None:
    """The table in ``path`` if it holds ``snapshot``'s bodies, else ``None``."""
    try:
        with path.open("rb") as handle:
            mapped = _map_file(handle.fileno())
    except (OSError, ValueError):  # missing, unreadable or empty
        return None
    try:
        table = BodyTable(mapped, path=path)
    except InvalidInput as exc:
        mapped.close()
        log.warning("feature body file %s ignored: %s", path, exc)
        return None
    if table.matches(snapshot):
        return table
    table.close()
    log.warning("feature body file %s does not match snapshot %s", path, snapshot.version)
    return None


def _write(snapshot: FeatureSnapshot, handle: BinaryIO) -> None:
    """Write ``snapshot``'s body file to the open binary file ``handle``."""
    rows = len(snapshot)
    header = orjson.dumps({"version": snapshot.version, "rows": rows, "format": 1})
    start = _aligned(12 + len(header))
    handle.write(_MAGIC + _HEADER_LEN.pack(len(header)) + header)
    handle.write(b"\0" * (start - 12 - len(header)))
    offsets = np.zeros(rows + 1, "<u8")
    offsets[0] = start + offsets.nbytes
    handle.write(offsets.tobytes())  # placeholder, rewritten once the sizes are known
    # The payload dicts are garbage at once and form no cycles: collections meanwhile
    # would only rescan the snapshot's millions of objects (1.4x the time, measured).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _write_bodies(snapshot, handle, offsets)
    finally:
        if collecting:
            gc.enable()
    handle.seek(start)
    handle.write(offsets.tobytes())
    handle.flush()


def _write_bodies(
    snapshot: FeatureSnapshot, handle: BinaryIO, offsets: npt.NDArray[np.uint64]
) -> None:
    """Write every row's body in order, filling ``offsets[1:]`` (``offsets[0]`` is set)."""
    rows = len(snapshot)
    at = int(offsets[0])
    for first in range(0, rows, BUILD_CHUNK_ROWS):
        # Every row is valid, so no body is None (len() would raise on one).
        chunk = cast(
            "list[bytes]", snapshot.bodies(np.arange(first, min(first + BUILD_CHUNK_ROWS, rows)))
        )
        sizes = np.fromiter(map(len, chunk), np.uint64, count=len(chunk))
        offsets[first + 1 : first + 1 + len(chunk)] = at + np.cumsum(sizes)
        at += int(sizes.sum())
        handle.write(b"".join(chunk))


def _map_file(fd: int) -> mmap.mmap:
    mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    if sys.platform.startswith("linux"):
        # Rows are read at random: no read-ahead of neighbouring pages.
        with contextlib.suppress(AttributeError, OSError):
            mapped.madvise(mmap.MADV_RANDOM)
    return mapped


def _prune(directory: Path, *, keep: Path) -> None:
    """Remove body files beyond the :data:`KEEP_FILES` newest (never ``keep``).

    A worker still serving a removed file keeps its mapping: the pages live until it
    unmaps them.
    """
    files = []
    for path in directory.glob(f"{_PREFIX}*{_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            files.append((path.stat().st_mtime, path))
    files.sort(reverse=True)
    for _, path in files[KEEP_FILES:]:
        if path != keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _aligned(at: int) -> int:
    return (at + 7) // 8 * 8
