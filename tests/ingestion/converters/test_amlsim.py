"""AMLSim's graph-generator output as events, labels and truth (``ingestion.converters``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from graph_service import InvalidInput
from graph_service.embedded.store import EmbeddedStore
from ingestion.converters import convert_amlsim
from ingestion.loader import Ingestor

ACCOUNTS = range(12)
TRANSFERS = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 0), (6, 7)]
#: (ring, pattern, src, dst, amount, step, in_transfers): a fan-in on 8 of which one edge
#: is also a background transfer, and a cycle 9 -> 10 -> 11 -> 9.
PLANTED = [
    (0, "fan_in", 6, 7, "130.00", 40, "true"),
    (0, "fan_in", 3, 7, "130.00", 41, "false"),
    (0, "fan_in", 2, 7, "130.00", 42, "false"),
    (1, "cycle", 9, 10, "180.00", 400, "false"),
    (1, "cycle", 10, 11, "162.00", 401, "false"),
    (1, "cycle", 11, 9, "145.80", 402, "false"),
]
MEMBERS = [(0, 7, "fan_in"), (0, 6, "fan_in"), (0, 3, "fan_in"), (0, 2, "fan_in")]
MEMBERS += [(1, 9, "cycle"), (1, 10, "cycle"), (1, 11, "cycle")]


def _write(path: Path, header: list[str], rows: list[tuple[object, ...]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _amlsim(folder: Path, planted: list[tuple[object, ...]] = PLANTED) -> Path:
    """A small folder in AMLSim's layout (the data card's columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write(
        folder / "accounts.csv",
        ["account_id", "customer_id", "init_balance", "country", "account_type", "is_sar"],
        [
            (a, f"C_{a}", "50000.00", "US", "I", str(a in {m for _, m, _ in MEMBERS}).lower())
            for a in ACCOUNTS
        ],
    )
    _write(
        folder / "transfers.csv",
        ["src_account_id", "dst_account_id", "type"],
        [(s, d, "TRANSFER") for s, d in TRANSFERS],
    )
    _write(
        folder / "ring_transfers.csv",
        [
            "ring_id",
            "pattern",
            "src_account_id",
            "dst_account_id",
            "amount",
            "step",
            "in_transfers",
        ],
        planted,
    )
    _write(
        folder / "rings.csv",
        ["ring_id", "account_id", "pattern", "is_sar", "is_main"],
        [(r, a, p, "true", "false") for r, a, p in MEMBERS],
    )
    return folder


def test_every_transfer_and_every_planted_edge_missing_from_them_becomes_one_transfer(
    tmp_path: Path,
) -> None:
    """Six background transfers plus the five planted edges not among them: eleven
    transfers, each pair once; a signup per account on the first day; truth.csv lists
    the members with their pattern."""
    result = convert_amlsim(_amlsim(tmp_path / "in"), tmp_path / "out", seed=3)
    assert (result.accounts, result.transfers, result.planted_added) == (12, 11, 5)
    assert (result.rings, result.ring_members) == (2, 7)
    events = pq.read_table(result.events)
    transfers = events.filter(pc.equal(events.column("event_type"), "transfer"))
    pairs = set(
        zip(
            transfers.column("account_id").to_pylist(),
            transfers.column("counterparty_account_id").to_pylist(),
            strict=True,
        )
    )
    expected = {(f"A{s}", f"A{d}") for s, d in TRANSFERS}
    expected |= {(f"A{p[2]}", f"A{p[3]}") for p in PLANTED}
    assert pairs == expected and transfers.num_rows == len(expected)
    signups = events.filter(pc.equal(events.column("event_type"), "signup"))
    assert sorted(signups.column("account_id").to_pylist()) == sorted(f"A{a}" for a in ACCOUNTS)
    assert len(set(signups.column("ts").to_pylist())) == 1
    with result.truth.open() as handle:
        truth = list(csv.DictReader(handle))
    assert {(r["ring_id"], r["typology"], r["account_id"]) for r in truth} == {
        (f"R{r}", p, f"A{a}") for r, a, p in MEMBERS
    }
    manifest = json.loads((tmp_path / "out" / "conversion.json").read_text())
    assert manifest["planted_added"] == 5 and "transfer amount" in manifest["filled_in"]


def test_the_planted_edges_amounts_and_steps_never_reach_the_events(tmp_path: Path) -> None:
    """The amount and step exist for planted edges only; carrying them over would give
    the rings away. Events converted with other planted amounts and steps are the same
    file, byte for byte."""
    first = convert_amlsim(_amlsim(tmp_path / "a"), tmp_path / "out-a", seed=5)
    other = [(r, p, s, d, "999.00", 7, flag) for r, p, s, d, _, _, flag in PLANTED]
    second = convert_amlsim(_amlsim(tmp_path / "b", other), tmp_path / "out-b", seed=5)
    assert pq.read_table(first.events).equals(pq.read_table(second.events))


def test_labels_are_a_seeded_nested_share_of_the_ring_members(tmp_path: Path) -> None:
    """Fraud labels only (source sar), for ring members only; the same seed gives the same
    labels, a smaller share a subset of a larger one, 0 none and 1 every member."""
    source = _amlsim(tmp_path / "in")

    def labelled(fraction: float, seed: int = 1) -> set[str]:
        out = tmp_path / f"out-{fraction}-{seed}"
        result = convert_amlsim(source, out, label_fraction=fraction, seed=seed)
        with result.labels.open() as handle:
            rows = list(csv.DictReader(handle))
        assert {(r["entity_type"], r["label"], r["source"]) for r in rows} <= {
            ("Account", "fraud", "sar")
        }
        return {r["entity_key"] for r in rows}

    members = {f"A{a}" for _, a, _ in MEMBERS}
    assert labelled(0.0) == set() and labelled(1.0) == members
    assert labelled(0.3) <= labelled(0.6) <= members
    assert labelled(0.5) == labelled(0.5)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "rings.csv").unlink(), "rings.csv: not found"),
        (lambda f: (f / "transfers.csv").write_text("src,dst\n1,2\n"), "missing column"),
        (
            lambda f: (f / "transfers.csv").write_text("src_account_id,dst_account_id\n1,99\n"),
            "not in accounts.csv",
        ),
        (
            lambda f: (f / "transfers.csv").write_text("src_account_id,dst_account_id\n1,x\n"),
            "integer account id",
        ),
        (
            lambda f: (f / "ring_transfers.csv").write_text(
                "src_account_id,dst_account_id,in_transfers\n1,2,maybe\n"
            ),
            "true or false",
        ),
    ],
)
def test_a_damaged_folder_is_refused_with_a_clear_error(
    tmp_path: Path, damage: object, message: str
) -> None:
    """A missing file or column, an unknown or non-integer account id, or a flag that is
    neither true nor false: InvalidInput naming it, and nothing half-written relied on."""
    source = _amlsim(tmp_path / "in")
    damage(source)  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=message):
        convert_amlsim(source, tmp_path / "out")
    with pytest.raises(InvalidInput, match="label_fraction"):
        convert_amlsim(_amlsim(tmp_path / "ok"), tmp_path / "out", label_fraction=1.5)


def test_the_converted_events_load_without_a_row_or_field_quarantined(tmp_path: Path) -> None:
    """Through the real ingest: every signup and transfer loads."""
    result = convert_amlsim(_amlsim(tmp_path / "in"), tmp_path / "out")
    with EmbeddedStore(tmp_path / "store") as store:
        ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine")
        try:
            report = ingestor.run([result.events])
        finally:
            ingestor.close()
        assert store.export_transfers().num_rows == result.transfers
    assert report.total("rows_loaded") == result.accounts + result.transfers
    assert report.total("rows_quarantined") == 0 and report.total("fields_quarantined") == 0


def test_the_cli_prints_one_json_object_and_fails_cleanly(tmp_path: Path) -> None:
    """``fraudgraph convert amlsim DIR --out OUT --json``: the counts; a folder that is no
    AMLSim output exits 2 with one line on stderr."""
    source = _amlsim(tmp_path / "in")
    command = [sys.executable, "-m", "fraudgraph.cli", "convert", "amlsim"]
    done = subprocess.run(
        [*command, str(source), "--out", str(tmp_path / "out"), "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["transfers"] == 11
    refused = subprocess.run(
        [*command, str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert refused.returncode == 2 and "accounts.csv: not found" in refused.stderr
