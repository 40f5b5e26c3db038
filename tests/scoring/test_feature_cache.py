"""Feature snapshots and the caches that serve them: values, swaps, Redis versions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import BackendUnavailable, EntityNotFound, InvalidInput
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from ingestion.synthetic import ScenarioConfig, generate_scenario
from scoring.feature_cache import (
    FEATURE_COLUMNS_NUMERIC,
    SNAPSHOT_SCHEMA,
    SNAPSHOT_TABLE,
    FeatureCache,
    FeatureSnapshot,
    RedisFeatureCache,
    build_feature_snapshot,
    latest_snapshot_version,
    snapshot_from_store,
)
from tests.conftest import RedisServer, analyse_and_publish


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    """A 1,000-account scenario analysed, flagged and published (store left open)."""
    work = tmp_path_factory.mktemp("feature-cache")
    scenario = generate_scenario(
        ScenarioConfig(accounts=1_000, seed=3, label_fraction=0.5, legit_label_fraction=0.03),
        work / "scenario",
    )
    embedded = EmbeddedStore(work / "store", memory_limit="1GB", threads=2)
    analyse_and_publish(embedded, scenario, work)
    yield embedded
    embedded.close()


def _table(rows: list[dict[str, object]]) -> pa.Table:
    full = []
    for row in rows:
        base: dict[str, object] = {name: None for name in SNAPSHOT_SCHEMA.names}
        base.update(community_size=1, shared_identifiers=0, reasons=[])
        base.update(row)
        full.append(base)
    return pa.Table.from_pylist(full, schema=SNAPSHOT_SCHEMA)


def _snapshot(version: str, risk: float, n: int = 50) -> FeatureSnapshot:
    rows: list[dict[str, object]] = [
        {
            "entity_type": "Account",
            "key": f"A{i}",
            "entity_id": i,
            "risk": risk,
            "reasons": [version],
        }
        for i in range(n)
    ]
    return FeatureSnapshot(_table(rows), version=version, created_at=datetime.now(UTC))


def test_snapshot_values_match_the_stored_scores(store: EmbeddedStore) -> None:
    """Risk, PageRank and seeded scores in the snapshot are the store's scores, per account."""
    snapshot = snapshot_from_store(store)
    risk = store.read_scores("entity_risk").to_pydict()
    expected = dict(zip(risk["entity_id"], risk["value"], strict=True))
    table = snapshot.table.to_pydict()
    assert len(snapshot) == len(expected)
    for entity_id, value in zip(table["entity_id"], table["risk"], strict=True):
        assert value == pytest.approx(expected[entity_id])
    pagerank = dict(
        zip(
            *store.read_scores("pagerank").select(["entity_id", "value"]).to_pydict().values(),
            strict=True,
        )
    )
    assert table["pagerank"][0] == pytest.approx(pagerank[table["entity_id"][0]])


def test_community_size_counts_accounts_sharing_the_community(store: EmbeddedStore) -> None:
    """community_size is the number of accounts with the same community score."""
    snapshot = snapshot_from_store(store)
    community = store.read_scores("community").to_pydict()
    by_id = dict(zip(community["entity_id"], community["value"], strict=True))
    values = np.array(list(by_id.values()))
    table = snapshot.table.to_pydict()
    for entity_id, size in list(zip(table["entity_id"], table["community_size"], strict=True))[:50]:
        assert size == int((values == by_id[entity_id]).sum())


def test_shared_counts_match_a_direct_count(store: EmbeddedStore) -> None:
    """shared_devices counts the account's devices used by at least one other account."""
    links = store.export_links([LinkType.USES_DEVICE]).to_pydict()
    users: dict[int, set[int]] = {}
    for src, dst in zip(links["src"], links["dst"], strict=True):
        users.setdefault(dst, set()).add(src)
    expected: dict[int, int] = {}
    for accounts in users.values():
        if len(accounts) >= 2:
            for account in accounts:
                expected[account] = expected.get(account, 0) + 1
    table = snapshot_from_store(store).table.to_pydict()
    got = dict(zip(table["entity_id"], table["shared_devices"], strict=True))
    assert {k: v for k, v in got.items() if v} == expected
    assert LINK_TYPE_CODE[LinkType.USES_DEVICE] == 0


def test_ring_members_carry_their_ring(store: EmbeddedStore) -> None:
    """Every member of a ring of the latest run gets that ring's id (or a higher-scored one)."""
    rings = store.read_table("rings").to_pylist()
    snapshot = snapshot_from_store(store)
    cache = FeatureCache(snapshot)
    ring = max(rings, key=lambda r: r["score"])
    member = store.get_entities([ring["members"][0]])[0]
    found = cache.get("Account", member.key)
    assert found is not None and found.ring_id is not None
    assert found.ring_score is not None and found.ring_score >= ring["score"] - 1e-12


def test_reasons_come_from_the_analysis_and_survive_a_republish(store: EmbeddedStore) -> None:
    """Without an analysis at hand, a rebuilt snapshot keeps the last published reasons."""
    published = snapshot_from_store(store)
    rebuilt = build_feature_snapshot(store)
    assert (
        rebuilt.table.column("reasons").to_pylist() == published.table.column("reasons").to_pylist()
    )
    assert any(published.table.column("reasons").to_pylist())


def test_unanalysed_store_has_no_snapshot(tmp_path: Path) -> None:
    """A store never analysed raises EntityNotFound, with the command to run."""
    with EmbeddedStore(tmp_path / "s", memory_limit="1GB", threads=1) as empty:
        with pytest.raises(EntityNotFound, match="fraudgraph analyse"):
            build_feature_snapshot(empty)
        with pytest.raises(EntityNotFound, match="fraudgraph publish"):
            snapshot_from_store(empty)
        assert latest_snapshot_version(empty) is None


def test_snapshot_rejects_repeated_entities_and_missing_columns() -> None:
    """A snapshot with the same entity twice, or a column missing, is InvalidInput."""
    row = {"entity_type": "Account", "key": "A1", "entity_id": 1}
    with pytest.raises(InvalidInput, match="repeats entity Account:A1"):
        FeatureSnapshot(_table([row, row]), version="v1", created_at=datetime.now(UTC))
    with pytest.raises(InvalidInput, match="lacks columns"):
        FeatureSnapshot(_table([row]).drop(["risk"]), version="v1", created_at=datetime.now(UTC))


def test_missing_entities_are_none_and_nan_is_null() -> None:
    """get returns None for unknown keys and types; NaN scores come back as None."""
    cache = FeatureCache(_snapshot("v1", float("nan")))
    assert cache.get("Account", "nobody") is None
    assert cache.get("Device", "A1") is None
    found = cache.get("Account", "A1")
    assert found is not None and found.risk is None and found.gnn_score is None
    assert cache.get_many("Account", ["A1", "zz", "A2"])[1] is None
    assert FeatureCache().get("Account", "A1") is None


def test_rows_of_ids_finds_entities_by_internal_id() -> None:
    """rows_of_ids maps internal ids to rows, -1 for ids the snapshot lacks."""
    snapshot = _snapshot("v1", 0.5, n=10)
    assert snapshot.rows_of_ids([3, 99, 0]).tolist() == [3, -1, 0]
    assert snapshot.rows_of_ids([]).tolist() == []


def test_columnar_batch_lookup_gathers_rows() -> None:
    """lookup_rows gives rows (-1 for misses) of the snapshot it read, for vector gathers."""
    cache = FeatureCache(_snapshot("v1", 0.25))
    snapshot, rows = cache.lookup_rows("Account", ["A3", "nope", "A7"])
    assert snapshot is not None and rows.tolist() == [3, -1, 7]
    assert snapshot.column("risk", rows[rows >= 0]).tolist() == [0.25, 0.25]
    with pytest.raises(InvalidInput):
        snapshot.column("reasons", rows)
    numeric = snapshot.numeric(rows[rows >= 0])
    assert numeric.shape == (2, len(FEATURE_COLUMNS_NUMERIC)) and numeric[:, 0].tolist() == [
        0.25,
        0.25,
    ]


def test_swap_under_concurrent_reads_never_mixes_versions() -> None:
    """Readers batching 50 entities while snapshots swap see one version per batch."""
    first, second = _snapshot("v1", 0.1), _snapshot("v2", 0.9)
    cache = FeatureCache(first)
    keys = [f"A{i}" for i in range(50)]
    mixed: list[set[str]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            batch = cache.get_many("Account", keys)
            versions = {f.snapshot_version for f in batch if f is not None}
            risks = {(f.snapshot_version, f.risk) for f in batch if f is not None}
            if len(versions) != 1 or len(risks) != 1:
                mixed.append(versions)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    for i in range(2_000):
        cache.swap(second if i % 2 == 0 else first)
    stop.set()
    for thread in readers:
        thread.join()
    assert mixed == []
    assert cache.current_version() == "v1"


@pytest.mark.redis
def test_redis_publish_then_read_one_round_trip(redis_server: RedisServer) -> None:
    """Published to Redis, features read back equal the in-process ones."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    cache = RedisFeatureCache(client, prefix="t1")
    assert cache.current_version() is None
    assert cache.get("Account", "A1") is None
    snapshot = _snapshot("v1", 0.5)
    cache.publish(snapshot, chunk=7)
    assert cache.current_version() == "v1"
    assert cache.get("Account", "A3") == FeatureCache(snapshot).get("Account", "A3")
    assert cache.get_many("Account", ["A1", "nope"])[1] is None
    client.close()


@pytest.mark.redis
def test_redis_readers_never_see_a_half_written_snapshot(redis_server: RedisServer) -> None:
    """While a new version is written, readers keep getting the old one whole, then the new."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    cache = RedisFeatureCache(client, prefix="t2", keep_versions=2)
    cache.publish(_snapshot("v1", 0.1, n=2_000))
    keys = [f"A{i}" for i in range(0, 2_000, 40)]
    seen: list[set[str]] = []
    bad: list[object] = []
    stop = threading.Event()

    def read() -> None:
        reader = RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="t2")
        while not stop.is_set():
            batch = reader.get_many("Account", keys)
            versions = {f.snapshot_version for f in batch if f is not None}
            if None in batch or len(versions) != 1:
                bad.append(versions)
            seen.append(versions)

    thread = threading.Thread(target=read)
    thread.start()
    cache.publish(_snapshot("v2", 0.9, n=2_000), chunk=100)
    cache.publish(_snapshot("v3", 0.5, n=2_000), chunk=100)
    stop.set()
    thread.join()
    assert bad == []
    assert cache.current_version() == "v3"
    versions = {v.decode() for v in client.lrange("t2:versions", 0, -1)}
    assert versions == {"v2", "v3"}
    assert not client.exists("t2:v:v1")
    client.close()


@pytest.mark.redis
def test_redis_republishing_the_served_version_is_atomic(redis_server: RedisServer) -> None:
    """A re-delivered publish of the version being served never leaves a reader without it,
    and leaves no staging key behind."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    cache = RedisFeatureCache(client, prefix="t5", keep_versions=2)
    snapshot = _snapshot("v1", 0.3, n=2_000)
    cache.publish(snapshot)
    keys = [f"A{i}" for i in range(0, 2_000, 40)]
    bad: list[object] = []
    reads = 0
    stop = threading.Event()

    def read() -> None:
        nonlocal reads
        reader = RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="t5")
        while not stop.is_set():
            batch = reader.get_many("Account", keys)
            reads += 1
            if any(f is None or f.snapshot_version != "v1" for f in batch):
                bad.append(batch)

    thread = threading.Thread(target=read)
    thread.start()
    for _ in range(3):
        cache.publish(snapshot, chunk=100)
    stop.set()
    thread.join()
    assert reads > 0
    assert bad == []
    assert cache.current_version() == "v1"
    assert client.hlen("t5:v:v1") == 2_000
    assert client.ttl("t5:v:v1") == -1
    assert list(client.scan_iter("t5:*staging*")) == []
    client.close()


@pytest.mark.redis
def test_redis_down_is_backend_unavailable(own_redis: RedisServer) -> None:
    """A stopped Redis makes reads and publishes raise BackendUnavailable; ping says False."""
    import redis

    cache = RedisFeatureCache(
        redis.Redis.from_url(own_redis.url, socket_connect_timeout=0.2), prefix="t3"
    )
    assert cache.ping()
    own_redis.stop()
    assert not cache.ping()
    with pytest.raises(BackendUnavailable, match="redis"):
        cache.get("Account", "A1")
    with pytest.raises(BackendUnavailable, match="redis"):
        cache.publish(_snapshot("v1", 0.5))


def test_publish_records_versions_and_keeps_the_latest(store: EmbeddedStore) -> None:
    """The store keeps the newest snapshot versions; snapshot_from_store reads the latest."""
    versions = store.table_versions(SNAPSHOT_TABLE)
    assert latest_snapshot_version(store) == versions[-1]
    assert snapshot_from_store(store).version == versions[-1]
    assert NodeType.ACCOUNT.value in set(snapshot_from_store(store).entity_types)
