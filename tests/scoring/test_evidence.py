"""Behavioural evidence per account on hand-built graphs with known answers."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from graph_service.model import LinkType, NodeType
from scoring.evidence import EVIDENCE_FEATURES, account_evidence
from scoring.features import NodeFacts
from scoring.projection import ProjectionConfig, project_tables
from tests.scoring.graphs import days, links_table, nodes_table

A, D, IP, P, AD, M = (
    NodeType.ACCOUNT,
    NodeType.DEVICE,
    NodeType.IP,
    NodeType.PHONE,
    NodeType.ADDRESS,
    NodeType.MERCHANT,
)


def _evidence(nodes: pa.Table, links: pa.Table) -> dict[str, Any]:
    projection = project_tables(nodes, links, ProjectionConfig())
    facts = NodeFacts.from_table(nodes)
    values = account_evidence(projection, facts.first_ts, facts.last_ts)
    return {name: values[name].tolist() for name in values}


def _accounts(
    opened: list[float], last: float = 300.0
) -> list[tuple[int, NodeType, dict[str, Any]]]:
    return [(i, A, {"first_ts": days(day), "last_ts": days(last)}) for i, day in enumerate(opened)]


def test_every_feature_is_computed_for_every_account() -> None:
    """One value per account and feature, in account order."""
    nodes = nodes_table([*_accounts([0, 1]), (2, P, {})])
    links = links_table([(0, 2, LinkType.HAS_PHONE), (1, 2, LinkType.HAS_PHONE)])
    evidence = _evidence(nodes, links)
    assert set(evidence) == set(EVIDENCE_FEATURES)
    assert all(len(values) == 2 for values in evidence.values())


def test_accounts_opened_together_on_one_phone_are_a_cohort_a_household_is_not() -> None:
    """Accounts 0-2 share phone 10 and opened within days: two cohort partners each.
    Accounts 3-4 opened together too but live together (an address and an IP both keep
    using): no cohort. Accounts 5-6 share a phone but opened a year apart: none."""
    opened = [0, 2, 5, 100, 101, 0, 365, *range(200, 260, 2)]
    nodes = nodes_table(
        [*_accounts(opened, 400), (40, P, {}), (41, AD, {}), (42, IP, {}), (43, P, {})]
    )
    repeat = {"n_events": 30}
    links = links_table(
        [(i, 40, LinkType.HAS_PHONE) for i in (0, 1, 2)]
        + [(3, 41, LinkType.HAS_ADDRESS), (4, 41, LinkType.HAS_ADDRESS)]
        + [(3, 42, LinkType.LOGS_IN_FROM, repeat), (4, 42, LinkType.LOGS_IN_FROM, repeat)]
        + [(5, 43, LinkType.HAS_PHONE), (6, 43, LinkType.HAS_PHONE)]
    )
    evidence = _evidence(nodes, links)
    assert evidence["cohort_partners"][:7] == [2, 2, 2, 0, 0, 0, 0]
    surprise = evidence["cohort_surprise"]
    assert surprise[0] > 1.0 and surprise[3] == surprise[5] == 0.0


def test_a_device_ties_a_cohort_only_when_both_keep_using_it() -> None:
    """A branch tablet that two customers each touched once at opening is no tie; a phone
    two accounts keep using is."""
    nodes = nodes_table([*_accounts([0, 1, 0, 1]), (10, D, {}), (11, D, {})])
    links = links_table(
        [
            (0, 10, LinkType.USES_DEVICE),
            (1, 10, LinkType.USES_DEVICE),
            (2, 11, LinkType.USES_DEVICE, {"n_events": 12}),
            (3, 11, LinkType.USES_DEVICE, {"n_events": 9}),
        ]
    )
    assert _evidence(nodes, links)["cohort_partners"] == [0, 0, 1, 1]


def test_established_accounts_on_one_new_device_within_days_are_taken_over_together() -> None:
    """Accounts 0-2, opened long ago, all took up device 10 within a week, 200 days in,
    and used it again (an attacker logs in, then moves the money): two late co-joined
    partners each. Account 3 took it up a month later: none."""
    nodes = nodes_table([*_accounts([0, 10, 20, 30]), (10, D, {})])
    worked = {"n_events": 3}
    links = links_table(
        [(i, 10, LinkType.USES_DEVICE, {**worked, "first_ts": days(200 + i)}) for i in range(3)]
        + [(3, 10, LinkType.USES_DEVICE, {**worked, "first_ts": days(240)})]
    )
    assert _evidence(nodes, links)["late_cojoin_partners"] == [2, 2, 2, 0]


def test_customers_served_once_by_a_shop_tablet_are_not_taken_over_together() -> None:
    """The same take-up, but each customer used the device once (a shop's or branch's
    tablet): no late co-joined partners. One of them coming back is not enough: both
    of a pair must have used it again."""
    nodes = nodes_table([*_accounts([0, 10, 20]), (10, D, {})])
    once = [(i, 10, LinkType.USES_DEVICE, {"first_ts": days(200 + i)}) for i in range(3)]
    assert _evidence(nodes, links_table(once))["late_cojoin_partners"] == [0, 0, 0]
    again = [(0, 10, LinkType.USES_DEVICE, {"first_ts": days(200), "n_events": 4}), *once[1:]]
    assert _evidence(nodes, links_table(again))["late_cojoin_partners"] == [0, 0, 0]


def _paid(day: float, amount: float) -> dict[str, Any]:
    """A transfer link of one payment on ``day``."""
    return {"amount_sum": amount, "first_ts": days(day), "last_ts": days(day)}


def test_money_passed_on_quickly_and_the_collector_it_reaches() -> None:
    """Victims 0 and 1 pay mule 2 (1,000) and mule 3 (800); each passes most of it to
    collector 4 a day later: one payment passed on each, all their money in, and two
    passed-on payments reaching the collector. Account 5 receives 500 and sends 480 to its
    own savings 6 (same phone): not passed on. Account 7 receives 500 and pays 480 out
    ten days later: too late."""
    nodes = nodes_table([*_accounts([0] * 9), (20, P, {})])
    t = LinkType.TRANSFERS_TO

    links = links_table(
        [
            (0, 2, t, _paid(50, 1000.0)),
            (1, 3, t, _paid(60, 800.0)),
            (2, 4, t, _paid(51, 950.0)),
            (3, 4, t, _paid(61, 750.0)),
            (0, 5, t, _paid(70, 500.0)),
            (5, 6, t, _paid(71, 480.0)),
            (5, 20, LinkType.HAS_PHONE),
            (6, 20, LinkType.HAS_PHONE),
            (1, 7, t, _paid(80, 500.0)),
            (7, 8, t, _paid(90, 480.0)),
        ]
    )
    evidence = _evidence(nodes, links)
    assert evidence["passed_on"][:4] == [0, 0, 1, 1]
    assert evidence["pass_through"][2] == 0.95
    assert evidence["pass_through"][3] == 750 / 800
    assert evidence["collector_inflows"][4] == 2
    assert evidence["passed_on"][5] == 0 and evidence["pass_through"][5] == 0.0
    assert evidence["passed_on"][7] == 0


def test_one_passed_on_payment_in_is_the_payers_evidence_not_the_payees() -> None:
    """Friend 1 forwards the 1,200 she was just paid to account 2: she passed money on, but
    2 gathered from one payer only and is no collector. Account 5 gathers passed-on
    money from mules 3 and 4: a collector of two. A book of transfers only (no identifier
    links at all) is scored too; accounts 6 to 11 make its everyday payments."""
    nodes = nodes_table(_accounts([0] * 12))
    t = LinkType.TRANSFERS_TO

    links = links_table(
        [
            (0, 1, t, _paid(40, 1200.0)),
            (1, 2, t, _paid(41, 1150.0)),
            (0, 3, t, _paid(50, 1000.0)),
            (0, 4, t, _paid(50, 900.0)),
            (3, 5, t, _paid(51, 950.0)),
            (4, 5, t, _paid(51, 850.0)),
            *[(6 + i, 7 + i, t, _paid(10 * i, 100.0)) for i in range(5)],
        ]
    )
    evidence = _evidence(nodes, links)
    assert evidence["passed_on"][1] == 1 and evidence["collector_inflows"][2] == 0
    assert evidence["collector_inflows"][5] == 2


def test_a_late_spending_spike_at_a_new_merchant() -> None:
    """Accounts 0-2 spent 100 a month for 300 days at merchant 10, then 5,000 each at
    merchant 11 in their last week: a spike. Account 3 spent steadily only: no spike."""
    nodes = nodes_table([*_accounts([0, 0, 0, 0], last=310), (10, M, {}), (11, M, {})])
    steady = {"amount_sum": 1000.0, "first_ts": days(0), "last_ts": days(300), "n_events": 10}
    links = links_table(
        [(i, 10, LinkType.PAYS, steady) for i in range(4)]
        + [
            (i, 11, LinkType.PAYS, {"amount_sum": 5000.0, "first_ts": days(303 + i)})
            for i in range(3)
        ]
    )
    evidence = _evidence(nodes, links)
    assert min(evidence["spend_spike"][:3]) > 50
    assert evidence["spend_spike"][3] == 0.0


def test_a_spree_together_at_a_small_merchant_whenever_it_happened() -> None:
    """Accounts 0-2 each spent 3,000 within two days at merchant 11, in the middle of
    their lives (activity went on for months after): two accomplices each. Account 3 spent
    3,000 there two months later: none. Account 4 spent 40 there with the others: too
    small a burst for it."""
    nodes = nodes_table([*_accounts([0] * 5, last=400), (10, M, {}), (11, M, {})])
    steady = {"amount_sum": 2000.0, "first_ts": days(0), "last_ts": days(400), "n_events": 20}

    def spree(day: float, amount: float) -> dict[str, Any]:
        return {"amount_sum": amount, "first_ts": days(day), "last_ts": days(day + 1)}

    links = links_table(
        [(i, 10, LinkType.PAYS, steady) for i in range(5)]
        + [(i, 11, LinkType.PAYS, spree(200 + i * 0.5, 3000.0)) for i in range(3)]
        + [(3, 11, LinkType.PAYS, spree(260, 3000.0)), (4, 11, LinkType.PAYS, spree(200, 40.0))]
    )
    assert _evidence(nodes, links)["merchant_cospike"] == [2, 2, 2, 0, 0]


def test_age_and_events() -> None:
    """Age is last minus first seen, in days; events count every link's events."""
    nodes = nodes_table([(0, A, {"first_ts": days(10), "last_ts": days(40)}), (1, P, {})])
    links = links_table([(0, 1, LinkType.HAS_PHONE, {"n_events": 7})])
    evidence = _evidence(nodes, links)
    assert evidence["age_days"] == [30.0]
    assert evidence["events"] == [7.0]


def test_nothing_to_see_gives_zeros() -> None:
    """Accounts without shared identifiers, money or payments have no evidence."""
    nodes = nodes_table(_accounts([0, 1, 2]))
    evidence = _evidence(nodes, links_table([]))
    for name in (
        "cohort_partners",
        "cohort_surprise",
        "late_cojoin_partners",
        "passed_on",
        "pass_through",
        "collector_inflows",
        "merchant_cospike",
    ):
        assert evidence[name] == [0.0, 0.0, 0.0], name


def _takeover(change: str = "") -> dict[str, Any]:
    """Established accounts 0 and 1 (opened day 0) take up device 10 on day 200, use it
    for an afternoon, and pay drop 2 (opened day 180) two hours later. ``change`` alters
    account 0's side only (see the cases below); account 3 is a second payee."""
    device_day = 200.0
    paid_day = device_day + 2 / 24
    opened = [170.0 if change == "new payer" else 0.0, 0.0, 180.0]
    third = {"long open": 0.0, "first seen at the payment": paid_day}.get(change, 250.0)
    nodes = nodes_table([*_accounts([*opened, third]), (10, D, {}), (11, D, {}), (20, P, {})])
    session = {"first_ts": days(device_day), "last_ts": days(device_day + 0.2)}
    own_device = 11 if change == "own phone" else 10
    own_session = {**session, "last_ts": days(280)} if change == "kept" else session
    pay_day = {"days later": device_day + 3, "before the device": device_day - 0.1}.get(
        change, paid_day
    )
    payee = 3 if change in ("long open", "first seen at the payment") else 2
    paid = {"amount_sum": 2500.0, "first_ts": days(pay_day), "last_ts": days(pay_day)}
    links = [
        (0, own_device, LinkType.USES_DEVICE, own_session),
        (1, 10, LinkType.USES_DEVICE, session),
        (0, payee, LinkType.TRANSFERS_TO, paid),
        (1, 2, LinkType.TRANSFERS_TO, {**paid, "first_ts": days(paid_day)}),
        (3, 10 if own_device == 11 else 11, LinkType.USES_DEVICE),
    ]
    if change == "family":
        links += [(0, 20, LinkType.HAS_PHONE), (2, 20, LinkType.HAS_PHONE)]
    return _evidence(nodes, links_table(links))


def test_money_moved_to_a_new_account_right_after_a_shared_device_appears() -> None:
    """Two established customers on one new device pay a drop opened three weeks before,
    two hours later: one such payout each, and two such payers for the drop."""
    evidence = _takeover()
    assert evidence["new_device_payouts"] == [1, 1, 0, 0]
    assert evidence["new_device_inflows"] == [0, 0, 2, 0]


def test_a_payout_after_a_new_device_counts_only_with_every_mark_of_a_takeover() -> None:
    """Each case changes one thing on account 0's side, and its payout no longer counts
    (account 1's still does): a phone of its own (no other account on it), a device it
    keeps using for months, a payee opened long ago, a payee first seen at the payment
    itself (not seen opened: age unknown), a payment days after the device appeared or
    before it, a payee sharing its phone (family), a payer opened a month before."""
    for change in (
        "own phone",
        "kept",
        "long open",
        "first seen at the payment",
        "days later",
        "before the device",
        "family",
        "new payer",
    ):
        evidence = _takeover(change)
        assert evidence["new_device_payouts"][:2] == [0, 1], change
        assert sum(evidence["new_device_inflows"]) == 1, change
