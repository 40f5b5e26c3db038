"""Pre-serialised feature bodies: the mapped body file of a snapshot, shared by workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graph_service.errors import InvalidInput
from scoring.feature_cache import SNAPSHOT_SCHEMA, BodyTable, FeatureSnapshot, body_table_for
from scoring.feature_cache import bodies as bodies_module

ROOT = Path(__file__).resolve().parents[2]


def _snapshot(version: str, n: int = 300, *, shift: float = 0.0) -> FeatureSnapshot:
    """``n`` entities of two types with every kind of value (NaN scores, rings, reasons)."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        risk = float(rng.random()) + shift
        rows.append(
            {
                "entity_type": "Account" if i % 3 else "Device",
                "key": f"K{i}-é" if i % 7 == 0 else f"K{i}",
                "entity_id": 10_000 - i,
                "risk": float("nan") if i % 11 == 0 else risk,
                "ring_score": 0.8 if i % 5 == 0 else None,
                "pagerank": 1e-7 * i,
                "seeded_pagerank": None,
                "gnn_score": 0.5 if i % 2 else None,
                "community_size": i % 17,
                "shared_identifiers": i % 4,
                "shared_devices": i % 2,
                "shared_ips": 3,
                "shared_phones": 0,
                "shared_emails": 1,
                "shared_cards": 0,
                "shared_addresses": i % 3,
                "ring_id": f"ring-{i % 9}" if i % 5 == 0 else None,
                "reasons": ["SHARED_DEVICE", "RING_MEMBER"][: i % 3],
            }
        )
    table = pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA)
    return FeatureSnapshot(table, version=version, created_at=datetime(2026, 12, 1, tzinfo=UTC))


def _built(snapshot: FeatureSnapshot) -> list[bytes]:
    return [snapshot.built_body_at(row) for row in range(len(snapshot))]


@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared-dir"])
def test_every_row_reads_back_the_body_built_for_it(tmp_path: Path, shared: bool) -> None:
    """The table gives, for every row, exactly the bytes built per request without it,
    whether it lives in a private unlinked file or in the workers' directory."""
    snapshot = _snapshot("v1")
    expected = _built(snapshot)
    table = body_table_for(snapshot, tmp_path / "bodies" if shared else None)
    assert len(table) == len(snapshot)
    assert [table.body(row) for row in range(len(snapshot))] == expected
    snapshot.attach_bodies(table)
    assert [snapshot.body_at(row) for row in range(len(snapshot))] == expected
    assert (table.path is not None) == shared


def test_chunked_build_keeps_offsets_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written in several chunks (the last one partial) keep their own bytes."""
    monkeypatch.setattr(bodies_module, "BUILD_CHUNK_ROWS", 7)
    snapshot = _snapshot("v1", n=50)
    table = body_table_for(snapshot, tmp_path)
    assert [table.body(row) for row in range(50)] == _built(snapshot)


def test_an_empty_snapshot_gets_an_empty_table(tmp_path: Path) -> None:
    """A snapshot without entities still maps (header and one offset) and matches."""
    empty = FeatureSnapshot(
        SNAPSHOT_SCHEMA.empty_table(), version="v0", created_at=datetime.now(UTC)
    )
    table = body_table_for(empty, tmp_path)
    assert len(table) == 0
    assert table.matches(empty)


def test_a_second_worker_maps_the_first_ones_file(tmp_path: Path) -> None:
    """A worker loading the same snapshot maps the file already there: not rebuilt."""
    snapshot = _snapshot("v1")
    first = body_table_for(snapshot, tmp_path)
    assert first.path is not None
    written = first.path.stat().st_mtime_ns
    os.utime(first.path, ns=(written - 10**9, written - 10**9))
    again = body_table_for(_snapshot("v1"), tmp_path)
    assert again.path == first.path
    assert again.path.stat().st_mtime_ns == written - 10**9  # mapped, not written again
    assert [again.body(r) for r in range(len(snapshot))] == _built(snapshot)


def test_a_file_of_other_content_under_the_same_version_is_rebuilt(tmp_path: Path) -> None:
    """A version published again with other values: the stale file fails the sampled
    comparison and is replaced, never served."""
    stale = body_table_for(_snapshot("v1", shift=1.0), tmp_path)
    assert stale.path is not None
    current = _snapshot("v1")
    assert not stale.matches(current)
    table = body_table_for(current, tmp_path)
    assert [table.body(r) for r in range(len(current))] == _built(current)
    assert table.matches(current)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: b"NOTBODY!" + raw[8:],
        lambda raw: raw[:12] + b"{not json" + raw[21:],
        lambda raw: b"",
    ],
    ids=["truncated", "wrong-magic", "bad-header", "empty"],
)
def test_a_damaged_file_is_rebuilt_not_served(tmp_path: Path, damage: object) -> None:
    """A truncated, foreign, unreadable or empty file in the directory is replaced."""
    snapshot = _snapshot("v1")
    table = body_table_for(snapshot, tmp_path)
    assert table.path is not None
    path = table.path
    table.close()
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    rebuilt = body_table_for(snapshot, tmp_path)
    assert [rebuilt.body(r) for r in range(len(snapshot))] == _built(snapshot)


def test_a_damaged_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    """Opening a file that is not a complete body file raises InvalidInput."""
    snapshot = _snapshot("v1")
    table = body_table_for(snapshot, tmp_path)
    assert table.path is not None
    raw = table.path.read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(raw[:-1])
    with cut.open("rb") as handle:
        mapped = bodies_module._map_file(handle.fileno())
    with pytest.raises(InvalidInput, match="truncated"):
        BodyTable(mapped, path=cut)


def test_a_table_of_another_snapshot_is_not_attached(tmp_path: Path) -> None:
    """Bodies of another version or row count are refused, not served for this one."""
    table = body_table_for(_snapshot("v1"), tmp_path)
    with pytest.raises(InvalidInput, match="do not belong"):
        _snapshot("v2").attach_bodies(table)
    with pytest.raises(InvalidInput, match="do not belong"):
        _snapshot("v1", n=10).attach_bodies(table)


def test_older_files_are_pruned_and_the_served_one_kept(tmp_path: Path) -> None:
    """Only the newest few files stay; the one just opened is never removed."""
    paths = []
    for i in range(bodies_module.KEEP_FILES + 2):
        table = body_table_for(_snapshot(f"v{i}", n=20), tmp_path)
        assert table.path is not None
        stamp = time.time() - 1000 + i
        os.utime(table.path, (stamp, stamp))
        paths.append(table.path)
    # Re-open the oldest: it is served (kept) even though it is the oldest file.
    oldest = body_table_for(_snapshot("v0", n=20), tmp_path)
    assert oldest.path is not None and oldest.path.exists()
    left = sorted(p.name for p in tmp_path.glob("feature-bodies-*.bin"))
    assert len(left) <= bodies_module.KEEP_FILES
    assert paths[-1].name in left
    assert not list(tmp_path.glob(".feature-bodies-*"))  # no temporary file left behind


def test_bodies_handed_out_outlive_the_table(tmp_path: Path) -> None:
    """A body is a copy: closing (or pruning) the table does not change it."""
    snapshot = _snapshot("v1")
    table = body_table_for(snapshot, tmp_path)
    body = table.body(5)
    table.close()
    assert body == snapshot.built_body_at(5)


_WORKER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.scoring.test_feature_bodies import _snapshot, _built
from scoring.feature_cache import body_table_for
snapshot = _snapshot("v1", n=3000)
table = body_table_for(snapshot, Path({directory!r}))
assert [table.body(r) for r in range(len(snapshot))] == _built(snapshot)
print("ok")
"""


def test_workers_building_at_once_all_serve_whole_files(tmp_path: Path) -> None:
    """Four processes loading the same snapshot at once: each gets a complete, correct
    table (private temporary names, atomic rename), and one file is left."""
    code = _WORKER.format(root=str(ROOT), directory=str(tmp_path))
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert outputs == ["ok"] * 4
    assert [p.name for p in tmp_path.iterdir()] == ["feature-bodies-v1.bin"]
