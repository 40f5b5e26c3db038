"""Bulk import of an embedded store into a new Neo4j database (``neo4j-admin database import``).

The transactional path (``graph_service.neo4j.ingest``) writes a few thousand events per
second through the driver: right for increments, far too slow for an initial load. This
module takes the bulk path instead:

1. **export**: DuckDB writes the embedded store's ``entities`` and ``links`` as the CSV
   files ``neo4j-admin`` reads (``nodes.csv``, ``links.csv``, headers included), with the
   same ids, labels, properties and link aggregates the transactional path writes;
2. **import**: the local server is stopped and ``neo4j-admin database import full`` (the
   ``org.neo4j.cli.AdminTool`` of the local Maven build) writes a *new* database from them
   (Community can only do a full import into a new database);
3. **switch**: the new database becomes the server's default
   (``initial.dbms.default_database``, kept in the data dir by
   :func:`launcher.set_default_database`) and the server is started on it;
4. **schema and ledger**: opening a ``Neo4jStore`` creates the constraints and indexes, then
   one transaction writes the ingest ledger (``:_IngestSource``, ``:_IngestBatch``), the
   labels and the ``:_Meta`` counters, and the event and quarantine files are placed in the
   Neo4j store's ``store_dir``, so re-ingesting an imported file is a no-op and later
   increments continue the id sequence.

CSV, not Parquet: Parquet input exists from 5.26 but mislabelled nodes before 5.26.26.
Scores and analytics tables are not imported: ``fraudgraph analyse`` recomputes them.

A failure before the switch leaves the previous default database serving (the server is
restarted on it); the half-written new database is removed by ``neo4j-admin`` or
overwritten by the next ``overwrite=True`` run.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from graph_service.errors import BackendUnavailable, InvalidInput
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, NodeType
from graph_service.neo4j import cypher, launcher
from graph_service.neo4j.local_build import LIB_DIR, build, truncate
from graph_service.store import ENTITY_ATTRIBUTES, conform_quarantine

log = logging.getLogger(__name__)

_ADMIN_MAIN = "org.neo4j.cli.AdminTool"
_EMBEDDED_FILE = "graph.duckdb"
_ISO_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"
#: neo4j-admin's types of the node properties, as the transactional path stores them.
_ATTRIBUTE_TYPES = {
    "is_emulator": "boolean",
    "is_rooted": "boolean",
    "os": "string",
    "is_proxy": "boolean",
    "asn": "long",
    "country": "string",
}
_IMPORT_TIMEOUT_S = 6 * 3600.0

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ImportFiles:
    """The CSV files of one export and what they hold."""

    directory: Path
    nodes: Path
    links: Path
    n_nodes: int
    n_links: int
    multiline: bool


@dataclass(frozen=True, slots=True)
class BulkImportReport:
    """What :func:`bulk_import` did and how long each step took.

    Attributes
    ----------
    database : str
        The new database, now the server's default.
    uri : str
        Bolt URI of the restarted server.
    nodes, links : int
        Entities and links imported (as counted by the export).
    events : int
        Events the embedded store's ledger loaded (``rows_loaded`` summed): what the graph
        aggregates.
    sources, batches, labels : int
        Ledger sources and batches and labels written after the import.
    seconds : dict[str, float]
        ``export``, ``stop``, ``import``, ``start``, ``schema``, ``ledger``, ``total``.
    """

    database: str
    uri: str
    nodes: int
    links: int
    events: int
    sources: int
    batches: int
    labels: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        """Events loaded per second, end to end."""
        total = self.seconds.get("total", 0.0)
        return self.events / total if total > 0 else 0.0


def open_embedded_source(source_store: Path) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection on an embedded store, checked to be compacted.

    Raises
    ------
    InvalidInput
        If ``source_store`` holds no embedded store, or it has link or entity deltas not yet
        folded in (an interrupted ingest: run ``fraudgraph ingest`` again to finish it).
    """
    path = Path(source_store) / _EMBEDDED_FILE
    if not path.is_file():
        raise InvalidInput(f"no embedded store at {source_store} (missing {_EMBEDDED_FILE})")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise InvalidInput(f"cannot open the embedded store {path}: {exc}") from exc
    con.execute("SET TimeZone = 'UTC'")
    row = con.execute(
        "SELECT (SELECT count(*) FROM link_deltas) + (SELECT count(*) FROM entity_deltas)"
    ).fetchone()
    if row is not None and row[0]:
        con.close()
        raise InvalidInput(
            f"embedded store {source_store} has {row[0]} delta rows not yet compacted; "
            "finish its ingest (`fraudgraph ingest` again) before a bulk import"
        )
    return con


def export_import_files(con: duckdb.DuckDBPyConnection, out_dir: Path) -> ImportFiles:
    """Write the embedded store's entities and links as ``neo4j-admin`` CSV files.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`open_embedded_source`.
    out_dir : Path
        Created if missing; ``nodes.csv`` and ``links.csv`` are (over)written there.

    Returns
    -------
    ImportFiles

    Notes
    -----
    Two DuckDB ``COPY`` scans, O(entities + links). Node ids are the embedded ids (the
    transactional path assigns the same); timestamps are written as ISO-8601 UTC with
    microseconds; a null writes an empty field, which ``neo4j-admin`` skips, so the node has
    no such property, as on the transactional path.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    nodes, links = out_dir / "nodes.csv", out_dir / "links.csv"
    labels = " ".join(
        f"WHEN {NODE_TYPE_CODE[t]} THEN '{cypher.ENTITY_LABEL};{cypher.label_of(t)}'"
        for t in NodeType
    )
    columns = [
        '"id" AS "id:ID"',
        '"type"::BIGINT AS "type:long"',
        '"key" AS "key:string"',
        *(f"strftime({c}, '{_ISO_MICROS}') AS \"{c}:datetime\"" for c in ("first_ts", "last_ts")),
    ]
    for name in ENTITY_ATTRIBUTES:
        columns.append(f'{name} AS "{name}:{_ATTRIBUTE_TYPES[name]}"')
        columns.append(f'epoch_us({name}_ts) AS "{cypher.ATTRIBUTE_TS_PREFIX}{name}:long"')
    columns.append(f'CASE "type" {labels} END AS ":LABEL"')
    _copy(con, f"SELECT {', '.join(columns)} FROM entities ORDER BY id", nodes)
    types = " ".join(
        f"WHEN {code} THEN '{cypher.rel_type_of(t)}'" for t, code in LINK_TYPE_CODE.items()
    )
    _copy(
        con,
        'SELECT src AS ":START_ID", dst AS ":END_ID", '
        f'CASE "type" {types} END AS ":TYPE", n_events AS "n_events:long", '
        'amount_sum AS "amount_sum:double", '
        f"strftime(first_ts, '{_ISO_MICROS}') AS \"first_ts:datetime\", "
        f"strftime(last_ts, '{_ISO_MICROS}') AS \"last_ts:datetime\" "
        "FROM links ORDER BY src, dst, type",
        links,
    )
    counts = con.execute(
        "SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM links), "
        "(SELECT count(*) FROM entities WHERE regexp_matches(coalesce(key, '') || "
        "coalesce(os, '') || coalesce(country, ''), '[\\r\\n]'))"
    ).fetchone()
    assert counts is not None
    return ImportFiles(
        directory=out_dir,
        nodes=nodes,
        links=links,
        n_nodes=int(counts[0]),
        n_links=int(counts[1]),
        multiline=bool(counts[2]),
    )


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    # Nulls as empty unquoted fields (skipped by neo4j-admin); empty strings come out as "".
    con.execute(
        f"COPY ({query}) TO '{path}' "
        "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULL '')"
    )


def admin_import(
    *,
    data_dir: Path,
    database: str,
    files: ImportFiles,
    overwrite: bool = False,
    threads: int | None = None,
    heap: str = "1g",
) -> str:
    """Run ``neo4j-admin database import full`` into ``database`` of a stopped server.

    Parameters
    ----------
    data_dir : Path
        The local server's data dir (its ``NEO4J_HOME``); no server may run there.
    database : str
        The new database.
    files : ImportFiles
        From :func:`export_import_files`.
    overwrite : bool, default False
        Replace ``database`` if it exists.
    threads : int, optional
        Import threads (default: the CPUs available).
    heap : str, default "1g"
        The tool's JVM heap; most of its memory is off-heap.

    Returns
    -------
    str
        The tool's summary (its last lines).

    Raises
    ------
    InvalidInput
        If ``database`` exists and ``overwrite`` is False, or its name is not valid.
    BackendUnavailable
        If a server runs in ``data_dir``, Java is missing, or the tool failed (the message
        ends with its last lines; its full report is in ``logs/import.report``).
    """
    launcher.check_database_name(database)
    data_dir = data_dir.resolve()
    if launcher.status(data_dir).running:
        raise BackendUnavailable(f"a server runs in {data_dir}; stop it before an import")
    if (data_dir / "data" / "databases" / database).exists() and not overwrite:
        raise InvalidInput(
            f"database {database!r} already exists in {data_dir}; pick another name or overwrite it"
        )
    java = shutil.which("java", path=_java_path())
    if java is None:
        raise BackendUnavailable("java not found (JAVA_HOME or PATH); Java 17+ is needed")
    target = build()
    conf = data_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "neo4j.conf").touch()
    (data_dir / "logs").mkdir(exist_ok=True)
    command = [
        java,
        f"-Xmx{heap}",
        "-cp",
        str(target / LIB_DIR.name / "*"),
        _ADMIN_MAIN,
        "database",
        "import",
        "full",
        # The database first: --nodes and --relationships take several files each.
        database,
        "--id-type=integer",
        f"--nodes={files.nodes}",
        f"--relationships={files.links}",
        f"--threads={threads or os.cpu_count() or 1}",
        "--bad-tolerance=0",
        f"--multiline-fields={'true' if files.multiline else 'false'}",
        f"--report-file={data_dir / 'logs' / 'import.report'}",
        f"--overwrite-destination={'true' if overwrite else 'false'}",
    ]
    env = dict(os.environ, NEO4J_HOME=str(data_dir), NEO4J_CONF=str(conf))
    log.info("neo4j-admin import", extra={"database": database, "command": " ".join(command)})
    try:
        completed = subprocess.run(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=_IMPORT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BackendUnavailable(
            f"neo4j-admin import ran past {_IMPORT_TIMEOUT_S:.0f} s and was stopped"
        ) from exc
    output = completed.stdout.decode(errors="replace")
    (data_dir / "logs" / "import.log").write_text(output, encoding="utf-8")
    if completed.returncode != 0:
        shutil.rmtree(data_dir / "data" / "databases" / database, ignore_errors=True)
        shutil.rmtree(data_dir / "data" / "transactions" / database, ignore_errors=True)
        tail = " | ".join(
            line.strip()
            for line in output.splitlines()
            if line.strip() and not line.strip().startswith("at ")
        )
        raise BackendUnavailable(
            f"neo4j-admin import into {database!r} failed (exit {completed.returncode}): "
            f"{truncate(tail, 800)}"
        )
    lines = [line for line in output.splitlines() if line.strip()]
    return "\n".join(lines[-6:])


def _java_path() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.pathsep.join([str(Path(home) / "bin"), os.environ.get("PATH", "")])
    return None


@dataclass(slots=True)
class _Ledger:
    sources: dict[str, list[Any]]
    batches: dict[str, list[Any]]
    labels: dict[str, list[Any]]
    next_id: int


def _read_ledger(con: duckdb.DuckDBPyConnection, quarantine_files: dict[str, str]) -> _Ledger:
    sources = con.execute(
        "SELECT source, path, kind, batch_size, epoch_us(started_at) AS started_at, "
        "epoch_us(completed_at) AS completed_at, manifest FROM ingest_sources ORDER BY source"
    ).to_arrow_table()
    batches = con.execute(
        "SELECT source, batch_index, rows_read, rows_loaded, rows_quarantined, "
        "fields_quarantined, rows_duplicate, events_file, epoch_us(committed_at) AS committed_at, "
        "row_number() OVER (PARTITION BY source ORDER BY batch_index) = 1 AS first "
        "FROM ingest_batches ORDER BY committed_at, source, batch_index"
    ).to_arrow_table()
    labels = con.execute(
        "SELECT entity_type, entity_key, label, source, author, reason, epoch_us(ts) AS ts, "
        "epoch_us(recorded_at) AS recorded_at FROM labels ORDER BY recorded_at, entity_type, "
        "entity_key"
    ).to_arrow_table()
    row = con.execute("SELECT coalesce(max(id) + 1, 0) FROM entities").fetchone()
    batch_columns = batches.to_pydict()
    # A source's quarantine rows go with its first batch (quarantine() reads them all).
    batch_columns["quarantine_file"] = [
        quarantine_files.get(source) if first else None
        for source, first in zip(batch_columns["source"], batch_columns.pop("first"), strict=True)
    ]
    return _Ledger(
        sources=sources.to_pydict(),
        batches=batch_columns,
        labels=labels.to_pydict(),
        next_id=int(row[0]) if row else 0,
    )


def _place_files(
    con: duckdb.DuckDBPyConnection, source_store: Path, target_store: Path
) -> dict[str, str]:
    """Event files linked (or copied) into ``target_store``; quarantine as per-source files."""
    events_src, events_dst = source_store / "events", target_store / "events"
    quarantine_dst = target_store / "batch-quarantine"
    events_dst.mkdir(parents=True, exist_ok=True)
    quarantine_dst.mkdir(parents=True, exist_ok=True)
    names = [
        r[0]
        for r in con.execute(
            "SELECT events_file FROM ingest_batches WHERE events_file IS NOT NULL"
        ).fetchall()
    ]
    for name in names:
        src, dst = events_src / name, events_dst / name
        if not src.is_file():
            raise InvalidInput(f"event file {src} named in the embedded ledger is missing")
        if dst.exists() and src.samefile(dst):
            continue
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    files: dict[str, str] = {}
    for (source,) in con.execute("SELECT DISTINCT source FROM quarantine ORDER BY 1").fetchall():
        table = con.execute(
            "SELECT * FROM quarantine WHERE source = ? ORDER BY path, row_number", [source]
        ).to_arrow_table()
        name = f"{source[:16]}-bulk-import.parquet"
        pq.write_table(conform_quarantine(table), quarantine_dst / name)
        files[source] = name
    return files


def bulk_import(
    *,
    source_store: Path,
    data_dir: Path,
    database: str,
    target_store: Path,
    port: int = 7687,
    password: str | None = None,
    heap: str = "1g",
    page_cache: str = "128m",
    overwrite: bool = False,
    threads: int | None = None,
    admin_heap: str = "1g",
    work_dir: Path | None = None,
    progress: Progress | None = None,
) -> BulkImportReport:
    """Load an embedded store into a new database of the local server, the bulk way.

    Parameters
    ----------
    source_store : Path
        The embedded store (``graph.duckdb`` and ``events/``), fully ingested.
    data_dir : Path
        The local server's data dir; a server running there is stopped and restarted.
    database : str
        Name of the new database; it becomes the server's default.
    target_store : Path
        The Neo4j store's ``store_dir`` (event and quarantine files); may be
        ``source_store``.
    port, password, heap, page_cache :
        How the server is (re)started (see ``launcher.start``).
    overwrite : bool, default False
        Replace ``database`` if it exists.
    threads : int, optional
        ``neo4j-admin`` threads (default: the CPUs available).
    admin_heap : str, default "1g"
        JVM heap of ``neo4j-admin`` (most of its memory is off-heap).
    work_dir : Path, optional
        Where the CSV files go (default: ``data_dir/import``); removed after the import.
    progress : callable, optional
        Called with the name of each step as it starts.

    Returns
    -------
    BulkImportReport

    Raises
    ------
    InvalidInput
        No compacted embedded store at ``source_store``, a bad database name, or
        ``database`` exists and ``overwrite`` is False (the server is left as it was).
    BackendUnavailable
        Java or the Maven build is missing, ``neo4j-admin`` failed (the server is restarted
        on its previous default database) or the restarted server cannot be reached.

    Notes
    -----
    O(entities + links) in each of the export and the import, plus the index builds of the
    constraints; one write transaction for the ledger (sources, batches and labels).
    """
    from graph_service.neo4j.store import Neo4jStore

    launcher.check_database_name(database)
    data_dir = Path(data_dir).resolve()
    say = progress or (lambda _step: None)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    con = open_embedded_source(Path(source_store))
    try:
        clock = time.monotonic()
        say("export")
        files = export_import_files(con, work_dir or data_dir / "import")
        seconds["export"] = time.monotonic() - clock
        previous = launcher.default_database(data_dir)
        clock = time.monotonic()
        say("stop")
        was_running = launcher.stop(data_dir)
        seconds["stop"] = time.monotonic() - clock
        clock = time.monotonic()
        say("import")
        try:
            admin_import(
                data_dir=data_dir,
                database=database,
                files=files,
                overwrite=overwrite,
                threads=threads,
                heap=admin_heap,
            )
        except BaseException:
            if was_running:
                launcher.start(
                    port=port,
                    data_dir=data_dir,
                    password=password,
                    heap=heap,
                    page_cache=page_cache,
                )
            raise
        finally:
            shutil.rmtree(files.directory, ignore_errors=True)
        seconds["import"] = time.monotonic() - clock
        clock = time.monotonic()
        say("start")
        launcher.set_default_database(data_dir, database)
        try:
            server = launcher.start(
                port=port, data_dir=data_dir, password=password, heap=heap, page_cache=page_cache
            )
        except BaseException:
            launcher.set_default_database(data_dir, previous)
            raise
        seconds["start"] = time.monotonic() - clock
        clock = time.monotonic()
        say("schema")
        target_store = Path(target_store)
        store = Neo4jStore(
            uri=server.uri,
            password=password or "",
            database=database,
            store_dir=target_store,
            query_timeout_s=600.0,
        )
        seconds["schema"] = time.monotonic() - clock
        try:
            clock = time.monotonic()
            say("ledger")
            quarantine_files = _place_files(con, Path(source_store), target_store)
            ledger = _read_ledger(con, quarantine_files)
            store.write_imported_ledger(
                sources=ledger.sources,
                batches=ledger.batches,
                labels=ledger.labels,
                next_id=ledger.next_id,
            )
            seconds["ledger"] = time.monotonic() - clock
        finally:
            store.close()
        events = con.execute("SELECT coalesce(sum(rows_loaded), 0) FROM ingest_batches").fetchone()
    finally:
        con.close()
    seconds["total"] = time.monotonic() - started
    report = BulkImportReport(
        database=database,
        uri=server.uri,
        nodes=files.n_nodes,
        links=files.n_links,
        events=int(events[0]) if events else 0,
        sources=len(ledger.sources["source"]),
        batches=len(ledger.batches["source"]),
        labels=len(ledger.labels["entity_key"]),
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    log.info(
        "bulk import done",
        extra={
            "database": database,
            "nodes": report.nodes,
            "links": report.links,
            "events": report.events,
            "seconds": report.seconds,
        },
    )
    return report
