"""Tests for ``ingestion.synthetic.hard``: the hard profile's world, rings and feeds.

One 20,000-account scenario is generated per module (mixed formats) and queried with
DuckDB; each test pins one property a detector evaluation relies on: benign sharing
groups really share what their kind says, rings are camouflaged, labels arrive as banks
get them, and the feed's spellings occur at about their configured rates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx
import phonenumbers
import pytest

from graph_service.embedded.store import EmbeddedStore
from ingestion.loader import Ingestor
from ingestion.normalise import normalise_address
from ingestion.schema import EVENT_SCHEMA
from ingestion.synthetic import (
    BenignKind,
    HardScenarioConfig,
    HardScenarioSummary,
    Typology,
    generate_hard_scenario,
)

#: SQL: the event time of a mixed-format ``ts`` (epoch ms/s, ISO with Z or offset, naive UTC).
_TS_SQL = """CASE
    WHEN regexp_full_match(ts, '[0-9]{13}') THEN make_timestamptz(ts::BIGINT * 1000)
    WHEN regexp_full_match(ts, '[0-9]{10}') THEN make_timestamptz(ts::BIGINT * 1000000)
    ELSE ts::TIMESTAMPTZ END"""
#: SQL keys under which differently spelled identifiers of one entity coincide.
_PHONE_KEY = "right(regexp_replace(phone, '[^0-9]', '', 'g'), 9)"
_EMAIL_KEY = """(CASE WHEN replace(split_part(lower(email), '@', 2), 'googlemail', 'gmail') = 'gmail.com'
    THEN replace(regexp_replace(split_part(lower(email), '@', 1), '[+].*$', ''), '.', '')
    ELSE regexp_replace(split_part(lower(email), '@', 1), '[+].*$', '') END)
    || '@' || replace(split_part(lower(email), '@', 2), 'googlemail', 'gmail')"""
_ADDRESS_KEY = """regexp_extract(address, '^\\s*([0-9]+)', 1) || '|'
    || regexp_extract(address, '([0-9]{5})(-[0-9]{4})?\\s*$', 1) || '|'
    || regexp_extract(upper(address), '(APT\\.?|APARTMENT|UNIT|#) ?([0-9]+)', 2)"""
#: Address spellings the standard normaliser already unifies: no ``#`` or ``UNIT``, no
#: ZIP+4, no state names, no suffix or directional spellings outside its table.
_LEGACY_ADDRESS = re.compile(
    r"^[0-9]+ (?:[NSEW] )?[A-Z0-9]+ "
    r"(?:STREET|ST|ROAD|RD|AVENUE|AVE|LANE|LN|DRIVE|DR|COURT|CT|PLACE|PL|BLVD|CIR|TER|PKWY"
    r"|WAY|TRL|HWY)(?: (?:APT|APT\.|APARTMENT) [0-9]+)?, [A-Z ]+, [A-Z]{2} [0-9]{5}$",
    re.IGNORECASE,
)


@dataclass
class Scenario:
    """A generated scenario and a DuckDB connection over its files.

    Tables: ``raw`` (every CSV row as text), ``events`` (distinct rows with ``t``, the
    parsed time), ``truth``, ``labels``, ``sharers``, ``signup`` (account, time) and
    ``ids`` (account, identifier kind, spelling-independent key).
    """

    config: HardScenarioConfig
    summary: HardScenarioSummary
    db: duckdb.DuckDBPyConnection
    details: dict[str, Any]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.db.sql(sql).fetchall()

    def value(self, sql: str) -> Any:
        return self.rows(sql)[0][0]


def _load(config: HardScenarioConfig, out: Path) -> Scenario:
    summary = generate_hard_scenario(config, out)
    db = duckdb.connect(config={"threads": 2})
    db.execute("SET TimeZone = 'UTC'")
    db.execute(
        f"CREATE TABLE raw AS SELECT * FROM read_csv('{out}/events/*.csv', all_varchar = true)"
    )
    db.execute(f"CREATE TABLE events AS SELECT DISTINCT *, {_TS_SQL} AS t FROM raw")
    for name in ("truth", "labels", "sharers"):
        db.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{out}/{name}.csv')")
    db.execute(
        "CREATE TABLE signup AS SELECT account_id, t FROM events WHERE event_type = 'signup'"
    )
    db.execute(
        f"""CREATE TABLE ids AS
        SELECT DISTINCT account_id, 'device' AS k, device_id AS v FROM events WHERE device_id IS NOT NULL
        UNION SELECT account_id, 'ip', ip FROM events WHERE ip IS NOT NULL
        UNION SELECT account_id, 'card', card_id FROM events WHERE card_id IS NOT NULL
        UNION SELECT account_id, 'phone', {_PHONE_KEY} FROM events
              WHERE phone IS NOT NULL AND length(regexp_replace(phone, '[^0-9]', '', 'g')) > 6
        UNION SELECT account_id, 'email', {_EMAIL_KEY} FROM events WHERE email IS NOT NULL
        UNION SELECT account_id, 'address', {_ADDRESS_KEY} FROM events WHERE address IS NOT NULL"""
    )
    details = json.loads(summary.scenario_path.read_text())
    return Scenario(config, summary, db, details)


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    scenario = _load(HardScenarioConfig(accounts=20_000, seed=5), tmp_path_factory.mktemp("hard"))
    yield scenario
    scenario.db.close()


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------- determinism


def test_same_config_writes_identical_files(tmp_path: Path) -> None:
    """The same config reproduces every file byte for byte; another seed changes them all."""
    config = HardScenarioConfig(accounts=1_000, seed=2)
    first = _files(generate_hard_scenario(config, tmp_path / "a").out_dir)
    again = _files(generate_hard_scenario(config, tmp_path / "b").out_dir)
    other = _files(generate_hard_scenario(replace(config, seed=3), tmp_path / "c").out_dir)
    assert first == again
    assert first.keys() == other.keys()
    changed = {name for name in first if first[name] != other[name]}
    assert changed == set(first)


# --------------------------------------------------------------------------- layout


def test_files_have_the_documented_columns_and_counts(hard: Scenario) -> None:
    """CSV parts have the canonical event columns; summary and scenario.json add up."""
    parts = sorted(hard.summary.events_path.glob("part-*.csv"))
    assert [p.name for p in parts] == [f"part-{i:05d}.csv" for i in range(len(parts))]
    header = parts[0].read_text().split("\n", 1)[0].replace('"', "").split(",")
    assert header == EVENT_SCHEMA.names
    counts = hard.details["counts"]
    assert hard.value("SELECT count(*) FROM raw") == hard.summary.rows == counts["rows"]
    assert hard.value("SELECT count(*) FROM events") == hard.summary.events == counts["events"]
    assert counts["rows"] - counts["events"] == counts["duplicates"]
    assert hard.value("SELECT count(*) FROM truth") == hard.summary.ring_accounts
    assert hard.value("SELECT count(*) FROM sharers") == hard.summary.sharers
    assert sum(counts["rings"].values()) == hard.summary.rings
    assert hard.details["config"]["accounts"] == 20_000
    assert set(counts["benign"]) == {k.value for k in BenignKind}


def test_each_account_signs_up_once_before_anything_else(hard: Scenario) -> None:
    """One signup per account, no event before it, transfers only to existing accounts."""
    assert hard.rows("SELECT count(*), count(DISTINCT account_id) FROM signup") == [
        (20_000, 20_000)
    ]
    early = hard.value(
        "SELECT count(*) FROM events e JOIN signup s USING (account_id) WHERE e.t < s.t"
    )
    assert early == 0
    dangling = hard.value(
        """SELECT count(*) FROM events e LEFT JOIN signup s ON e.counterparty_account_id = s.account_id
           WHERE e.event_type = 'transfer' AND (s.t IS NULL OR s.t > e.t
                 OR e.counterparty_account_id = e.account_id)"""
    )
    assert dangling == 0


def test_the_book_is_long_standing_and_grows_across_the_period(hard: Scenario) -> None:
    """Many accounts exist from the first weeks; the rest sign up across the period."""
    start = hard.value("SELECT min(t) FROM signup")
    first_weeks = hard.value(
        f"SELECT avg((t < TIMESTAMPTZ '{start}' + INTERVAL 28 DAY)::INT) FROM signup"
    )
    assert 0.3 <= first_weeks <= 0.55
    months = hard.value("SELECT count(DISTINCT date_trunc('month', t)) FROM signup")
    assert months >= 17


# ---------------------------------------------------------------- benign sharing


def _accounts(hard: Scenario, kind: BenignKind) -> int:
    count: int = hard.details["counts"]["benign"][kind.value]["accounts"]
    return count


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [
        (BenignKind.HOUSEHOLD, 0.45, 0.7),
        (BenignKind.OFFICE, 0.1, 0.16),
        (BenignKind.CAMPUS, 0.025, 0.045),
        (BenignKind.CARRIER_NAT, 0.35, 0.65),
        (BenignKind.PUBLIC_WIFI, 0.06, 0.09),
        (BenignKind.HOTEL_WIFI, 0.03, 0.045),
        (BenignKind.VPN, 0.02, 0.035),
        (BenignKind.CALL_CENTRE, 0.045, 0.07),
        (BenignKind.SHOP_DEVICE, 0.09, 0.13),
        (BenignKind.PAYROLL, 0.17, 0.22),
        (BenignKind.FAMILY_DEVICE, 0.02, 0.08),
        (BenignKind.FAMILY_CARD, 0.01, 0.05),
        (BenignKind.FAMILY_PHONE, 0.01, 0.05),
        (BenignKind.P2P_SELLER, 0.05, 0.3),
        (BenignKind.LANDLORD, 0.02, 0.1),
    ],
)
def test_every_benign_kind_is_present_at_about_its_rate(
    hard: Scenario, kind: BenignKind, low: float, high: float
) -> None:
    """Each kind's share of accounts is near what its config rate implies."""
    share = _accounts(hard, kind) / hard.config.accounts
    assert low <= share <= high
    listed = hard.value(
        f"SELECT count(DISTINCT account_id) FROM sharers WHERE kind = '{kind.value}'"
    )
    assert listed == _accounts(hard, kind)
    assert (
        hard.value(
            f"SELECT min(n) FROM (SELECT count(*) n FROM sharers WHERE kind = '{kind.value}' GROUP BY group_id)"
        )
        >= 2
    )


def test_group_counts_follow_the_configured_sizes(hard: Scenario) -> None:
    """Sellers, landlords and households with shared devices come at their rates."""
    benign = hard.details["counts"]["benign"]
    n = hard.config.accounts
    assert benign["p2p_seller"]["groups"] == round(hard.config.p2p_seller_fraction * n)
    assert 0.5 <= benign["landlord"]["groups"] / (hard.config.landlord_fraction * n) <= 1.0
    households = benign["household"]["groups"]
    assert 0.08 <= benign["family_device"]["groups"] / households <= 0.16
    high = hard.config.office_sizes[1]
    sizes = hard.rows("SELECT count(*) FROM sharers WHERE kind = 'office' GROUP BY group_id")
    assert max(s for (s,) in sizes) <= high
    assert (
        hard.value(
            "SELECT count(*) FROM sharers WHERE kind = 'campus' GROUP BY group_id ORDER BY 1 DESC LIMIT 1"
        )
        >= 100
    )


def _members(hard: Scenario, kind: BenignKind) -> str:
    """SQL relation (group_id, account_id) of one kind's groups."""
    return f"(SELECT group_id, account_id FROM sharers WHERE kind = '{kind.value}')"


def test_households_share_an_address_and_home_ips(hard: Scenario) -> None:
    """Legacy-spelled addresses of a household normalise to one string; most households
    share a rarely used (home) IP between members."""
    rows = hard.rows(
        f"""SELECT m.group_id, m.account_id, e.address FROM {_members(hard, BenignKind.HOUSEHOLD)} m
            JOIN events e USING (account_id) WHERE e.address IS NOT NULL"""
    )
    by_group: dict[str, set[str | None]] = {}
    spellings: dict[str, set[str]] = {}
    for group, _, address in rows:
        spellings.setdefault(group, set()).add(address)
        if _LEGACY_ADDRESS.match(address):
            by_group.setdefault(group, set()).add(normalise_address(address))
    assert len(by_group) > 1_000
    assert all(len(normalised) == 1 for normalised in by_group.values())
    assert sum(len(s) > 1 for s in spellings.values()) / len(spellings) > 0.5  # respelled
    shared_ip = hard.value(
        f"""WITH users AS (SELECT v, count(*) n FROM ids WHERE k = 'ip' GROUP BY v),
            m AS {_members(hard, BenignKind.HOUSEHOLD)}
            SELECT avg(shared::INT) FROM (
              SELECT group_id, bool_or(c >= 2) shared FROM (
                SELECT m.group_id, i.v, count(DISTINCT m.account_id) c FROM m
                JOIN ids i ON i.account_id = m.account_id AND i.k = 'ip'
                JOIN users u ON u.v = i.v WHERE u.n <= 12 GROUP BY 1, 2)
              GROUP BY group_id)"""
    )
    assert shared_ip > 0.6


def test_home_ips_change_every_few_months(hard: Scenario) -> None:
    """A household seen at home over most of a year has had several home IPs."""
    several = hard.value(
        f"""WITH m AS {_members(hard, BenignKind.HOUSEHOLD)}
            SELECT avg((n >= 2)::INT) FROM (
              SELECT m.group_id, count(DISTINCT e.ip) n FROM m JOIN events e USING (account_id)
              WHERE regexp_replace(upper(e.asn), '^AS', '') IN ('7922', '20115', '7018', '701', '22773', '209')
              GROUP BY 1 HAVING epoch(max(e.t) - min(e.t)) > 300 * 86400)"""
    )
    assert several > 0.9


@pytest.mark.parametrize(
    ("kind", "column"),
    [
        (BenignKind.FAMILY_DEVICE, "device"),
        (BenignKind.FAMILY_CARD, "card"),
        (BenignKind.CALL_CENTRE, "device"),
        (BenignKind.SHOP_DEVICE, "device"),
        (BenignKind.PUBLIC_WIFI, "ip"),
        (BenignKind.HOTEL_WIFI, "ip"),
    ],
)
def test_each_group_shares_one_identifier_among_all_members(
    hard: Scenario, kind: BenignKind, column: str
) -> None:
    """Family tablets and cards, call-centre and branch devices, hotspots: one identifier
    that every member of the group used."""
    uncovered = hard.value(
        f"""WITH m AS {_members(hard, kind)},
            c AS (SELECT m.group_id, i.v, count(DISTINCT m.account_id) n FROM m
                  JOIN ids i ON i.account_id = m.account_id AND i.k = '{column}' GROUP BY 1, 2)
            SELECT count(*) FROM (SELECT group_id, count(*) size FROM m GROUP BY 1) g
            WHERE (SELECT max(n) FROM c WHERE c.group_id = g.group_id) < g.size"""
    )
    assert uncovered == 0


def test_family_phone_groups_share_a_phone_or_mailbox(hard: Scenario) -> None:
    """Family_phone groups have a number or a mailbox given by at least two members (bar
    the odd group whose only shared signup number the feed garbled)."""
    shared = hard.value(
        f"""WITH m AS {_members(hard, BenignKind.FAMILY_PHONE)}
            SELECT avg((EXISTS (
              SELECT 1 FROM m JOIN ids i ON i.account_id = m.account_id AND i.k IN ('phone', 'email')
              WHERE m.group_id = g.group_id GROUP BY i.k, i.v HAVING count(DISTINCT m.account_id) >= 2
            ))::INT) FROM (SELECT DISTINCT group_id FROM m) g"""
    )
    assert shared >= 0.98


def test_call_centre_and_branch_devices_serve_many_customers(hard: Scenario) -> None:
    """An agent's workstation serves hundreds; a branch tablet opens accounts over months,
    several on its busy days."""
    smallest = hard.value(
        "SELECT min(n) FROM (SELECT count(*) n FROM sharers WHERE kind = 'call_centre' GROUP BY group_id)"
    )
    assert smallest >= 100
    tablets = hard.rows(
        """SELECT device_id, count(*), (epoch(max(t)) - epoch(min(t))) / 86400,
                  max(per_day) FROM (
             SELECT device_id, t, count(*) OVER (PARTITION BY device_id, t::DATE) per_day
             FROM events WHERE event_type = 'signup' AND asn IN ('AS64500', 'as64500', '64500'))
           GROUP BY 1"""
    )
    assert len(tablets) == hard.details["counts"]["benign"]["shop_device"]["groups"]
    for _, signups, days, busiest in tablets:
        assert signups >= 20 and days >= 300 and busiest >= 3


@pytest.mark.parametrize(("kind", "most_ips"), [(BenignKind.OFFICE, 3), (BenignKind.CAMPUS, 4)])
def test_offices_and_campuses_log_in_from_a_few_ips_of_their_own(
    hard: Scenario, kind: BenignKind, most_ips: int
) -> None:
    """Every member logs in from one of its group's one to four IPs, which hardly anyone
    outside the group uses."""
    rows = hard.rows(
        f"""WITH m AS {_members(hard, kind)},
            users AS (SELECT v, count(DISTINCT account_id) n FROM ids WHERE k = 'ip' GROUP BY v),
            own AS (SELECT m.group_id, i.v FROM m JOIN ids i ON i.account_id = m.account_id AND i.k = 'ip'
                    JOIN (SELECT group_id, count(*) size FROM m GROUP BY 1) s ON s.group_id = m.group_id
                    JOIN users u ON u.v = i.v GROUP BY 1, 2, u.n
                    HAVING count(DISTINCT m.account_id) >= u.n - greatest(2, 0.1 * u.n)
                       AND count(DISTINCT m.account_id) >= greatest(2, 0.15 * any_value(s.size)))
            SELECT g.group_id, g.size, (SELECT count(*) FROM own WHERE own.group_id = g.group_id),
                   (SELECT count(DISTINCT m.account_id) FROM m JOIN ids i ON i.account_id = m.account_id
                    AND i.k = 'ip' JOIN own ON own.v = i.v AND own.group_id = m.group_id
                    WHERE m.group_id = g.group_id)
            FROM (SELECT group_id, count(*) size FROM m GROUP BY 1) g"""
    )
    assert rows
    for _, size, ips, covered in rows:
        assert 1 <= ips <= most_ips
        assert covered == size


def test_students_sign_up_in_waves_from_the_campus(hard: Scenario) -> None:
    """Most campus members signed up within three weeks of a term start."""
    share = hard.value(
        f"""SELECT avg((extract('doy' FROM s.t) BETWEEN 13 AND 40
                      OR extract('doy' FROM s.t) BETWEEN 237 AND 262)::INT)
            FROM {_members(hard, BenignKind.CAMPUS)} m JOIN signup s USING (account_id)"""
    )
    assert share > 0.8


def test_carrier_nat_and_vpn_exits_are_shared_by_many(hard: Scenario) -> None:
    """Carrier NAT addresses carry thousands of customers; VPN exits dozens, on hosting
    ASNs, flagged as proxies for some exits only."""
    nat = hard.rows(
        """SELECT ip, count(DISTINCT account_id) n FROM events WHERE upper(asn) IN
           ('AS21928', 'AS6167', 'AS20057', '21928', '6167', '20057') GROUP BY 1"""
    )
    assert max(n for _, n in nat) >= 1_000
    assert any(":" in ip for ip, n in nat if n >= 100)
    exits = hard.rows(
        """SELECT ip, count(DISTINCT account_id), count(DISTINCT lower(is_proxy)) FILTER (WHERE is_proxy IS NOT NULL),
                  bool_or(is_proxy IS NULL)
           FROM events WHERE regexp_replace(upper(asn), '^AS', '') IN ('9009', '60068', '147049', '20473')
           GROUP BY 1"""
    )
    assert sum(n >= 10 for _, n, _, _ in exits) >= 4
    assert any(unknown for _, _, _, unknown in exits)


def test_mobile_only_customers_never_use_a_home_network(hard: Scenario) -> None:
    """Some customers are only ever seen on carrier NAT (or hotspots and offices)."""
    only_mobile = hard.value(
        """SELECT count(*) FROM (SELECT account_id FROM events WHERE ip IS NOT NULL GROUP BY 1
           HAVING count(*) >= 10 AND bool_and(regexp_replace(upper(asn), '^AS', '')
             IN ('21928', '6167', '20057', '11404', '46690', '7922', '20115', '10507', '174',
                 '3356', '6461', '64500')))"""
    )
    assert only_mobile >= 200


def test_payroll_landlord_and_seller_groups_move_money_as_their_kind_says(hard: Scenario) -> None:
    """Employers pay every employee; tenants pay their landlord monthly; sellers are paid
    by many buyers and sweep the takings to their own savings account (same device)."""
    for kind, hub_side in ((BenignKind.PAYROLL, "src"), (BenignKind.LANDLORD, "dst")):
        rows = hard.rows(
            f"""WITH m AS {_members(hard, kind)},
                pairs AS (SELECT m.group_id, e.account_id src, e.counterparty_account_id dst,
                                 count(*) n, median(gap) gap FROM (
                            SELECT *, epoch(t - lag(t) OVER (PARTITION BY account_id, counterparty_account_id
                                                              ORDER BY t)) / 86400 gap FROM events
                            WHERE event_type = 'transfer') e
                          JOIN m ON e.account_id = m.account_id
                          JOIN m m2 ON m2.account_id = e.counterparty_account_id AND m2.group_id = m.group_id
                          GROUP BY 1, 2, 3)
                SELECT g.group_id, g.size, max(c), arg_max(gap, c) FROM (SELECT group_id, count(*) size FROM m GROUP BY 1) g
                JOIN (SELECT group_id, {hub_side} hub, count(*) c, median(gap) gap FROM pairs GROUP BY 1, 2) h
                USING (group_id) GROUP BY 1, 2"""
        )
        assert rows
        for _, size, hub_links, gap in rows:
            assert hub_links == size - 1, kind  # one hub (employer, landlord) linked to all
            assert gap is None or 10 <= gap <= 33, kind  # paid every two weeks to monthly
    sellers = hard.rows(
        f"""WITH m AS {_members(hard, BenignKind.P2P_SELLER)}
            SELECT m.group_id, e.counterparty_account_id, count(DISTINCT e.account_id)
            FROM m JOIN events e USING (account_id) WHERE e.event_type = 'transfer'
            AND e.counterparty_account_id IN (SELECT account_id FROM m m2 WHERE m2.group_id = m.group_id)
            GROUP BY 1, 2"""
    )
    most_buyers = {}
    for group, _seller, buyers in sellers:
        most_buyers[group] = max(most_buyers.get(group, 0), buyers)
    assert sum(b >= 10 for b in most_buyers.values()) >= 0.8 * len(most_buyers)
    sweeps = hard.value(
        f"""WITH m AS {_members(hard, BenignKind.P2P_SELLER)}
            SELECT count(DISTINCT m.group_id) FROM m JOIN events e USING (account_id)
            JOIN ids a ON a.account_id = e.account_id AND a.k = 'device'
            JOIN ids b ON b.account_id = e.counterparty_account_id AND b.k = 'device' AND b.v = a.v
            WHERE e.event_type = 'transfer'"""
    )
    assert sweeps >= 0.6 * len(most_buyers)


def test_benign_anomalies_exist(hard: Scenario) -> None:
    """Developers' emulators, rooted phones and customers who replace their phone."""
    emulators = hard.value(
        "SELECT count(DISTINCT account_id) FROM events WHERE lower(is_emulator) IN ('true', 'yes', 'y', '1', 't')"
        " AND account_id NOT IN (SELECT account_id FROM truth)"
    )
    rooted = hard.value(
        "SELECT count(DISTINCT device_id) FROM events WHERE lower(is_rooted) IN ('true', 'yes', 'y', '1', 't')"
        " AND account_id NOT IN (SELECT account_id FROM truth)"
    )
    new_phone = hard.value(
        """SELECT count(*) FROM (SELECT account_id FROM events WHERE os IN ('ios', 'android')
           AND account_id NOT IN (SELECT account_id FROM truth) GROUP BY 1 HAVING count(DISTINCT device_id) >= 2)"""
    )
    assert emulators >= 20 and rooted >= 50 and new_phone >= 1_000


# ------------------------------------------------------------------------------ rings


def test_every_typology_is_planted_within_its_sizes(hard: Scenario) -> None:
    """About rings_per_10k rings, every typology, sizes within the configured bounds."""
    rings = hard.rows("SELECT ring_id, any_value(typology), count(*) FROM truth GROUP BY 1")
    assert len(rings) == round(hard.config.accounts / 10_000 * hard.config.rings_per_10k)
    assert {t for _, t, _ in rings} == {t.value for t in Typology}
    for _, typology, size in rings:
        low, high = hard.config.ring_sizes(Typology(typology))
        assert low <= size <= high
    assert hard.value("SELECT count(*) FROM truth t JOIN signup USING (account_id)") == len(
        hard.rows("SELECT * FROM truth")
    )
    assert (
        hard.value(
            "SELECT count(*) FROM sharers WHERE account_id IN (SELECT account_id FROM truth)"
        )
        == 0
    )


def test_rings_share_few_identifiers_each_through_several(hard: Scenario) -> None:
    """Members share a median of at most two rare identifiers within their ring, and the
    rings are held together by more than one identifier (no clique on one)."""
    hard.db.execute(
        """CREATE OR REPLACE TEMP TABLE ring_shared AS
           WITH users AS (SELECT k, v, count(DISTINCT account_id) n FROM ids GROUP BY 1, 2),
           member_ids AS (SELECT t.ring_id, t.account_id, i.k, i.v FROM truth t
                          JOIN ids i USING (account_id) JOIN users u USING (k, v) WHERE u.n <= 50)
           SELECT a.ring_id, a.account_id, a.k, a.v FROM member_ids a
           WHERE EXISTS (SELECT 1 FROM member_ids b WHERE b.ring_id = a.ring_id
                         AND b.account_id <> a.account_id AND b.k = a.k AND b.v = a.v)"""
    )
    median = hard.value(
        """SELECT median(n) FROM (SELECT t.account_id, count(s.v) n FROM truth t
           LEFT JOIN ring_shared s USING (ring_id, account_id) GROUP BY 1)"""
    )
    assert median <= 2
    rings: dict[str, nx.Graph] = {}
    for ring, typology, account in hard.rows("SELECT ring_id, typology, account_id FROM truth"):
        rings.setdefault(ring, nx.Graph(typology=typology)).add_node(account)
    for ring, account, kind, value in hard.rows(
        "SELECT ring_id, account_id, k, v FROM ring_shared"
    ):
        rings[ring].add_edge(account, (kind, value))
    for graph in rings.values():
        members = [n for n in graph if isinstance(n, str)]
        identifiers = [n for n in graph if not isinstance(n, str)]
        # Never a clique on one identifier: nothing is shared by every member.
        assert all(graph.degree(i) < len(members) for i in identifiers)
    # Rings other than mule networks (tied by money, a handler's device at most) are
    # connected through several different identifiers.
    tied = [g for g in rings.values() if g.graph["typology"] != "mule_network"]
    chained = [
        g for g in tied if nx.is_connected(g) and sum(not isinstance(n, str) for n in g) >= 2
    ]
    assert len(chained) >= 0.9 * len(tied)


def test_ring_sign_ups_and_activity_spread_over_weeks(hard: Scenario) -> None:
    """Most rings' sign-ups span two weeks or more; their activity spans months."""
    spans = hard.rows(
        """SELECT t.ring_id, (epoch(max(s.t)) - epoch(min(s.t))) / 86400,
                  (epoch(max(e.t)) - epoch(min(e.t))) / 86400
           FROM truth t JOIN signup s USING (account_id) JOIN events e USING (account_id)
           GROUP BY 1"""
    )
    assert sum(signups >= 14 for _, signups, _ in spans) >= 0.8 * len(spans)
    assert sum(active >= 60 for _, _, active in spans) >= 0.9 * len(spans)


def test_ring_members_also_live_ordinary_lives(hard: Scenario) -> None:
    """Most members have logins or payments on a device no other ring member uses."""
    ordinary = hard.value(
        """WITH ring_devices AS (SELECT t.ring_id, e.device_id, count(DISTINCT e.account_id) n
                                 FROM truth t JOIN events e USING (account_id) GROUP BY 1, 2)
           SELECT avg(own::INT) FROM (
             SELECT t.account_id, bool_or(d.n = 1 AND e.event_type IN ('login', 'payment')) own
             FROM truth t JOIN events e USING (account_id)
             JOIN ring_devices d ON d.ring_id = t.ring_id AND d.device_id = e.device_id GROUP BY 1)"""
    )
    assert ordinary >= 0.8


def test_mules_pass_money_on_within_days_minus_a_cut(hard: Scenario) -> None:
    """In every mule network, money received is sent on within three days, 85-96% of it."""
    networks = hard.rows(
        """WITH members AS (SELECT * FROM truth WHERE typology = 'mule_network'),
           inflow AS (SELECT m.ring_id, e.counterparty_account_id mule, e.t, e.amount::DOUBLE amount
                      FROM events e JOIN members m ON m.account_id = e.counterparty_account_id
                      WHERE e.event_type = 'transfer'),
           outflow AS (SELECT m.ring_id, e.account_id mule, e.t, e.amount::DOUBLE amount
                       FROM events e JOIN members m USING (account_id) JOIN members c
                       ON c.account_id = e.counterparty_account_id AND c.ring_id = m.ring_id
                       WHERE e.event_type = 'transfer')
           SELECT i.ring_id, count(*) FROM inflow i JOIN outflow o USING (ring_id, mule)
           WHERE o.t > i.t AND o.t < i.t + INTERVAL 3 DAY AND o.amount BETWEEN 0.85 * i.amount AND 0.96 * i.amount
           GROUP BY 1"""
    )
    mule_rings = hard.value(
        "SELECT count(DISTINCT ring_id) FROM truth WHERE typology = 'mule_network'"
    )
    assert len(networks) == mule_rings


def test_bust_outs_spend_together_at_a_few_merchants_then_go_silent(hard: Scenario) -> None:
    """Each bust-out's biggest spending falls within days at one to three merchants that
    few others use, and its members do nothing a week later."""
    rows = hard.rows(
        """WITH members AS (SELECT * FROM truth WHERE typology = 'bust_out'),
           users AS (SELECT merchant_id, count(DISTINCT account_id) n FROM events
                     WHERE merchant_id IS NOT NULL GROUP BY 1),
           spree AS (SELECT m.ring_id, e.merchant_id, e.t FROM events e JOIN members m USING (account_id)
                     JOIN users u USING (merchant_id) WHERE e.event_type = 'payment' AND u.n <= 20)
           SELECT ring_id, count(DISTINCT merchant_id), (epoch(max(t)) - epoch(min(t))) / 86400,
                  (SELECT max(e.t) FROM events e JOIN members m2 USING (account_id) WHERE m2.ring_id = s.ring_id)
                  - max(t)
           FROM spree s GROUP BY 1"""
    )
    assert len(rows) == hard.details["counts"]["rings"]["bust_out"]
    for _, merchants, days, after in rows:
        assert 1 <= merchants <= 3 and days <= 4.5 and after.days <= 7


def test_account_takeovers_drain_victims_to_drops_within_hours(hard: Scenario) -> None:
    """Victims log in from a device they never used before and transfer to a drop account
    (a ring member) within hours."""
    rows = hard.rows(
        """WITH members AS (SELECT * FROM truth WHERE typology = 'account_takeover')
           SELECT m.ring_id, count(*) FROM events e JOIN members m USING (account_id)
           JOIN members d ON d.account_id = e.counterparty_account_id AND d.ring_id = m.ring_id
           JOIN events l ON l.account_id = e.account_id AND l.event_type = 'login'
             AND l.device_id = e.device_id AND l.t BETWEEN e.t - INTERVAL 7 HOUR AND e.t
           WHERE e.event_type = 'transfer' AND e.amount::DOUBLE >= 300 GROUP BY 1"""
    )
    assert len(rows) == hard.details["counts"]["rings"]["account_takeover"]


# ----------------------------------------------------------------------------- labels


def test_labels_are_fraud_only_delayed_and_for_ring_members(hard: Scenario) -> None:
    """Confirmed fraud for about label_fraction of members, weeks after their fraud, never
    after the period, never for anyone outside a ring."""
    assert hard.rows("SELECT DISTINCT label FROM labels") == [("fraud",)]
    assert {s for (s,) in hard.rows("SELECT DISTINCT source FROM labels")} <= {
        "chargeback",
        "sar",
        "investigation",
    }
    assert (
        hard.value(
            "SELECT count(*) FROM labels WHERE entity_key NOT IN (SELECT account_id FROM truth)"
        )
        == 0
    )
    members = hard.value("SELECT count(*) FROM truth")
    labelled = hard.value("SELECT count(DISTINCT entity_key) FROM labels")
    assert 0.2 * members <= labelled <= hard.config.label_fraction * members
    end = hard.value("SELECT max(t) FROM events")
    assert hard.value("SELECT max(ts) FROM labels") <= end
    too_soon = hard.value(
        """SELECT count(*) FROM labels l JOIN signup s ON s.account_id = l.entity_key
           WHERE l.ts < s.t + INTERVAL 3 DAY"""
    )
    assert too_soon == 0
    columns = (hard.summary.labels_path.read_text().split("\n", 1)[0]).replace('"', "")
    assert columns == "entity_type,entity_key,label,source,ts,author,reason"


# ---------------------------------------------------------------------------- formats


def _share(hard: Scenario, condition: str, where: str = "true") -> float:
    share: float = hard.value(f"SELECT avg(({condition})::INT) FROM raw WHERE {where}")
    return share


def test_timestamps_come_in_every_format_at_about_their_rates(hard: Scenario) -> None:
    weights = hard.config.formats.timestamp_weights
    total = sum(weights)
    patterns = (
        r"[0-9-]{10}T[0-9:]{8}(\.[0-9]{3})?Z",
        r"[0-9-]{10}T[0-9:]{8}[+-][0-9]{2}:[0-9]{2}",
        r"[0-9-]{10} [0-9:]{8}",
        r"[0-9]{10}",
        r"[0-9]{13}",
    )
    for pattern, weight in zip(patterns, weights, strict=True):
        share = _share(hard, f"regexp_full_match(ts, '{pattern}')")
        assert abs(share - weight / total) < 0.01, pattern
    assert _share(hard, "regexp_full_match(ts, '.*T[0-9:]{8}-0[4-8]:00')") > 0.1


def test_values_are_spelled_in_mixed_forms_at_about_their_rates(hard: Scenario) -> None:
    formats = hard.config.formats
    country = formats.country_weights
    for condition, expected in (
        ("country IN ('US', 'GB', 'CA', 'MX', 'IN', 'DE', 'NL', 'SE', 'CH')", country[0]),
        ("country IN ('us', 'gb', 'ca', 'mx', 'in', 'de', 'nl', 'se', 'ch')", country[1]),
        ("length(country) = 3", country[2]),
        ("length(country) > 3", country[3]),
    ):
        assert abs(_share(hard, condition) - expected / sum(country)) < 0.01, condition
    asn = formats.asn_weights
    for condition, expected in (
        ("asn LIKE 'AS%'", asn[0]),
        ("asn LIKE 'as%'", asn[1]),
        ("regexp_full_match(asn, '[0-9]+')", asn[2]),
    ):
        assert (
            abs(_share(hard, condition, "asn IS NOT NULL AND asn <> 'ASX'") - expected / sum(asn))
            < 0.01
        )
    booleans = formats.boolean_weights
    for condition, expected in (
        ("lower(is_proxy) IN ('true', 'false')", booleans[0]),
        ("lower(is_proxy) IN ('yes', 'no')", booleans[1]),
        ("lower(is_proxy) IN ('y', 'n')", booleans[2]),
        ("is_proxy IN ('1', '0')", booleans[3]),
        ("lower(is_proxy) IN ('t', 'f')", booleans[4]),
    ):
        assert (
            abs(_share(hard, condition, "is_proxy IS NOT NULL") - expected / sum(booleans)) < 0.01
        )
    assert (
        abs(
            _share(
                hard,
                "is_proxy = upper(is_proxy) AND is_proxy NOT IN ('1', '0')",
                "is_proxy IS NOT NULL AND regexp_matches(is_proxy, '[a-zA-Z]')",
            )
            - formats.boolean_upper_share
        )
        < 0.02
    )


def test_phones_are_national_for_their_own_country_and_valid(hard: Scenario) -> None:
    """National formats appear only with the number's own country on the row; every
    number (bar malformed ones) is valid when parsed with the row's country."""
    rows = hard.rows(
        "SELECT phone, country FROM raw WHERE phone IS NOT NULL AND length(phone) > 6 USING SAMPLE 5000 ROWS (reservoir, 1)"
    )
    alpha2 = {"usa": "US", "united states": "US", "can": "CA", "canada": "CA", "mex": "MX",
              "mexico": "MX", "gbr": "GB", "united kingdom": "GB", "ind": "IN", "india": "IN",
              "deu": "DE", "germany": "DE"}  # fmt: skip
    national = 0
    for phone, country in rows:
        region = alpha2.get(country.lower(), country.upper())
        parsed = phonenumbers.parse(phone, region if not phone.startswith("+") else None)
        assert phonenumbers.is_valid_number(parsed), (phone, country)
        if not phone.startswith("+"):
            national += 1
            assert phonenumbers.region_code_for_number(parsed) == region
    layouts = hard.rows(
        r"""SELECT count(*) FILTER (WHERE regexp_full_match(phone, '\([0-9]{3}\) [0-9]{3}-[0-9]{4}')),
                  count(*) FILTER (WHERE regexp_full_match(phone, '[0-9]{3}-[0-9]{3}-[0-9]{4}')),
                  count(*) FILTER (WHERE regexp_full_match(phone, '[0-9]{10}')),
                  count(*) FILTER (WHERE regexp_full_match(phone, '[0-9]{3}\.[0-9]{3}\.[0-9]{4}')),
                  count(*) FILTER (WHERE regexp_full_match(phone, '\+[0-9]{11,13}'))
           FROM raw WHERE phone IS NOT NULL"""
    )[0]
    assert min(layouts) > 500
    assert 0.6 < national / len(rows) < 0.8


def test_addresses_and_emails_vary_in_spelling(hard: Scenario) -> None:
    """USPS Publication 28 variants and email spellings all occur."""
    for condition in (
        r"regexp_matches(address, '-[0-9]{4}$')",
        r"regexp_matches(address, '#[0-9]+,')",
        r"regexp_matches(upper(address), ' UNIT [0-9]+,')",
        r"regexp_matches(upper(address), ' APARTMENT [0-9]+,')",
        r"regexp_matches(upper(address), ' (DRV|STR|AVN|BOUL|CIRC|TERR|PKY|WY),')",
        r"regexp_matches(upper(address), ', (NEW MEXICO|TEXAS|CALIFORNIA|NEW YORK) [0-9]{5}')",
        r"regexp_matches(upper(address), '^[0-9]+ (NORTH|SOUTH|EAST|WEST) ')",
        "address = lower(address)",
        "address = upper(address)",
    ):
        assert hard.value(f"SELECT count(*) FROM raw WHERE {condition}") >= 20, condition
    for condition in (
        "email = upper(email)",
        "email LIKE '%+%@%'",
        "email LIKE '%@googlemail.com'",
        "email LIKE '%@Gmail.com'",
        "email LIKE '%@GMAIL.COM'",
    ):
        assert hard.value(f"SELECT count(*) FROM raw WHERE {condition}") >= 20, condition


def test_a_few_rows_are_malformed_or_resent(hard: Scenario) -> None:
    """About 0.3% of rows carry one malformed optional field, about 0.2% are re-sent."""
    counts = hard.details["counts"]
    assert 0.002 <= counts["malformed_rows"] / counts["rows"] <= 0.004
    assert 0.0015 <= counts["duplicates"] / counts["rows"] <= 0.0025
    malformed = hard.value(
        """SELECT count(*) FROM raw WHERE asn = 'ASX' OR length(phone) = 4
           OR lower(is_rooted) NOT IN ('true', 'false', 'yes', 'no', 'y', 'n', '1', '0', 't', 'f')"""
    )
    assert malformed == counts["malformed_rows"]
    resent = hard.value(
        "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM raw)) FROM raw"
    )
    assert resent == counts["duplicates"]
    assert hard.value("SELECT count(DISTINCT event_id) FROM raw") == counts["events"]


def test_canonical_formats_ingest_with_nothing_quarantined(tmp_path: Path) -> None:
    """With mixed formats off, the standard normalisers load every row."""
    config = HardScenarioConfig(accounts=1_500, seed=9, mixed_formats=False)
    summary = generate_hard_scenario(config, tmp_path / "scenario")
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine", default_region="US")
    try:
        report = ingestor.run([summary.events_path, summary.labels_path])
    finally:
        ingestor.close()
        store.close()
    totals = report.as_dict()
    assert totals["rows_quarantined"] == 0
    assert totals["rows_read"] == summary.rows + summary.labels
    assert totals["rows_duplicate"] == summary.rows - summary.events
    assert totals["reconciled"]


# ------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"accounts": 999}, "accounts must be in"),
        ({"label_fraction": 1.5}, "label_fraction must be in [0, 1]"),
        ({"mule_network_sizes": (2, 5)}, "mule_network_sizes must start at 3"),
        ({"office_sizes": (30, 10)}, "office_sizes must be (low, high)"),
        ({"country_weights": (("FR", 1.0),)}, "must list US first"),
        ({"rings_per_10k": 2_000.0}, "more rings than the accounts can hold"),
    ],
)
def test_invalid_config_is_rejected(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        HardScenarioConfig(**overrides)
