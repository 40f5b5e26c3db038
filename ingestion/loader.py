"""Batch loading of input files into a ``GraphStore``, with quarantine and a ledger.

The guarantees, per input file (its *source* is the SHA-256 of its bytes):

* every row read is loaded, quarantined or counted as a duplicate, and the manifest
  checks ``rows_read == rows_loaded + rows_quarantined + rows_duplicate``; a loaded row
  may leave malformed optional fields behind in quarantine (``fields_quarantined``,
  counted per batch in the ledger like the rows);
* each batch is committed in one transaction with its ledger row, so a process killed
  mid-ingest leaves whole batches only; the next run skips the committed batches and
  finishes the file;
* a file already ingested completely is skipped (re-ingesting is a no-op);
* an event id seen before (in this file or already stored) is a duplicate when its
  normalised content is the same, and is quarantined as ``conflicting_duplicate`` when
  it differs; only the loaded copy's quarantined fields are kept;
* files inside a directory that are not events, labels or entity attributes (a README,
  a ground-truth file, metadata) are skipped and reported in ``files_unrecognised``; a
  file named explicitly that cannot be recognised is an error.

Two load paths, one result (:class:`LoadMode`). Every batch is read, validated,
normalised, fingerprinted and deduplicated against the store the same way, and commits its
events, event keys, quarantine and ledger row in one transaction. They differ in when the
graph is built:

* **incremental**: the batch resolves its entities and writes its link and entity deltas
  in its own transaction (cheap for a small batch into a large store);
* **bulk**: the batch defers its graph (``BatchCommit.defer_graph``); the store builds the
  graph of all deferred batches in one set-based pass over their normalised Parquet (at
  compaction, at the end of the run, or before the next incremental batch). Entity ids,
  links and entity facts equal those of the incremental path, and a run killed mid-way
  resumes like any other: committed batches stay deferred until the next build.

``LoadMode.AUTO`` (the default) takes the bulk path for a batch when **none of its event
ids is already in the store's ledger** (a fresh store, or new data: no re-delivery to
reconcile) **and** its file holds at least ``bulk_min_rows`` rows (the Parquet row count,
or for text formats the rows read so far; small files stay on the incremental path, where
the graph is current after every batch, and the short last batch of a large file does not
switch paths). ``BULK`` and ``INCREMENTAL`` force one path for every batch. The loader
builds the graph of the deferred batches whenever ``bulk_build_rows`` events are pending
and at the end of the run, when the sink can (``DeferredGraphSink``), and reports the time
in ``graph_build_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph_service.errors import InvalidInput
from graph_service.store import (
    QUARANTINE_SCHEMA,
    BatchCommit,
    DeferredGraphSink,
    IngestSink,
    QuarantineLevel,
)
from ingestion.errors import TruncatedFile
from ingestion.quarantine import quarantine_rows
from ingestion.readers import (
    FileFormat,
    RawChunk,
    discover,
    file_checksum,
    format_of,
    read_chunks,
    read_columns,
)
from ingestion.schema import ColumnMapping, FileKind, detect_kind, resolve_columns
from ingestion.validate import Validated, Validator

log = logging.getLogger(__name__)

#: Called as ``on_progress(path, rows_read_so_far, total_rows_or_None)``.
ProgressCallback = Callable[[Path, int, int | None], None]

#: ``LoadMode.AUTO`` keeps the batches of files smaller than this on the incremental path.
BULK_MIN_ROWS = 10_000

#: Deferred events that trigger a graph build during the run: one build over tens of
#: millions of events spills the engine's hash tables to disk, a few smaller builds do not.
BULK_BUILD_ROWS = 3_000_000


class LoadMode(StrEnum):
    """How a batch of events builds its part of the graph (see the module docstring)."""

    AUTO = "auto"
    BULK = "bulk"
    INCREMENTAL = "incremental"


@dataclass(slots=True)
class FileManifest:
    """What happened to one input file.

    ``rows_read == rows_loaded + rows_quarantined + rows_duplicate`` always holds for a
    file that finished; counts include batches committed by an earlier, interrupted run.
    """

    path: str
    source: str
    kind: str
    format: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    fields_quarantined: int = 0
    batches: int = 0
    batches_resumed: int = 0
    batches_bulk: int = 0
    skipped: bool = False
    seconds: float = 0.0
    finished_at: str = ""
    columns_renamed: dict[str, str] = field(default_factory=dict)
    columns_ignored: list[dict[str, str]] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        """Whether every row read is accounted for."""
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_duplicate


@dataclass(frozen=True, slots=True)
class UnrecognisedFile:
    """A file found in a directory that was not ingested, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """The manifest of one ingest run over one or more files."""

    files: list[FileManifest] = field(default_factory=list)
    unrecognised: list[UnrecognisedFile] = field(default_factory=list)
    quarantine_path: str | None = None
    seconds: float = 0.0
    graph_build_seconds: float = 0.0

    def total(self, name: str) -> int:
        """Sum of one count over the files."""
        return sum(int(getattr(f, name)) for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready manifest (the CLI's ``ingest --json`` output).

        ``files_skipped`` counts files already ingested (a no-op); ``files_unrecognised``
        lists the files of a directory that were not events, labels or entity attributes.
        """
        return {
            "rows_read": self.total("rows_read"),
            "rows_loaded": self.total("rows_loaded"),
            "rows_quarantined": self.total("rows_quarantined"),
            "rows_duplicate": self.total("rows_duplicate"),
            "fields_quarantined": self.total("fields_quarantined"),
            "files": len(self.files),
            "files_skipped": sum(f.skipped for f in self.files),
            "files_unrecognised": [asdict(u) for u in self.unrecognised],
            "columns_ignored": [
                {"path": f.path, **ignored} for f in self.files for ignored in f.columns_ignored
            ],
            "quarantine_path": self.quarantine_path,
            "seconds": round(self.seconds, 3),
            "graph_build_seconds": round(self.graph_build_seconds, 3),
            "reconciled": all(f.reconciled for f in self.files),
            "manifests": [asdict(f) for f in self.files],
        }


class Ingestor:
    """Loads files into a store. One per run; not thread-safe.

    Parameters
    ----------
    store : IngestSink
    quarantine_dir : Path
        Where the run's quarantine Parquet is written.
    batch_size : int
        Rows per batch (one transaction each). An interrupted source resumes with the
        batch size it started with.
    default_region : str
        Region for national phone numbers whose row has no usable ``country``.
    kind : FileKind, optional
        Force the kind of every file instead of detecting it from the columns.
    file_format : FileFormat, optional
        Force the format instead of reading it from the suffix.
    on_progress : callable, optional
    mode : LoadMode
        Bulk or incremental graph building per batch; ``AUTO`` chooses by the rule in
        the module docstring.
    bulk_min_rows : int
        Under ``AUTO``, the batches of files with fewer rows stay incremental.
    bulk_build_rows : int
        Build the graph of deferred batches whenever this many events are pending (and at
        the end of the run).
    """

    def __init__(
        self,
        store: IngestSink,
        *,
        quarantine_dir: Path,
        batch_size: int = 1_000_000,
        default_region: str = "GB",
        kind: FileKind | None = None,
        file_format: FileFormat | None = None,
        on_progress: ProgressCallback | None = None,
        mode: LoadMode = LoadMode.AUTO,
        bulk_min_rows: int = BULK_MIN_ROWS,
        bulk_build_rows: int = BULK_BUILD_ROWS,
    ) -> None:
        self.store = store
        self.mode = mode
        self.bulk_min_rows = bulk_min_rows
        self.bulk_build_rows = bulk_build_rows
        self._deferred_rows = 0
        self._graph_build_seconds = 0.0
        self.quarantine_dir = quarantine_dir
        self.batch_size = batch_size
        self.default_region = default_region
        self.kind = kind
        self.file_format = file_format
        self.on_progress = on_progress
        self._engine = duckdb.connect(config={"threads": 2})
        self._engine.execute("SET TimeZone = 'UTC'")
        self._engine.execute("SET enable_progress_bar = false")

    def run(self, paths: Sequence[Path]) -> IngestReport:
        """Ingest every file under ``paths`` (files or directories), in order.

        A file found in a directory that is not events, labels or entity attributes (an
        unknown suffix, another format than its suffix says, columns of no known kind) is
        skipped and reported in ``IngestReport.unrecognised``.

        Raises
        ------
        InvalidInput
            On a file named in ``paths`` that is not of its declared format, is of no
            known kind or lacks required columns (files before it stay ingested, and the
            error names the file), or when nothing under ``paths`` can be ingested.
        """
        started = time.perf_counter()
        report = IngestReport()
        self._graph_build_seconds = 0.0
        found = discover(list(paths))
        report.unrecognised.extend(UnrecognisedFile(str(p), why) for p, why in found.skipped)
        sources: list[str] = []
        try:
            for path in found.files:
                try:
                    recognised = self._recognise(path)
                except InvalidInput as exc:
                    if path in found.named:
                        raise
                    reason = str(exc).removeprefix(f"{path}: ")
                    log.info("skipping unrecognised file", extra={"path": str(path)})
                    report.unrecognised.append(UnrecognisedFile(str(path), reason))
                    continue
                manifest = self._ingest_file(path, recognised)
                report.files.append(manifest)
                if not manifest.skipped:
                    sources.append(manifest.source)
            self._build_deferred()
        finally:
            report.graph_build_seconds = self._graph_build_seconds
            report.quarantine_path = self._write_quarantine(sources)
            report.seconds = time.perf_counter() - started
        if not report.files:
            skipped = "; ".join(f"{Path(u.path).name}: {u.reason}" for u in report.unrecognised)
            raise InvalidInput(
                f"no input files under {', '.join(map(str, paths))}"
                + (f" (skipped {skipped})" if skipped else "")
            )
        return report

    def close(self) -> None:
        """Release the in-memory engine."""
        self._engine.close()

    # -- one file -------------------------------------------------------------------------
    def _recognise(self, path: Path) -> _Recognised:
        """Format, kind and columns of a file, before anything is written for it.

        Raises
        ------
        InvalidInput
            If the file is not of its format, of no known kind, or lacks required columns.
        """
        fmt = format_of(path, self.file_format)
        try:
            columns = read_columns(path, fmt)
        except TruncatedFile as exc:
            return _Recognised(fmt, self.kind or FileKind.EVENTS, None, exc)
        kind = self.kind or _detect(path, columns)
        mapping = resolve_columns(columns, kind)
        missing = mapping.missing()
        if missing:
            raise InvalidInput(f"{path}: {kind.value} file lacks required column(s) {missing}")
        return _Recognised(fmt, kind, mapping, None)

    def _ingest_file(self, path: Path, recognised: _Recognised) -> FileManifest:
        started = time.perf_counter()
        fmt, kind = recognised.format, recognised.kind
        source = file_checksum(path)
        progress = self.store.source_progress(source)
        manifest = FileManifest(path=str(path), source=source, kind=kind.value, format=fmt.value)
        if recognised.columns is not None:
            manifest.columns_renamed = recognised.columns.renamed
            manifest.columns_ignored = [asdict(c) for c in recognised.columns.ignored]
        if progress is not None and progress.complete:
            log.info("already ingested, skipping", extra={"path": str(path)})
            manifest.skipped = True
            return manifest
        if recognised.truncated is not None:
            self.store.begin_source(source, path=str(path), kind=kind.value, batch_size=1)
            self._quarantine_truncated(path, source, 0, recognised.truncated)
            return self._finish(path, source, manifest, started)
        batch_size = progress.batch_size if progress and progress.batch_size else self.batch_size
        done = progress.batches_done if progress else frozenset()
        self.store.begin_source(source, path=str(path), kind=kind.value, batch_size=batch_size)
        total = _row_count(path, fmt)
        validator = Validator(kind, default_region=self.default_region)
        rows_seen = 0
        index = -1
        chunks = _validated_ahead(
            read_chunks(path, fmt, batch_size), validator, done, source=source, path=str(path)
        )
        try:
            for index, rows_read, validated in chunks:
                rows_seen += rows_read
                if validated is None:
                    manifest.batches_resumed += 1
                    continue
                file_rows = total if total is not None else rows_seen
                commit = self._commit(
                    kind, validated, source, str(path), index, rows_read, file_rows
                )
                self.store.commit_batch(commit)
                manifest.batches_bulk += commit.defer_graph
                if commit.defer_graph:
                    self._deferred_rows += commit.rows_loaded
                    if self._deferred_rows >= self.bulk_build_rows:
                        self._build_deferred()
                _note_columns(manifest, validated.columns)
                if self.on_progress:
                    self.on_progress(path, rows_seen, total)
        except TruncatedFile as exc:
            self._quarantine_truncated(path, source, index + 1, exc)
        finally:
            chunks.close()
            validator.close()
        return self._finish(path, source, manifest, started)

    def _build_deferred(self) -> None:
        """Build the graph of the deferred batches (in commit order), if the sink defers."""
        if isinstance(self.store, DeferredGraphSink):
            building = time.perf_counter()
            self.store.build_pending_graph()
            self._graph_build_seconds += time.perf_counter() - building
        self._deferred_rows = 0

    def _finish(
        self, path: Path, source: str, manifest: FileManifest, started: float
    ) -> FileManifest:
        final = self.store.source_progress(source)
        assert final is not None
        manifest.rows_read = final.rows_read
        manifest.rows_loaded = final.rows_loaded
        manifest.rows_quarantined = final.rows_quarantined
        manifest.rows_duplicate = final.rows_duplicate
        manifest.fields_quarantined = final.fields_quarantined
        manifest.batches = len(final.batches_done)
        manifest.seconds = round(time.perf_counter() - started, 3)
        manifest.finished_at = datetime.now(UTC).isoformat()
        if not manifest.reconciled:
            raise AssertionError(f"{path}: counts do not reconcile: {manifest}")
        self.store.complete_source(source, asdict(manifest))
        return manifest

    def _commit(
        self,
        kind: FileKind,
        validated: Validated,
        source: str,
        path: str,
        index: int,
        rows_read: int,
        file_rows: int,
    ) -> BatchCommit:
        clean = validated.clean
        rejects = [validated.rejects]
        fields = validated.field_rejects
        duplicates = 0
        defer = False
        payload: dict[str, pa.Table] = {}
        if kind is FileKind.EVENTS:
            clean, duplicates, conflicts, stored = self._deduplicate(clean)
            # A sink that cannot defer (Neo4j) builds every batch's graph with the batch.
            defer = isinstance(self.store, DeferredGraphSink) and (
                self.mode is LoadMode.BULK
                or (self.mode is LoadMode.AUTO and stored == 0 and file_rows >= self.bulk_min_rows)
            )
            if fields.num_rows and clean.num_rows != validated.clean.num_rows:
                # A repeat or a conflict is not loaded, so neither are its fields.
                loaded = pc.is_in(fields.column("row_number"), value_set=clean.column("row_number"))
                fields = fields.filter(loaded)
            if conflicts.num_rows:
                rejects.append(
                    quarantine_rows(
                        source,
                        path,
                        conflicts,
                        "conflicting_duplicate",
                        "event_id seen before with different content",
                    )
                )
            payload["events"] = clean.drop_columns(["row_number"])
        elif kind is FileKind.LABELS:
            payload["labels"] = clean.drop_columns(["row_number"])
        else:
            payload["entity_attributes"] = clean.drop_columns(["row_number"])
        return BatchCommit(
            source=source,
            path=path,
            batch_index=index,
            rows_read=rows_read,
            rows_duplicate=duplicates,
            quarantine=pa.concat_tables([*rejects, fields]),
            defer_graph=defer,
            **payload,
        )

    def _deduplicate(self, clean: pa.Table) -> tuple[pa.Table, int, pa.Table, int]:
        """Drop repeats of known events; split off conflicting repeats.

        ``clean`` carries the ``fingerprint`` the validator computed.

        Returns (new events with ``fingerprint``, number of exact duplicates, conflicting
        rows without fingerprint, number of the batch's event ids already stored).
        """
        events = clean
        con = self._engine
        stored = self.store.event_fingerprints(events.column("event_id"))
        in_batch_unique = pc.count_distinct(events.column("event_id")).as_py() == events.num_rows
        if stored.num_rows == 0 and in_batch_unique:
            return events, 0, events.slice(0, 0).drop_columns(["fingerprint"]), 0
        con.register("_ev", events)
        con.register("_stored", stored)
        try:
            ranked = con.execute(
                """
                SELECT e.*,
                       coalesce(s.fingerprint, first_value(e.fingerprint) OVER w) AS _first_fp,
                       s.fingerprint IS NOT NULL OR row_number() OVER w > 1 AS _seen
                FROM _ev e LEFT JOIN _stored s USING (event_id)
                WINDOW w AS (PARTITION BY e.event_id ORDER BY e.row_number)
                ORDER BY e.row_number
                """
            ).to_arrow_table()
        finally:
            con.unregister("_ev")
            con.unregister("_stored")
        seen = ranked.column("_seen")
        same = pc.equal(ranked.column("fingerprint"), ranked.column("_first_fp"))
        duplicate = pc.and_(seen, same)
        conflict = pc.and_(seen, pc.invert(same))
        keep = pc.invert(seen)
        drop = ["_first_fp", "_seen"]
        fresh = ranked.filter(keep).drop_columns(drop)
        conflicts = ranked.filter(conflict).drop_columns([*drop, "fingerprint"])
        return fresh, int(pc.sum(duplicate).as_py() or 0), conflicts, stored.num_rows

    def _quarantine_truncated(self, path: Path, source: str, index: int, exc: Exception) -> None:
        """Record an unreadable (truncated) remainder of a file as one quarantine row."""
        row = {
            "source": source,
            "path": str(path),
            "row_number": -1,
            "reason": "truncated_file",
            "detail": str(exc),
            "raw": None,
            "level": QuarantineLevel.ROW.value,
        }
        self.store.commit_batch(
            BatchCommit(
                source=source,
                path=str(path),
                batch_index=index,
                rows_read=1,
                rows_duplicate=0,
                quarantine=pa.Table.from_pylist([row], QUARANTINE_SCHEMA),
            )
        )

    def _write_quarantine(self, sources: list[str]) -> str | None:
        tables = [self.store.quarantine(s) for s in sources]
        rows = pa.concat_tables(tables) if tables else QUARANTINE_SCHEMA.empty_table()
        if not sources:
            return None
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        out = self.quarantine_dir / f"quarantine-{stamp}.parquet"
        pq.write_table(rows, out)
        return str(out)


@dataclass(frozen=True, slots=True)
class _Recognised:
    format: FileFormat
    kind: FileKind
    columns: ColumnMapping | None  # None for a file whose header could not be read
    truncated: TruncatedFile | None


def _note_columns(manifest: FileManifest, columns: ColumnMapping) -> None:
    """Add a chunk's column matches to the file's (JSON lines may vary line by line)."""
    manifest.columns_renamed.update(columns.renamed)
    known = {c["column"] for c in manifest.columns_ignored}
    manifest.columns_ignored.extend(asdict(c) for c in columns.ignored if c.column not in known)


def _detect(path: Path, columns: list[str]) -> FileKind:
    try:
        return detect_kind(columns)
    except ValueError as exc:
        raise InvalidInput(f"{path}: {exc}") from exc


def _row_count(path: Path, fmt: FileFormat) -> int | None:
    if fmt is FileFormat.PARQUET:
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowInvalid, OSError):
            return None
    return None


def _validated_ahead(
    chunks: Iterator[RawChunk],
    validator: Validator,
    done: frozenset[int],
    *,
    source: str,
    path: str,
) -> Generator[tuple[int, int, Validated | None], None, None]:
    """Yield ``(index, rows_read, validated)``, reading and validating one chunk ahead.

    The next chunk is parsed and validated in a worker thread while the caller commits
    the current one (Arrow and DuckDB release the GIL). Chunks already in the ledger
    (``done``) are read but not validated: ``validated`` is ``None`` for them.
    """
    numbered = enumerate(chunks)

    def step() -> tuple[int, int, Validated | None] | None:
        item = next(numbered, None)
        if item is None:
            return None
        index, chunk = item
        if index in done:
            return index, chunk.rows_read, None
        return index, chunk.rows_read, validator.validate(chunk, source=source, path=path)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fraudgraph-validate") as pool:
        pending = pool.submit(step)
        while (ready := pending.result()) is not None:
            pending = pool.submit(step)
            yield ready
