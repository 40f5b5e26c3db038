"""Crosscheck scenario generator: files, determinism, truth and benign groups in the events."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from benchmarks.crosscheck.generate import BENIGN_KINDS, ScenarioConfig, generate
from benchmarks.crosscheck.ring_kit import TYPOLOGIES
from ingestion.schema import EVENT_SCHEMA

CONFIG = ScenarioConfig(accounts=5_000, seed=11)


@dataclass(frozen=True)
class Scenario:
    """A generated scenario and what the tests read from it."""

    root: Path
    summary: dict[str, object]
    events: dict[str, list[str | None]]


def _read_events(root: Path) -> dict[str, list[str | None]]:
    names = list(EVENT_SCHEMA.names)
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names}, strings_can_be_null=True
    )
    tables = [pacsv.read_csv(p, convert_options=options) for p in sorted(root.glob("events/*.csv"))]
    table = pa.concat_tables(tables)
    return {name: table.column(name).to_pylist() for name in names}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """One 5k-account scenario shared by the module."""
    root = tmp_path_factory.mktemp("crosscheck") / "a"
    summary = generate(CONFIG, root)
    return Scenario(root, summary, _read_events(root))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.csv"))}


def test_same_arguments_give_the_same_bytes(scenario: Scenario, tmp_path: Path) -> None:
    """A second run with the same configuration writes identical files."""
    generate(CONFIG, tmp_path / "b")
    assert _files(scenario.root) == _files(tmp_path / "b")


def test_files_and_columns(scenario: Scenario) -> None:
    """Monthly event files with exactly the event schema's columns, and the three tables."""
    event_files = sorted(scenario.root.glob("events/*.csv"))
    assert len(event_files) == 6
    for path in event_files:
        with path.open(newline="") as fh:
            assert next(csv.reader(fh)) == list(EVENT_SCHEMA.names)
    headers = {
        "labels.csv": ["entity_type", "entity_key", "label", "source", "ts"],
        "truth.csv": ["ring_id", "typology", "account_id"],
        "sharers.csv": ["account_id", "kind", "group_id"],
    }
    for name, header in headers.items():
        with (scenario.root / name).open(newline="") as fh:
            assert next(csv.reader(fh)) == header
    assert scenario.summary["events"] == len(scenario.events["event_id"])
    assert len(set(scenario.events["event_id"])) == len(scenario.events["event_id"])


def test_truth_and_sharer_accounts_appear_in_events(scenario: Scenario) -> None:
    """Every ring member and every benign sharer has events of its own."""
    accounts = set(scenario.events["account_id"])
    truth = {r["account_id"] for r in _rows(scenario.root / "truth.csv")}
    sharers = {r["account_id"] for r in _rows(scenario.root / "sharers.csv")}
    assert truth <= accounts
    assert sharers <= accounts
    assert not truth & sharers


def test_labels_only_on_ring_members_and_before_the_end(scenario: Scenario) -> None:
    """With no legit fraction, labels are confirmed fraud on ring members, within the data."""
    truth = {r["account_id"] for r in _rows(scenario.root / "truth.csv")}
    labels = _rows(scenario.root / "labels.csv")
    assert labels
    last_event = max(t[:19].replace(" ", "T") for t in scenario.events["ts"] if t)
    for label in labels:
        assert label["entity_type"] == "Account"
        assert label["label"] == "fraud"
        assert label["entity_key"] in truth
        assert label["ts"].endswith("Z")
        assert label["ts"][:19] <= last_event


def test_every_benign_kind_and_typology_is_present(scenario: Scenario) -> None:
    """All fifteen benign kinds and all five typologies occur at 5k accounts."""
    kinds = {r["kind"] for r in _rows(scenario.root / "sharers.csv")}
    assert kinds == set(BENIGN_KINDS)
    truth = _rows(scenario.root / "truth.csv")
    assert {r["typology"] for r in truth} == set(TYPOLOGIES)
    sizes: dict[str, int] = defaultdict(int)
    for row in truth:
        sizes[row["ring_id"]] += 1
    assert all(3 <= size <= 25 for size in sizes.values())


def _phone_key(raw: str) -> str:
    return re.sub(r"\D", "", raw)[-10:]


def test_each_ring_is_connected_in_the_raw_events(scenario: Scenario) -> None:
    """Ring members are one component through shared identifiers or transfers between them.

    Identifiers compare as written, except phones (last ten digits) and emails (case).
    """
    truth = _rows(scenario.root / "truth.csv")
    ring_of = {r["account_id"]: r["ring_id"] for r in truth}
    members: dict[str, set[str]] = defaultdict(set)
    for row in truth:
        members[row["ring_id"]].add(row["account_id"])
    parent = {a: a for a in ring_of}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    ev = scenario.events
    first_user: dict[tuple[str, str, str], str] = {}
    keys = {
        "device_id": str,
        "ip": str,
        "card_id": str,
        "phone": _phone_key,
        "email": str.lower,
    }
    for i, account in enumerate(ev["account_id"]):
        ring = ring_of.get(account or "")
        if ring is None:
            continue
        for column, key in keys.items():
            value = ev[column][i]
            if value:
                seen = first_user.setdefault((ring, column, key(value)), account)
                parent[find(account)] = find(seen)
        other = ev["counterparty_account_id"][i]
        if other and ring_of.get(other) == ring:
            parent[find(account)] = find(other)
    for ring, accounts in members.items():
        assert len({find(a) for a in accounts}) == 1, ring


def test_values_come_in_the_messy_forms_of_real_feeds(scenario: Scenario) -> None:
    """National and E.164 phones, both ASN forms, mixed booleans and timestamp styles."""
    ev = scenario.events
    phones = [p for p in ev["phone"] if p]
    assert any(p.startswith("(") for p in phones)
    assert any(p.startswith("+1") for p in phones)
    assert any(re.fullmatch(r"\d{10}", p) for p in phones)
    asns = {a for a in ev["asn"] if a}
    assert any(a.startswith("AS") for a in asns)
    assert any(a.isdigit() for a in asns)
    assert {"True", "false", "Y", "0"} <= {b for b in ev["is_proxy"] + ev["is_emulator"] if b}
    stamps = [t for t in ev["ts"] if t]
    assert any(t.endswith("Z") for t in stamps)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in stamps)
    emails = [e for e in ev["email"] if e]
    assert any(e != e.lower() for e in emails)


def test_phones_are_valid_numbers_for_the_row_country(scenario: Scenario) -> None:
    """National spellings parse as valid numbers in the row's country; others are E.164."""
    ev = scenario.events
    checked = 0
    for phone, country in zip(ev["phone"], ev["country"], strict=True):
        if not phone or checked >= 3_000:
            continue
        region = None if phone.startswith("+") else (country or "").upper()
        assert region != "", phone
        number = phonenumbers.parse(phone, region)
        assert phonenumbers.is_valid_number(number), (phone, country)
        checked += 1
    assert checked > 100


def test_legit_labels_go_to_accounts_outside_rings(tmp_path: Path) -> None:
    """``legit_label_fraction`` adds legit labels, never on a ring member."""
    config = ScenarioConfig(accounts=2_000, seed=5, legit_label_fraction=0.1)
    generate(config, tmp_path)
    truth = {r["account_id"] for r in _rows(tmp_path / "truth.csv")}
    labels = _rows(tmp_path / "labels.csv")
    legit = [r for r in labels if r["label"] == "legit"]
    assert 100 < len(legit) < 300
    assert not {r["entity_key"] for r in legit} & truth
    assert {r["entity_key"] for r in labels if r["label"] == "fraud"} <= truth
