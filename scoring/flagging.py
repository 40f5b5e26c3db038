"""Flagged clusters: the alert list of a ring-detection run, as files and store tables.

:func:`flag_clusters` takes one run's analysis (ring candidates with scores, reasons and
evidence, and the super nodes that were discounted), gives every candidate a stable ring
id (:func:`scoring.rings.assign_ring_ids`, matched against the rings of the previous run
kept in the store), and flags the rings scoring at or above a threshold.

A flagged ring is a **new alert** only the first time its ring id is flagged; a ring that
was already flagged under the same id in an earlier run (even if it fell below the
threshold in between) is reported with ``alert_status = "continued"``.

Outputs, all versioned by the run's version
-------------------------------------------
Files under ``out_dir``::

    flagged_clusters-<version>.parquet   the flagged rings (FLAGGED_COLUMNS, see below)
    flagged_clusters-<version>.json      the same, with members as {id, key}, and counts

Analytics tables in the store (``GraphStore.write_table``):

``rings``
    every ring of the run: the candidate columns plus ``ring_id, event, parents, size,
    first_seen, last_seen, first_flagged, flagged, new_alert, analysis_version``
    (``first_*`` and ``last_seen`` hold run versions);
``ring_members``
    ``ring_id, account_id`` for every member of every ring, by account id;
``ring_lineage`` / ``ring_history``
    every run so far (``scoring.rings.LINEAGE_SCHEMA`` / ``HISTORY_SCHEMA``);
``super_nodes``
    the identifiers discounted as too common, most shared first;
``flagged_clusters``
    the flagged rings, as in the Parquet file.

``rings`` is written last, so a version listed by ``table_versions("rings")`` has all
its tables written; readers (:func:`read_flagged_clusters`, :func:`read_super_nodes`,
:func:`read_ring_history`) follow the latest such version. A rerun with the same version
replaces that version (and is matched against the run before it).

The run version is not the analysis ``version`` (which names the model and configuration
and stays the same from day to day): it is ``run_version``, by default the UTC time of
the run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph_service.analytics_tables import check_version
from graph_service.errors import EntityNotFound, InvalidInput
from graph_service.store import GraphStore
from graph_service.tables import require_columns
from scoring.rings import RingAssignment, assign_ring_ids

__all__ = [
    "ALERT_Q",
    "FLAGGED_COLUMNS",
    "FLAG_THRESHOLD",
    "RING_TABLES",
    "SUPER_NODE_COLUMNS",
    "AnalysisLike",
    "FlagReport",
    "flag_clusters",
    "read_flagged_clusters",
    "read_ring_history",
    "read_super_nodes",
]

log = logging.getLogger(__name__)

#: The false-discovery rate of the alert queue: a ring is flagged by default when the
#: Benjamini-Hochberg q-value of its evidence is at most this. Ordinary customers share
#: identifiers by the thousand, so even a 5% rate puts a household or an office among
#: every twenty alerts; at 0.5% an investigator meets one in two hundred.
ALERT_Q: Final = 0.005

#: Ring score from which a ring is flagged by default: the score of a ring at
#: :data:`ALERT_Q` with the default ``significance_half`` (1.3),
#: ``-log10(q) / (-log10(q) + 1.3)``, rounded to two places (0.64).
FLAG_THRESHOLD: Final = 0.64

#: Store tables written by :func:`flag_clusters`, in write order (``rings`` last).
RING_TABLES: Final[tuple[str, ...]] = (
    "ring_members",
    "ring_lineage",
    "ring_history",
    "super_nodes",
    "flagged_clusters",
    "rings",
)

#: Columns the candidates table needs here (on top of ``scoring.rings.CANDIDATE_COLUMNS``).
FLAG_CANDIDATE_COLUMNS: Final[tuple[str, ...]] = (
    "candidate",
    "members",
    "score",
    "reasons",
    "typology",
)

#: Columns of the super-node table.
SUPER_NODE_COLUMNS: Final[tuple[str, ...]] = ("id", "type", "key", "share_count")

#: Columns of the flagged-cluster table and Parquet file, in order (``evidence`` is
#: present when the candidates carry it).
FLAGGED_COLUMNS: Final[tuple[str, ...]] = (
    "ring_id",
    "new_alert",
    "alert_status",
    "score",
    "size",
    "typology",
    "reasons",
    "members",
    "member_keys",
    "evidence",
    "first_seen",
    "first_flagged",
    "last_seen",
    "event",
    "parents",
)

#: Tables whose every version holds all runs so far (only the latest two are kept).
_CUMULATIVE_TABLES: Final[tuple[str, ...]] = ("ring_lineage", "ring_history")
_FILE_STEM: Final = "flagged_clusters"
_UNSAFE_FILE_CHARACTERS: Final = re.compile(r"[^A-Za-z0-9._-]")


class AnalysisLike(Protocol):
    """What :func:`flag_clusters` reads from an analysis result."""

    @property
    def ring_candidates(self) -> pa.Table:
        """One row per community: candidate, members, score, reasons, typology, ..."""
        ...

    @property
    def super_nodes(self) -> pa.Table:
        """Discounted identifiers: id, type, key, share_count."""
        ...

    @property
    def version(self) -> str:
        """The run's version."""
        ...


@dataclass(frozen=True, slots=True)
class FlagReport:
    """What one :func:`flag_clusters` call flagged and wrote.

    Attributes
    ----------
    version : str
        The run's version (of its tables and files).
    threshold : float
        Score from which a ring is flagged.
    flagged : pa.Table
        The flagged rings (``FLAGGED_COLUMNS``), highest score first.
    assignment : RingAssignment
        Ring ids, lineage and history of every candidate of the run.
    parquet_path, json_path : Path
        The files written.
    """

    version: str
    threshold: float
    flagged: pa.Table
    assignment: RingAssignment
    parquet_path: Path
    json_path: Path

    @property
    def new_alerts(self) -> list[str]:
        """Ring ids flagged for the first time in this run, highest score first."""
        mask = self.flagged.column("new_alert")
        return list(self.flagged.filter(mask).column("ring_id").to_pylist())

    @property
    def continued_alerts(self) -> list[str]:
        """Ring ids flagged now and already flagged in an earlier run."""
        mask = pc.invert(self.flagged.column("new_alert"))
        return list(self.flagged.filter(mask).column("ring_id").to_pylist())

    def summary(self) -> dict[str, Any]:
        """Counts for logs and the CLI: rings, flagged, new/continued alerts, events."""
        return {
            "version": self.version,
            "threshold": self.threshold,
            "rings": self.assignment.rings.num_rows,
            "flagged": self.flagged.num_rows,
            "new_alerts": len(self.new_alerts),
            "continued_alerts": len(self.continued_alerts),
            "events": self.assignment.event_counts(),
            "parquet": str(self.parquet_path),
            "json": str(self.json_path),
        }


def flag_clusters(
    store: GraphStore,
    analysis_like: AnalysisLike,
    *,
    threshold: float,
    out_dir: Path,
    run_version: str | None = None,
    min_overlap: float = 0.5,
    keep_runs: int | None = 30,
) -> FlagReport:
    """Flag the rings of one analysis run and record rings, lineage and alerts.

    Parameters
    ----------
    store : GraphStore
        Where the previous run's rings are read and this run's tables are written; also
        resolves the flagged members' account keys.
    analysis_like : AnalysisLike
        ``ring_candidates`` (candidate, members, score, reasons, typology; evidence and
        feature columns are carried through), ``super_nodes`` (id, type, key,
        share_count) and ``version`` (the model and configuration, kept as
        ``analysis_version``).
    threshold : float
        Rings with ``score >= threshold`` are flagged; in [0, 1] (the product's default
        is :data:`FLAG_THRESHOLD`).
    out_dir : Path
        Directory of the Parquet and JSON files (created if missing).
    run_version : str, optional
        Version of this run's tables and files; default the current UTC time
        (``20261129T204100.123456Z``). Runs are ordered by when they were written, and a
        run given the version of an earlier one replaces it.
    min_overlap : float
        Passed to :func:`scoring.rings.assign_ring_ids`.
    keep_runs : int or None
        Runs whose tables stay in the store (the latest, this one included); older runs'
        versions are dropped. ``None`` keeps every run. The cumulative ``ring_lineage``
        and ``ring_history`` tables keep their latest two versions whatever this is.
        Files under ``out_dir`` are never deleted.

    Returns
    -------
    FlagReport

    Raises
    ------
    InvalidInput
        If the threshold is outside [0, 1], ``run_version`` is not a valid table version,
        ``keep_runs`` is below 1, or the candidates or super nodes lack a column or hold
        bad values.

    Notes
    -----
    O(M log M) for M ring members, plus one store lookup of the flagged members' keys
    and O(history) to append this run to the lineage and history tables.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput(f"threshold must be in [0, 1], got {threshold}")
    if keep_runs is not None and keep_runs < 1:
        raise InvalidInput(f"keep_runs must be >= 1 or None, got {keep_runs}")
    version = check_version(run_version or datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ"))
    analysis_version = str(analysis_like.version)
    candidates = analysis_like.ring_candidates
    require_columns(candidates, FLAG_CANDIDATE_COLUMNS, "ring candidates")
    super_nodes = _checked_super_nodes(analysis_like.super_nodes)

    prior = _prior_version(store, version)
    previous = store.read_table("rings", version=prior) if prior else None
    assignment = assign_ring_ids(
        previous.select(["ring_id", "members"]) if previous is not None else None,
        candidates,
        version=version,
        min_overlap=min_overlap,
    )
    rings = _with_alert_state(assignment.rings, previous, version, threshold)
    analysis_versions = pa.array([analysis_version] * rings.num_rows, pa.string())
    rings = _replaced(rings, "analysis_version", analysis_versions)

    flagged = _flagged_table(store, rings)
    parquet_path, json_path = _write_files(
        flagged, out_dir, version, analysis_version, threshold, assignment
    )

    lineage = _appended(store, "ring_lineage", prior, assignment.lineage, "run_version", version)
    history = _appended(store, "ring_history", prior, assignment.history, "version", version)
    members = _ring_members(rings)
    for name, table in (
        ("ring_members", members),
        ("ring_lineage", lineage),
        ("ring_history", history),
        ("super_nodes", super_nodes),
        ("flagged_clusters", flagged),
        ("rings", rings),
    ):
        store.write_table(name, table, version=version)
    _drop_old_runs(store, keep_runs)

    report = FlagReport(
        version=version,
        threshold=threshold,
        flagged=flagged,
        assignment=assignment,
        parquet_path=parquet_path,
        json_path=json_path,
    )
    log.info("clusters flagged", extra=report.summary())
    return report


def read_flagged_clusters(store: GraphStore, *, version: str | None = None) -> pa.Table:
    """The flagged clusters of a run (default: the latest complete run).

    Parameters
    ----------
    store : GraphStore
    version : str, optional
        A run version; default the latest version of the ``rings`` table.

    Returns
    -------
    pa.Table
        ``FLAGGED_COLUMNS``, highest score first.

    Raises
    ------
    EntityNotFound
        If no run was recorded, or ``version`` is unknown.
    """
    return store.read_table("flagged_clusters", version=version or _latest_run(store))


def read_super_nodes(store: GraphStore, *, version: str | None = None) -> pa.Table:
    """The identifiers a run discounted as too common, most shared first.

    Parameters
    ----------
    store : GraphStore
    version : str, optional
        A run version; default the latest complete run.

    Returns
    -------
    pa.Table
        ``id, type, key, share_count`` (and any other columns the analysis gave).

    Raises
    ------
    EntityNotFound
        If no run was recorded, or ``version`` is unknown.
    """
    return store.read_table("super_nodes", version=version or _latest_run(store))


def read_ring_history(store: GraphStore, ring_id: str) -> pa.Table:
    """Score and size of one ring in every run it was seen in, oldest first.

    Parameters
    ----------
    store : GraphStore
    ring_id : str

    Returns
    -------
    pa.Table
        ``ring_id, version, score, size`` (``scoring.rings.HISTORY_SCHEMA``).

    Raises
    ------
    EntityNotFound
        If no run was recorded or the ring id never appeared.
    """
    history = store.read_table("ring_history", version=_latest_run(store))
    rows = history.filter(pc.equal(history.column("ring_id"), ring_id))
    if rows.num_rows == 0:
        raise EntityNotFound(f"no ring {ring_id!r} in the ring history")
    return rows


# -- helpers -------------------------------------------------------------------------------


def _drop_old_runs(store: GraphStore, keep_runs: int | None) -> None:
    """Drop runs beyond the latest ``keep_runs`` (``rings`` first, which unpublishes them)."""
    for name in _CUMULATIVE_TABLES:
        for old in store.table_versions(name)[:-2]:
            store.drop_table_version(name, old)
    if keep_runs is None:
        return
    for name in reversed(RING_TABLES):
        if name in _CUMULATIVE_TABLES:
            continue
        for old in store.table_versions(name)[:-keep_runs]:
            store.drop_table_version(name, old)
            log.info("old run dropped", extra={"table": name, "version": old})


def _latest_run(store: GraphStore) -> str:
    versions = store.table_versions("rings")
    if not versions:
        raise EntityNotFound("no ring-detection run is recorded in the store")
    return versions[-1]


def _prior_version(store: GraphStore, version: str) -> str | None:
    """The latest complete run other than ``version`` (a rerun of it replaces it)."""
    earlier = [v for v in store.table_versions("rings") if v != version]
    return earlier[-1] if earlier else None


def _checked_super_nodes(table: pa.Table) -> pa.Table:
    require_columns(table, SUPER_NODE_COLUMNS, "super nodes")
    return table.sort_by([("share_count", "descending"), ("id", "ascending")])


def _with_alert_state(
    rings: pa.Table, previous: pa.Table | None, version: str, threshold: float
) -> pa.Table:
    """Add ``first_seen, last_seen, first_flagged, flagged`` to the run's rings."""
    n = rings.num_rows
    first_seen = pa.array([version] * n, pa.string())
    earlier_flag = pa.nulls(n, pa.string())
    if previous is not None and previous.num_rows:
        positions = pc.index_in(rings.column("ring_id"), value_set=previous.column("ring_id"))
        seen = pc.take(previous.column("first_seen"), positions)
        first_seen = pc.coalesce(seen, first_seen)
        earlier_flag = pc.take(previous.column("first_flagged"), positions)
    flagged = pc.greater_equal(rings.column("score").cast(pa.float64()), threshold)
    first_flagged = pc.coalesce(
        earlier_flag, pc.if_else(flagged, version, pa.scalar(None, pa.string()))
    )
    for name in ("first_seen", "last_seen", "first_flagged", "flagged"):
        if name in rings.column_names:
            rings = rings.drop_columns([name])
    rings = rings.append_column("first_seen", _flat(first_seen))
    rings = rings.append_column("last_seen", pa.array([version] * n, pa.string()))
    rings = rings.append_column("first_flagged", _flat(first_flagged))
    rings = rings.append_column("flagged", _flat(flagged))
    # A new alert: flagged now and never flagged under this id before.
    new_alert = pc.and_(flagged, pc.is_null(earlier_flag))
    return rings.append_column("new_alert", _flat(new_alert))


def _replaced(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """``table`` with column ``name`` set to ``values`` (appended if absent)."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def _flat(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    array: pa.Array = values
    return array


def _flagged_table(store: GraphStore, rings: pa.Table) -> pa.Table:
    """The flagged rings with member keys and alert status, highest score first."""
    flagged = rings.filter(rings.column("flagged"))
    flagged = flagged.sort_by([("score", "descending"), ("ring_id", "ascending")])
    members = _flat(flagged.column("members"))
    flat_ids = _flat(pc.list_flatten(members)).cast(pa.int64())
    unique_ids = pc.unique(flat_ids)
    entities = store.get_entities(unique_ids.to_pylist())
    known = pa.array([e.id for e in entities], pa.int64())
    keys = pa.array([e.key for e in entities], pa.string())
    flat_keys = pc.take(keys, pc.index_in(flat_ids, value_set=known))
    offsets = pa.array(
        np.concatenate([[0], np.cumsum(pc.list_value_length(members).to_numpy())]).astype(np.int32)
    )
    member_keys = pa.ListArray.from_arrays(offsets, _flat(flat_keys))
    status = pc.if_else(flagged.column("new_alert"), "new", "continued")
    columns: dict[str, Any] = {
        "ring_id": flagged.column("ring_id"),
        "new_alert": flagged.column("new_alert"),
        "alert_status": status,
        "score": flagged.column("score").cast(pa.float64()),
        "size": flagged.column("size"),
        "typology": flagged.column("typology"),
        "reasons": flagged.column("reasons"),
        "members": members.cast(pa.list_(pa.int64())),
        "member_keys": member_keys,
    }
    if "evidence" in flagged.column_names:
        columns["evidence"] = flagged.column("evidence")
    for name in ("first_seen", "first_flagged", "last_seen", "event", "parents"):
        columns[name] = flagged.column(name)
    return pa.table(columns)


def _ring_members(rings: pa.Table) -> pa.Table:
    """``ring_id, account_id`` for every ring member, sorted by account id."""
    members = _flat(rings.column("members"))
    ring_index = pc.list_parent_indices(members)
    table = pa.table(
        {
            "ring_id": pc.take(rings.column("ring_id"), ring_index),
            "account_id": _flat(pc.list_flatten(members)).cast(pa.int64()),
        }
    )
    return table.sort_by([("account_id", "ascending"), ("ring_id", "ascending")])


def _appended(
    store: GraphStore,
    name: str,
    prior: str | None,
    rows: pa.Table,
    version_column: str,
    version: str,
) -> pa.Table:
    """The cumulative table ``name`` as of ``prior`` with this run's ``rows`` appended."""
    if prior is None or prior not in store.table_versions(name):
        return rows
    earlier = store.read_table(name, version=prior)
    earlier = earlier.filter(pc.not_equal(earlier.column(version_column), version))
    return pa.concat_tables([earlier.cast(rows.schema), rows])


def _file_safe(version: str) -> str:
    return _UNSAFE_FILE_CHARACTERS.sub("_", version)


def _write_files(
    flagged: pa.Table,
    out_dir: Path,
    version: str,
    analysis_version: str,
    threshold: float,
    assignment: RingAssignment,
) -> tuple[Path, Path]:
    """Write the Parquet and JSON files of the run, each replaced atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{_FILE_STEM}-{_file_safe(version)}"
    parquet_path = out_dir / f"{stem}.parquet"
    json_path = out_dir / f"{stem}.json"
    _atomic_write(parquet_path, lambda tmp: pq.write_table(flagged, tmp))
    clusters = []
    for row in flagged.to_pylist():
        ids = row.pop("members")
        keys = row.pop("member_keys")
        row["members"] = [{"id": i, "key": k} for i, k in zip(ids, keys, strict=True)]
        row["lineage"] = {"event": row.pop("event"), "parents": row.pop("parents")}
        clusters.append(row)
    document = {
        "version": version,
        "analysis_version": analysis_version,
        "threshold": threshold,
        "generated_at": datetime.now(UTC).isoformat(),
        "counts": {
            "rings": assignment.rings.num_rows,
            "flagged": flagged.num_rows,
            "new_alerts": sum(1 for c in clusters if c["new_alert"]),
            "continued_alerts": sum(1 for c in clusters if not c["new_alert"]),
            "events": assignment.event_counts(),
        },
        "clusters": clusters,
    }
    text = json.dumps(document, indent=2, default=str)
    _atomic_write(json_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return parquet_path, json_path


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
