"""Shared fixtures: tiny event files with known answers, and store factories."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, settings

from graph_service.embedded.store import EmbeddedStore
from ingestion.schema import EVENT_SCHEMA

# Property tests judge results, not speed: on a loaded shared machine (CI next to
# benchmarks) an example past Hypothesis's 200 ms deadline, or slow generation, is a
# failure that says nothing about the code.
settings.register_profile("fraudgraph", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fraudgraph")

if TYPE_CHECKING:
    from graph_service.store import GraphStore
    from ingestion.synthetic import ScenarioSummary
    from scoring.feature_cache import FeatureSnapshot

_MISSING_REDIS = (
    "REDIS TESTS SKIPPED: redis-server is not on PATH (apt-get install redis-server, "
    "or `make system-deps`)"
)

#: A small, fully valid event log with known graph answers (see test expectations).
GOOD_EVENTS: list[dict[str, Any]] = [
    {
        "event_id": "e1",
        "ts": "2026-01-01T10:00:00Z",
        "event_type": "signup",
        "account_id": "A1",
        "device_id": "D1",
        "ip": "10.0.0.1",
        "phone": "+44 7400 123456",
        "email": "John.Doe+promo@Gmail.com",
        "address": "12 Baker Street",
        "os": "android",
        "is_emulator": "false",
    },
    {
        "event_id": "e2",
        "ts": "2026-01-01T11:00:00Z",
        "event_type": "signup",
        "account_id": "A2",
        "device_id": "D1",
        "ip": "10.0.0.1",
        "phone": "07400 123456",
        "email": "johndoe@gmail.com",
        "address": "12 baker st",
        "is_emulator": "true",
    },
    {
        "event_id": "e3",
        "ts": "2026-01-02T09:00:00Z",
        "event_type": "payment",
        "account_id": "A1",
        "device_id": "D1",
        "ip": "10.0.0.2",
        "card_id": "C1",
        "merchant_id": "M1",
        "amount": "12.5",
        "currency": "gbp",
    },
    {
        "event_id": "e4",
        "ts": "2026-01-03T09:00:00Z",
        "event_type": "payment",
        "account_id": "A1",
        "card_id": "C1",
        "merchant_id": "M1",
        "amount": "7.5",
        "currency": "GBP",
    },
    {
        "event_id": "e5",
        "ts": "2026-01-04T09:00:00Z",
        "event_type": "transfer",
        "account_id": "A2",
        "counterparty_account_id": "A3",
        "amount": "100",
        "currency": "GBP",
    },
    {
        "event_id": "e6",
        "ts": "2026-01-05T09:00:00Z",
        "event_type": "login",
        "account_id": "A3",
        "device_id": "D2",
        "ip": "2001:db8::1",
        "is_proxy": "true",
        "asn": "64500",
        "country": "gb",
    },
]


def transfer_events(transfers: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """Transfer event rows from ``(payer, payee, ts, amount)``, with ids ``t0``, ``t1``..."""
    return [
        {
            "event_id": f"t{i}",
            "ts": ts,
            "event_type": "transfer",
            "account_id": payer,
            "counterparty_account_id": payee,
            "amount": amount,
        }
        for i, (payer, payee, ts, amount) in enumerate(transfers)
    ]


#: Every column of the event schema, in order (test files write all of them).
EVENT_COLUMNS: list[str] = list(EVENT_SCHEMA.names)

FileWriter = Callable[..., Path]


def write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    """Write rows as CSV, JSONL or Parquet (all values as strings), by the path's suffix."""
    columns = columns or EVENT_COLUMNS
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({c: row.get(c, "") for c in columns})
    elif path.suffix == ".jsonl":
        with path.open("w") as fh:
            for row in rows:
                fh.write(json.dumps({c: row[c] for c in columns if c in row}) + "\n")
    else:
        table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})
        pq.write_table(table, path)
    return path


@pytest.fixture
def write_events(tmp_path: Path) -> FileWriter:
    """Factory: ``write_events(rows, name="events.csv", columns=None) -> Path``."""

    def _write(
        rows: list[dict[str, Any]], name: str = "events.csv", columns: list[str] | None = None
    ) -> Path:
        return write_rows(tmp_path / "input" / name, rows, columns)

    return _write


@pytest.fixture
def embedded_store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """A fresh embedded store in a temporary directory."""
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    yield store
    store.close()


def analyse_and_publish(
    store: GraphStore, scenario: ScenarioSummary, work: Path
) -> FeatureSnapshot:
    """Ingest ``scenario`` into ``store``, analyse, flag and publish its snapshot."""
    from ingestion.loader import Ingestor
    from scoring.analysis import analyse
    from scoring.feature_cache import publish_snapshot
    from scoring.flagging import flag_clusters

    ingestor = Ingestor(store, quarantine_dir=work / "quarantine")
    try:
        ingestor.run([scenario.events_path, scenario.labels_path])
    finally:
        ingestor.close()
    result = analyse(store)
    flag_clusters(store, result, threshold=0.5, out_dir=work / "flagged")
    return publish_snapshot(store, reasons=result.entity_risk.select(["id", "reasons"]))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` process of the tests' own, on a free port, without persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip(_MISSING_REDIS)
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fraudgraph-redis-"))
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start within 10 s")

    @property
    def url(self) -> str:
        """``redis://`` URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's Redis."""
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis for one test only (tests that stop it)."""
    server = RedisServer()
    yield server
    server.stop()
