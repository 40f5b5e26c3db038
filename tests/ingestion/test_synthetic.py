"""Tests for ``ingestion.synthetic``: the scenario generator's output contract.

Scenarios are generated once per module (1,000 and 20,000 accounts) and queried with
DuckDB; each test pins one property of the files a downstream job relies on.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx
import phonenumbers
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from ingestion.normalise import normalise_address, normalise_email
from ingestion.schema import EVENT_SCHEMA
from ingestion.synthetic import (
    RING_SIZES,
    ScenarioConfig,
    ScenarioSummary,
    Typology,
    generate_scenario,
)


@dataclass
class Scenario:
    """A generated scenario and a DuckDB connection with ``events``, ``truth``, ``labels``."""

    config: ScenarioConfig
    summary: ScenarioSummary
    db: duckdb.DuckDBPyConnection
    progress: list[tuple[str, int, int]]

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return self.db.sql(sql).fetchall()

    def value(self, sql: str) -> object:
        return self.rows(sql)[0][0]


def _generate(config: ScenarioConfig, out: Path) -> Scenario:
    progress: list[tuple[str, int, int]] = []
    summary = generate_scenario(
        config, out, on_progress=lambda step, done, total: progress.append((step, done, total))
    )
    db = duckdb.connect()
    db.register("events", pq.read_table(summary.events_path))
    db.register("truth", pacsv.read_csv(summary.truth_path))
    db.register("labels", pacsv.read_csv(summary.labels_path))
    return Scenario(config, summary, db, progress)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    scenario = _generate(ScenarioConfig(accounts=1_000, seed=3), tmp_path_factory.mktemp("small"))
    yield scenario
    scenario.db.close()


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    scenario = _generate(
        ScenarioConfig(accounts=20_000, seed=11), tmp_path_factory.mktemp("medium")
    )
    yield scenario
    scenario.db.close()


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


# ---------------------------------------------------------------------- determinism


def test_same_seed_writes_identical_files(small: Scenario, tmp_path: Path) -> None:
    """The same config reproduces every output file byte for byte."""
    again = generate_scenario(small.config, tmp_path)
    assert _files(again.out_dir) == _files(small.summary.out_dir)


def test_different_seed_writes_different_scenario(small: Scenario, tmp_path: Path) -> None:
    """Another seed gives other events, rings and labels."""
    other = generate_scenario(ScenarioConfig(accounts=1_000, seed=4), tmp_path)
    mine, theirs = _files(small.summary.out_dir), _files(other.out_dir)
    assert mine.keys() == theirs.keys()
    assert all(mine[name] != theirs[name] for name in mine)


# --------------------------------------------------------------------------- layout


def test_parts_have_exactly_the_event_schema(medium: Scenario) -> None:
    """Every part's schema is EVENT_SCHEMA (types, nullability, UTC microseconds)."""
    parts = sorted(medium.summary.events_path.glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(len(parts))]
    for part in parts:
        assert pq.read_schema(part).remove_metadata().equals(EVENT_SCHEMA)


def test_parts_are_capped_and_time_ordered(tmp_path: Path) -> None:
    """Parts hold at most twice rows_per_part rows and are time-ordered across parts."""
    summary = generate_scenario(ScenarioConfig(accounts=1_000, rows_per_part=2_000), tmp_path)
    parts = sorted(summary.events_path.glob("part-*.parquet"))
    assert len(parts) >= 4
    previous_last = None
    total = 0
    for part in parts:
        ts = pq.read_table(part, columns=["ts"])["ts"].to_pylist()
        assert len(ts) <= 4_000
        assert ts == sorted(ts)
        if previous_last is not None:
            assert previous_last <= ts[0]
        previous_last = ts[-1]
        total += len(ts)
    assert total == summary.events


def test_event_ids_are_unique_and_counts_match_summary(medium: Scenario) -> None:
    """Event ids are unique and the summary's counts match the files."""
    n, distinct = medium.rows("SELECT count(*), count(DISTINCT event_id) FROM events")[0]
    assert n == distinct == medium.summary.events
    assert medium.value("SELECT count(*) FROM truth") == medium.summary.ring_accounts
    assert medium.value("SELECT count(*) FROM labels") == medium.summary.labels
    assert medium.value("SELECT count(DISTINCT ring_id) FROM truth") == medium.summary.rings


def test_ids_are_opaque_fixed_format_strings(medium: Scenario) -> None:
    """Event, account, device, card and merchant ids are prefixed fixed-width digits."""
    malformed = medium.value(
        """
        SELECT count(*) FROM events WHERE NOT (
            regexp_full_match(event_id, 'E[0-9]{12}')
            AND regexp_full_match(account_id, 'A[0-9]{9}')
            AND coalesce(regexp_full_match(counterparty_account_id, 'A[0-9]{9}'), true)
            AND coalesce(regexp_full_match(device_id, 'D[0-9]{10}'), true)
            AND coalesce(regexp_full_match(card_id, 'C[0-9]{12}'), true)
            AND coalesce(regexp_full_match(merchant_id, 'M[0-9]{7}'), true))
        """
    )
    assert malformed == 0


def test_each_account_has_one_signup_before_its_other_events(medium: Scenario) -> None:
    """Each account signs up exactly once, and nothing it does precedes its signup."""
    rows = medium.rows(
        """
        SELECT account_id,
               count(*) FILTER (WHERE event_type = 'signup') AS signups,
               min(ts) FILTER (WHERE event_type = 'signup') AS signup_ts,
               min(ts) AS first_ts
        FROM events GROUP BY account_id
        """
    )
    assert len(rows) == medium.config.accounts
    assert all(signups == 1 and signup_ts == first_ts for _, signups, signup_ts, first_ts in rows)


def test_transfers_go_to_accounts_that_already_exist(medium: Scenario) -> None:
    """Every transfer's counterparty signed up before the transfer."""
    late = medium.value(
        """
        SELECT count(*) FROM events t
        LEFT JOIN events s ON s.account_id = t.counterparty_account_id
                          AND s.event_type = 'signup'
        WHERE t.event_type = 'transfer' AND (s.ts IS NULL OR s.ts >= t.ts)
        """
    )
    assert late == 0


def test_mix_is_mostly_logins_and_payments(medium: Scenario) -> None:
    """Logins and payments dominate and the mean activity is events_per_account."""
    counts = dict(medium.rows("SELECT event_type, count(*) FROM events GROUP BY 1"))
    total = sum(counts.values())
    assert (counts["login"] + counts["payment"]) / total > 0.8
    assert 0.04 < counts["transfer"] / total < 0.15
    assert 8.5 < total / medium.config.accounts < 12.0


def test_event_attributes_are_filled_where_they_apply(medium: Scenario) -> None:
    """Device rows carry os and flags, IP rows carry asn/country/proxy, money rows amounts."""
    gaps = medium.rows(
        """
        SELECT
          count(*) FILTER (WHERE device_id IS NOT NULL AND
                           (os IS NULL OR is_emulator IS NULL OR is_rooted IS NULL)),
          count(*) FILTER (WHERE ip IS NOT NULL AND
                           (asn IS NULL OR country IS NULL OR is_proxy IS NULL)),
          count(*) FILTER (WHERE event_type = 'payment' AND
                           (merchant_id IS NULL OR amount IS NULL OR card_id IS NULL)),
          count(*) FILTER (WHERE event_type = 'transfer' AND
                           (counterparty_account_id IS NULL OR amount IS NULL)),
          count(*) FILTER (WHERE amount IS NOT NULL AND (currency <> 'GBP' OR amount <= 0)),
          count(*) FILTER (WHERE event_type = 'signup' AND
                           (phone IS NULL OR email IS NULL OR device_id IS NULL))
        FROM events
        """
    )[0]
    assert gaps == (0, 0, 0, 0, 0, 0)


# ---------------------------------------------------------------------------- rings


@pytest.mark.parametrize("scenario_name", ["small", "medium"])
def test_every_typology_is_planted_within_size_bounds(
    scenario_name: str, request: pytest.FixtureRequest
) -> None:
    """At least five rings, one or more per typology, each within its size bounds."""
    scenario: Scenario = request.getfixturevalue(scenario_name)
    sizes = scenario.rows("SELECT ring_id, any_value(typology), count(*) FROM truth GROUP BY 1")
    assert len(sizes) >= 5
    assert {typology for _, typology, _ in sizes} == {t.value for t in Typology}
    for _, typology, size in sizes:
        low, high = RING_SIZES[Typology(typology)]
        assert low <= size <= high


def test_truth_csv_has_exact_columns_and_one_ring_per_member(medium: Scenario) -> None:
    """truth.csv is ring_id,typology,account_id with each account in at most one ring."""
    header = medium.summary.truth_path.read_text().splitlines()[0]
    assert header == "ring_id,typology,account_id"
    n, distinct = medium.rows("SELECT count(*), count(DISTINCT account_id) FROM truth")[0]
    assert n == distinct


def test_every_ring_member_appears_in_events(medium: Scenario) -> None:
    """Every ring member has events (including its signup)."""
    missing = medium.value(
        "SELECT count(*) FROM truth WHERE account_id NOT IN (SELECT account_id FROM events)"
    )
    assert missing == 0


def test_ring_members_also_have_everyday_activity(medium: Scenario) -> None:
    """Most ring members also pay at popular merchants, so rings are not isolated."""
    share = medium.value(
        """
        WITH popular AS (SELECT merchant_id FROM events WHERE merchant_id IS NOT NULL
                         GROUP BY 1 HAVING count(DISTINCT account_id) >= 100)
        SELECT avg((account_id IN (SELECT account_id FROM events
                                    WHERE merchant_id IN (SELECT * FROM popular)))::INT)
        FROM truth
        """
    )
    assert isinstance(share, float) and share > 0.5


def test_labels_reference_accounts_and_honour_fractions(medium: Scenario) -> None:
    """Fraud labels cover ~label_fraction of ring members, legit ones only non-members."""
    header = medium.summary.labels_path.read_text().splitlines()[0]
    assert header == "entity_type,entity_key,label,source,ts,author,reason"
    unknown = medium.value(
        "SELECT count(*) FROM labels WHERE entity_key NOT IN (SELECT account_id FROM events)"
    )
    assert unknown == 0
    assert medium.rows("SELECT DISTINCT entity_type FROM labels") == [("Account",)]
    fraud_members, fraud, ring_members = medium.rows(
        """
        SELECT count(*) FILTER (WHERE label = 'fraud' AND entity_key IN
                                (SELECT account_id FROM truth)),
               count(*) FILTER (WHERE label = 'fraud'),
               (SELECT count(*) FROM truth)
        FROM labels
        """
    )[0]
    assert fraud_members == fraud
    assert fraud == round(medium.config.label_fraction * ring_members)
    legit_members, legit = medium.rows(
        """
        SELECT count(*) FILTER (WHERE entity_key IN (SELECT account_id FROM truth)), count(*)
        FROM labels WHERE label = 'legit'
        """
    )[0]
    assert legit_members == 0
    expected = medium.config.legit_label_fraction * (medium.config.accounts - ring_members)
    assert legit == round(expected)


def test_fraud_labels_are_dated_after_their_ring_activity(medium: Scenario) -> None:
    """A fraud label's ts is after the last use of any identifier only its ring uses."""
    early = medium.value(
        """
        WITH uses AS (
            SELECT account_id, ts, unnest([device_id, ip, merchant_id]) AS key FROM events),
        owners AS (  -- identifiers used by 2+ accounts, all of them members of one ring
            SELECT u.key, any_value(t.ring_id) AS ring_id FROM uses u
            LEFT JOIN truth t USING (account_id)
            WHERE u.key IS NOT NULL GROUP BY u.key
            HAVING count(DISTINCT u.account_id) >= 2 AND count(*) = count(t.ring_id)
               AND count(DISTINCT t.ring_id) = 1),
        ring_end AS (
            SELECT o.ring_id, max(u.ts) AS last_ts FROM uses u JOIN owners o USING (key)
            GROUP BY 1)
        SELECT count(*) FROM labels l
        JOIN truth t ON t.account_id = l.entity_key
        JOIN ring_end r USING (ring_id)
        WHERE l.label = 'fraud' AND l.ts::TIMESTAMPTZ <= r.last_ts
        """
    )
    assert early == 0
    covered = medium.value(
        "SELECT count(DISTINCT ring_id) FROM truth JOIN labels ON account_id = entity_key"
    )
    assert isinstance(covered, int) and covered >= medium.summary.rings // 2


def _ring_members(scenario: Scenario, typology: Typology) -> dict[str, set[str]]:
    rings: dict[str, set[str]] = {}
    for ring_id, account in scenario.rows(
        f"SELECT ring_id, account_id FROM truth WHERE typology = '{typology.value}'"
    ):
        rings.setdefault(str(ring_id), set()).add(str(account))
    return rings


def test_device_farm_runs_on_shared_emulators_in_a_burst(medium: Scenario) -> None:
    """Device farms share emulators across 5+ members, sign up within 3 days, via proxies."""
    for ring_id in _ring_members(medium, Typology.DEVICE_FARM):
        shared = medium.rows(
            f"""
            SELECT device_id, bool_and(is_emulator), count(DISTINCT account_id)
            FROM events JOIN truth USING (account_id)
            WHERE ring_id = '{ring_id}' AND is_emulator
            GROUP BY 1 HAVING count(DISTINCT account_id) >= 2
            """
        )
        assert shared and all(emulator and users >= 5 for _, emulator, users in shared)
        span, proxied = medium.rows(
            f"""
            SELECT date_diff('hour', min(ts), max(ts)), bool_and(is_proxy)
            FROM events JOIN truth USING (account_id)
            WHERE ring_id = '{ring_id}' AND event_type = 'signup'
            """
        )[0]
        assert isinstance(span, int) and span <= 72
        assert proxied


def test_synthetic_identities_share_a_mailbox_spelled_differently(medium: Scenario) -> None:
    """Synthetic identity members share one mailbox under different raw spellings."""
    for ring_id in _ring_members(medium, Typology.SYNTHETIC_IDENTITY):
        emails = medium.rows(
            f"""
            SELECT DISTINCT account_id, email FROM events JOIN truth USING (account_id)
            WHERE ring_id = '{ring_id}' AND event_type = 'signup'
            """
        )
        by_mailbox: dict[str, set[str]] = {}
        spellings: dict[str, set[str]] = {}
        for account, email in emails:
            mailbox = normalise_email(str(email))
            assert mailbox is not None
            by_mailbox.setdefault(mailbox, set()).add(str(account))
            spellings.setdefault(mailbox, set()).add(str(email))
        shared = max(by_mailbox, key=lambda m: len(by_mailbox[m]))
        assert len(by_mailbox[shared]) >= 2
        assert len(spellings[shared]) >= 2
        assert shared.endswith("@gmail.com")


def test_mule_network_has_fan_in_and_a_transfer_cycle(medium: Scenario) -> None:
    """Mule rings receive from many outside victims and move money round a cycle."""
    for ring_id, members in _ring_members(medium, Typology.MULE_NETWORK).items():
        transfers = medium.rows(
            f"""
            SELECT account_id, counterparty_account_id FROM events
            WHERE event_type = 'transfer' AND counterparty_account_id IN
                  (SELECT account_id FROM truth WHERE ring_id = '{ring_id}')
            """
        )
        victims = {src for src, _ in transfers if src not in members}
        assert len(victims) >= len(members)
        graph = nx.DiGraph((s, d) for s, d in transfers if s in members)
        assert any(len(cycle) >= 3 for cycle in nx.simple_cycles(graph, length_bound=6))


def test_bust_out_spends_big_at_merchants_used_mostly_by_the_ring(medium: Scenario) -> None:
    """Bust-out rings spend 400+ at merchants whose customers are mostly ring members."""
    for ring_id, members in _ring_members(medium, Typology.BUST_OUT).items():
        merchant, span = medium.rows(
            f"""
            SELECT merchant_id, date_diff('hour', min(ts), max(ts))
            FROM events JOIN truth USING (account_id)
            WHERE ring_id = '{ring_id}' AND event_type = 'payment' AND amount >= 400
            GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
            """
        )[0]
        assert isinstance(span, int) and span <= 72
        customers = {
            str(a)
            for (a,) in medium.rows(
                f"SELECT DISTINCT account_id FROM events WHERE merchant_id = '{merchant}'"
            )
        }
        assert len(customers & members) / len(customers) >= 0.6


def test_account_takeover_logins_come_from_a_few_proxy_ips(medium: Scenario) -> None:
    """Taken-over accounts all log in from 2-4 attacker IPs (mostly proxies) nobody else uses."""
    for ring_id, members in _ring_members(medium, Typology.ACCOUNT_TAKEOVER).items():
        ips = medium.rows(
            f"""
            SELECT ip, bool_or(is_proxy), list(DISTINCT account_id) FROM events
            WHERE event_type = 'login' AND ip IS NOT NULL
            GROUP BY ip
            HAVING count(DISTINCT account_id) >= 2 AND bool_and(account_id IN
                   (SELECT account_id FROM truth WHERE ring_id = '{ring_id}'))
            """
        )
        assert 2 <= len(ips) <= 4
        assert any(proxy for _, proxy, _ in ips)
        reached: set[str] = set()
        for _, _, accounts in ips:
            assert isinstance(accounts, list)
            reached.update(accounts)
        assert reached == members


# ------------------------------------------------------------- background realism


def test_carrier_nat_ips_are_shared_by_thousands(medium: Scenario) -> None:
    """At 20k accounts some mobile NAT IP is used by 1,000+ distinct accounts."""
    widest = medium.value(
        "SELECT max(n) FROM (SELECT count(DISTINCT account_id) AS n FROM events "
        "WHERE ip IS NOT NULL GROUP BY ip)"
    )
    assert isinstance(widest, int) and widest >= 1_000


def test_households_share_addresses(medium: Scenario) -> None:
    """Non-member households of 2-5 accounts share one (normalised) address."""
    rows = medium.rows(
        "SELECT DISTINCT account_id, address FROM events WHERE address IS NOT NULL "
        "AND account_id NOT IN (SELECT account_id FROM truth)"
    )
    residents: dict[str, set[str]] = {}
    for account, address in rows:
        key = normalise_address(str(address))
        assert key is not None
        residents.setdefault(key, set()).add(str(account))
    sizes = [len(accounts) for accounts in residents.values()]
    assert sum(2 <= size <= 5 for size in sizes) >= 1_000
    assert max(sizes) <= 6


def test_background_identifiers_vary_in_spelling_but_not_in_meaning(medium: Scenario) -> None:
    """Outside rings, an account's emails/addresses vary in spelling, never in mailbox/place."""
    rows = medium.rows(
        """
        SELECT account_id, list(DISTINCT email), list(DISTINCT address) FROM events
        WHERE account_id NOT IN (SELECT account_id FROM truth)
        GROUP BY 1
        """
    )
    varied = 0
    for _, emails, addresses in rows:
        assert isinstance(emails, list) and isinstance(addresses, list)
        assert len({normalise_email(e) for e in emails if e is not None}) <= 1
        assert len({normalise_address(a) for a in addresses if a is not None}) <= 1
        varied += len(emails) > 1 or len(addresses) > 1
    assert varied > len(rows) // 10


def test_phone_variants_are_valid_and_map_to_one_number(medium: Scenario) -> None:
    """Every phone is valid for GB parsing; spellings of one number agree on its E.164."""
    spellings: dict[str, set[str]] = {}
    for (raw,) in medium.rows("SELECT DISTINCT phone FROM events WHERE phone IS NOT NULL"):
        number = phonenumbers.parse(str(raw), "GB")
        assert phonenumbers.is_valid_number(number), raw
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        spellings.setdefault(e164, set()).add(str(raw))
    assert sum(len(s) >= 3 for s in spellings.values()) >= 100
    assert any(e164.startswith("+1") for e164 in spellings)
    raw = {spelling for s in spellings.values() for spelling in s}
    for prefix in ("+44 ", "07", "+447", "0044 ", "+44 (0)"):
        assert any(r.startswith(prefix) for r in raw), prefix


def test_us_region_phones_are_valid_for_us_parsing(tmp_path: Path) -> None:
    """With default_region US, every phone parses as valid with region US."""
    summary = generate_scenario(ScenarioConfig(accounts=1_000, default_region="US"), tmp_path)
    phones = pq.read_table(summary.events_path, columns=["phone", "currency"])
    for raw in set(phones["phone"].drop_null().to_pylist()):
        assert phonenumbers.is_valid_number(phonenumbers.parse(raw, "US")), raw
    assert set(phones["currency"].drop_null().to_pylist()) == {"USD"}


def test_benign_hard_negatives_exist(medium: Scenario) -> None:
    """Families share a device, offices/Wi-Fi share IPs, VPN users share proxy exits."""
    outsiders = "account_id NOT IN (SELECT account_id FROM truth)"
    family = medium.value(
        f"SELECT max(n) FROM (SELECT count(DISTINCT account_id) AS n FROM events "
        f"WHERE {outsiders} AND device_id IS NOT NULL GROUP BY device_id)"
    )
    assert family in (5, 6)
    shared_networks = medium.value(
        f"SELECT count(*) FROM (SELECT ip FROM events WHERE {outsiders} AND NOT is_proxy "
        f"GROUP BY ip HAVING count(DISTINCT account_id) BETWEEN 20 AND 999)"
    )
    assert isinstance(shared_networks, int) and shared_networks >= 10
    vpn_users = medium.value(
        f"SELECT count(DISTINCT account_id) FROM events WHERE {outsiders} AND is_proxy"
    )
    assert isinstance(vpn_users, int) and vpn_users >= 200
    flags = medium.rows(
        f"SELECT count(DISTINCT device_id) FILTER (WHERE is_rooted), "
        f"count(DISTINCT device_id) FILTER (WHERE is_emulator) FROM events WHERE {outsiders}"
    )[0]
    assert flags[0] >= 50 and flags[1] >= 5


def test_ips_are_valid_and_some_are_ipv6(medium: Scenario) -> None:
    """IPs are canonical IPv4 or IPv6 strings; some homes are on IPv6."""
    ips = [str(ip) for (ip,) in medium.rows("SELECT DISTINCT ip FROM events WHERE ip IS NOT NULL")]
    parsed = [ipaddress.ip_address(ip) for ip in ips]
    assert [str(p) for p in parsed] == ips
    assert any(p.version == 6 for p in parsed)


# -------------------------------------------------------------------------- API


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"accounts": 10}, "accounts"),
        ({"days": 7}, "days"),
        ({"label_fraction": 1.5}, "label_fraction"),
        ({"default_region": "FR"}, "default_region"),
        ({"start": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"events_per_account": 0.5}, "events_per_account"),
        ({"rings_per_10k": 2_000.0}, "rings_per_10k"),
    ],
)
def test_invalid_config_is_rejected(overrides: dict[str, Any], problem: str) -> None:
    """Out-of-range settings raise ValueError naming the offending setting."""
    with pytest.raises(ValueError, match=problem):
        ScenarioConfig(**overrides)


def test_progress_reports_every_step(small: Scenario) -> None:
    """on_progress sees population, rings, every event bucket, then labels."""
    steps = [step for step, _, _ in small.progress]
    assert steps[0] == "population" and steps[1] == "rings" and steps[-1] == "labels"
    buckets = [(done, total) for step, done, total in small.progress if step == "events"]
    assert buckets and buckets[-1][0] == buckets[-1][1]
    assert [done for done, _ in buckets] == list(range(1, len(buckets) + 1))


def test_summary_as_dict_is_json_ready(small: Scenario) -> None:
    """as_dict gives plain JSON values, paths as strings."""
    data = small.summary.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["accounts"] == 1_000
    assert data["truth_path"] == str(small.summary.out_dir / "truth.csv")


def test_events_fall_within_the_configured_period(small: Scenario) -> None:
    """All events fall within [start, start + days)."""
    first, last = small.rows("SELECT min(ts), max(ts) FROM events")[0]
    assert isinstance(first, datetime) and isinstance(last, datetime)
    start = small.config.start
    assert start <= first and last < start + timedelta(days=small.config.days)


def test_rerun_replaces_stale_parts(tmp_path: Path) -> None:
    """Generating into a used folder leaves only the new run's parts (no stale or partial)."""
    generate_scenario(ScenarioConfig(accounts=1_000, rows_per_part=2_000), tmp_path)
    (tmp_path / "events" / ".part-00009.parquet.partial").write_bytes(b"interrupted")
    summary = generate_scenario(ScenarioConfig(accounts=1_000), tmp_path)
    assert sorted(p.name for p in summary.events_path.iterdir()) == ["part-00000.parquet"]
    assert pq.read_table(summary.events_path).num_rows == summary.events
