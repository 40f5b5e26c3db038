"""Money passed on: which payments forward money just received."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from graph_service.model import LinkType, NodeType
from scoring.pass_through import (
    material_passing,
    passed_on_links,
    passed_on_payments,
    standing_orders,
)
from scoring.projection import ProjectionConfig, project_tables
from tests.scoring.graphs import days, links_table, nodes_table

DAY = 86_400 * 1_000_000


def _links(
    rows: list[tuple[int, int, float, float]], related: list[bool] | None = None
) -> list[bool]:
    payer = np.array([r[0] for r in rows], np.int64)
    payee = np.array([r[1] for r in rows], np.int64)
    ts = np.array([int(r[2] * DAY) for r in rows], np.int64)
    amount = np.array([r[3] for r in rows])
    flags = np.array(related or [False] * len(rows))
    passed: list[bool] = passed_on_links(
        payer, payee, ts, amount, np.ones(len(rows), np.int64), flags
    ).tolist()
    return passed


def test_a_payment_that_forwards_most_of_what_just_came_in_is_passed_on() -> None:
    """In 1,000 on day 0; out 900 on day 2: passed on. Out 600 (too little of it), out
    1,100 (more than came in) or out 900 on day 5 (too late): not."""
    assert _links([(9, 1, 0, 1000), (1, 2, 2, 900)]) == [False, True]
    assert _links([(9, 1, 0, 1000), (1, 2, 2, 600)]) == [False, False]
    assert _links([(9, 1, 0, 1000), (1, 2, 2, 1100)]) == [False, False]
    assert _links([(9, 1, 0, 1000), (1, 2, 5, 900)]) == [False, False]


def test_money_in_from_several_payers_adds_up() -> None:
    """Three victims' 400 each, then 1,100 out the next day: passed on."""
    rows = [(7, 1, 0.1, 400), (8, 1, 0.2, 400), (9, 1, 0.3, 400), (1, 2, 1, 1100)]
    assert _links(rows)[-1] is True


def test_money_between_related_accounts_counts_neither_way() -> None:
    """Rent shares in from flatmates, rent out to the landlord: not passed on when the
    shares come from related accounts; a transfer to one's own savings never is."""
    rows = [(5, 1, 0, 500), (6, 1, 0, 500), (1, 2, 1, 1000)]
    assert _links(rows, [True, True, False])[-1] is False
    assert _links(rows, [False, False, False])[-1] is True
    assert _links([(9, 1, 0, 1000), (1, 2, 1, 950)], [False, True]) == [False, False]


@given(
    st.floats(1.0, 1e6),
    st.floats(0.0, 1.1),
    st.floats(0.0, 2.9),
    st.floats(0.01, 1000.0),
)
def test_passing_on_ignores_the_currency_and_follows_the_rule(
    amount: float, share: float, delay: float, scale: float
) -> None:
    """Whether a payment passes money on depends on the share and the delay only, never
    on the unit amounts are in."""
    rows = [(9, 1, 0, amount), (1, 2, delay, share * amount)]
    scaled = [(a, b, t, x * scale) for a, b, t, x in rows]
    expected = 0.7 <= share <= 1.02
    assert _links(rows)[-1] is expected
    assert _links(scaled)[-1] is _links(rows)[-1]


def test_the_projection_ties_payer_and_payee_of_money_passed_on_more_strongly() -> None:
    """A passed-on payment's edge weighs ``passed_weight``; an ordinary one
    ``transfer_weight``; the money flow says which is which and which are related."""
    a = NodeType.ACCOUNT
    nodes = nodes_table([(i, a, {"first_ts": days(0)}) for i in range(4)])
    t = LinkType.TRANSFERS_TO
    links = links_table(
        [
            (0, 1, t, {"amount_sum": 1000.0, "first_ts": days(10), "last_ts": days(10)}),
            (1, 2, t, {"amount_sum": 950.0, "first_ts": days(11), "last_ts": days(11)}),
            (3, 2, t, {"amount_sum": 20.0, "first_ts": days(50), "last_ts": days(50)}),
        ]
    )
    projection = project_tables(nodes, links, ProjectionConfig(passed_weight=3.0))
    assert projection.money_flow.passed_on.tolist() == [False, True, False]
    assert projection.money_flow.related.tolist() == [False, False, False]
    weights = dict(
        zip(
            zip(projection.src.tolist(), projection.dst.tolist(), strict=True),
            projection.transfer_weight.tolist(),
            strict=True,
        )
    )
    assert weights == {(0, 1): 1.0, (1, 2): 3.0, (2, 3): 1.0}


def test_money_into_one_account_never_counts_for_another_however_large_the_ids() -> None:
    """Account 1 receives 1,000; account 1 + 2**24 (a store id of a large bank) pays 900 a
    day later without having received anything: not passed on. Ids times a time range of
    2**40 µs (the far link below sets it, with the 3-day window) reach 2**64, where keys
    of ``id * span + time`` wrap onto another account's."""
    window = 3 * DAY
    far = 2**40 - 1 - 2 * window
    other = 1 + 2**24
    payer = np.array([9, other, 5], np.int64)
    payee = np.array([1, 2, 6], np.int64)
    ts = np.array([0, DAY, far], np.int64)
    passed = passed_on_links(
        payer,
        payee,
        ts,
        np.array([1000.0, 900.0, 10.0]),
        np.ones(3, np.int64),
        np.zeros(3, np.bool_),
    )
    assert passed.tolist() == [False, False, False]


def test_a_payment_forwarding_the_latest_payment_in_is_passed_on_beside_older_money() -> None:
    """A mule forwards each victim's payment as it arrives: 1,000 in on day 0, 500 in on
    day 1 and 460 out an hour later is passed on (it forwards the latest 500), though it
    is less than 0.7 of the 1,500 in over three days. 100 out (a fifth of the latest
    payment in) is not."""
    rows = [(8, 1, 0, 1000), (9, 1, 1, 500), (1, 2, 1.04, 460)]
    assert _links(rows)[-1] is True
    assert _links([*rows[:2], (1, 2, 1.04, 100)])[-1] is False
    assert _links([*rows[:2], (1, 2, 1.04, 1400)])[-1] is True


def _payments(
    links: list[tuple[int, int]], payments: list[tuple[int, int, float, float]]
) -> tuple[list[bool], list[bool]]:
    passed, seen = passed_on_payments(
        np.array([a for a, _ in links], np.int64),
        np.array([b for _, b in links], np.int64),
        np.zeros(len(links), np.bool_),
        np.array([p[0] for p in payments], np.int64),
        np.array([p[1] for p in payments], np.int64),
        np.array([int(p[2] * DAY) for p in payments], np.int64),
        np.array([p[3] for p in payments]),
    )
    return passed.tolist(), seen.tolist()


def test_a_link_passes_money_on_when_half_its_payments_do() -> None:
    """A mule forwards each weekly payment to one collector: every payment passes on, so
    the link does, though its first payment at the link's mean amount would not. A link
    whose payments mostly spend money that came in long before does not; a link with no
    payments among the transfers is left to its aggregate (``seen`` false)."""
    weekly = [(9, 1, 7 * w, x) for w, x in enumerate([100.0, 400.0, 50.0])]
    forwarded = [(1, 2, 7 * w + 0.5, 0.9 * x) for w, (_, _, _, x) in enumerate(weekly)]
    passed, seen = _payments([(9, 1), (1, 2), (3, 4)], [*weekly, *forwarded])
    assert passed == [False, True, False]
    assert seen == [True, True, False]
    late = [(1, 2, 7 * w + 5, 0.9 * x) for w, (_, _, _, x) in enumerate(weekly)]
    assert _payments([(9, 1), (1, 2)], [*weekly, forwarded[0], *late[1:]])[0] == [False, False]


def test_rent_paid_from_the_salary_on_schedule_is_not_passed_on() -> None:
    """Pay lands every other Friday and the rent (most of one pay cheque) goes out two
    days later, every month: a standing order is budgeting, so the tenant's link to the
    landlord passes nothing on. A mule forwarding each victim's payment as it comes, at
    the amounts the victims paid, still does."""
    pay = [(9, 1, 14 * k, 2_000.0) for k in range(7)]
    rent = [(1, 2, 14 * k + 2, 1_450.0) for k in range(0, 7, 2)]
    passed, seen = _payments([(9, 1), (1, 2)], [*pay, *rent])
    assert (passed, seen) == ([False, False], [True, True])
    victims = [(9, 1, d, x) for d, x in [(0, 800.0), (3, 2_500.0), (11, 300.0), (30, 1_200.0)]]
    forwarded = [(1, 2, d + 0.2, 0.92 * x) for _, _, d, x in victims]
    assert _payments([(9, 1), (1, 2)], [*victims, *forwarded])[0] == [False, True]


def _orders(payments: list[tuple[int, float, float]], n_links: int) -> list[bool]:
    regular: list[bool] = standing_orders(
        np.array([p[0] for p in payments], np.int64),
        np.array([int(p[1] * DAY) for p in payments], np.int64),
        np.array([p[2] for p in payments]),
        n_links,
    ).tolist()
    return regular


def test_a_standing_order_is_paid_on_a_schedule_at_a_steady_amount() -> None:
    """Monthly rent (months of 28 to 31 days), weekly pocket money and fortnightly pay
    varying by 10% are standing orders; two payments are too few to tell, a daily
    payment is no order, a skipped month breaks the schedule, and a payment three times
    the usual amount breaks the amount. Payments may come in any order."""
    months = [0, 31, 59, 90, 120]
    assert _orders([(0, d, 1_450.0) for d in months], 1) == [True]
    assert _orders([(0, 7 * w, 20.0) for w in range(6)], 1) == [True]
    pay = [(0, 14 * k, 2_000.0 * (1 + 0.1 * (-1) ** k)) for k in range(5)]
    assert _orders(pay[::-1], 1) == [True]
    assert _orders([(0, 0, 500.0), (0, 31, 500.0)], 1) == [False]
    assert _orders([(0, d, 50.0) for d in range(6)], 1) == [False]
    assert _orders([(0, d, 1_450.0) for d in [0, 31, 90, 120]], 1) == [False]
    assert _orders(
        [(0, d, x) for d, x in zip(months, [500, 500, 1_500, 500, 500], strict=True)], 1
    ) == [False]
    assert _orders([], 2) == [False, False]


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.floats(0, 200), st.floats(1, 1e4)),
        max_size=30,
    )
)
def test_a_standing_order_stays_one_whatever_the_order_of_its_payments(
    payments: list[tuple[int, float, float]],
) -> None:
    """The verdict per link does not depend on the order the payments are listed in, nor
    on the other links' payments."""
    whole = _orders(payments, 3)
    assert _orders(payments[::-1], 3) == whole
    for link in range(3):
        own = [(0, d, x) for k, d, x in payments if k == link]
        assert _orders(own, 1) == [whole[link]]


@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.floats(0, 10), st.floats(1, 1e4)),
        max_size=30,
    )
)
def test_one_payment_per_link_judges_like_the_link_itself(
    rows: list[tuple[int, int, float, float]],
) -> None:
    """With a single payment per link, judging payment by payment and judging the
    aggregated link give the same answer."""
    links: dict[tuple[int, int], tuple[int, int, float, float]] = {}
    for a, b, t, x in rows:
        if a != b:
            links.setdefault((a, b), (a, b, t, x))
    single = list(links.values())
    passed, seen = _payments(list(links), single)
    assert seen == [True] * len(single)
    assert passed == (_links(single) if single else [])


def _material(
    links: list[tuple[int, int, float, float, float]],
    passed: list[bool],
    payments: list[tuple[int, int, float, float]] | None = None,
    related: list[bool] | None = None,
    share: float = 0.1,
    floor_quantile: float = 0.0,
) -> list[bool]:
    """``material_passing`` on links ``(payer, payee, first day, last day, amount)``, the
    book's payment floor off unless asked for (a handful of links is no book)."""
    paid = None
    if payments is not None:
        paid = (
            np.array([p[1] for p in payments], np.int64),
            np.array([int(p[2] * DAY) for p in payments], np.int64),
            np.array([p[3] for p in payments]),
            np.zeros(len(payments), np.bool_),
        )
    material: list[bool] = material_passing(
        np.array([r[0] for r in links], np.int64),
        np.array([r[1] for r in links], np.int64),
        np.array([int(r[2] * DAY) for r in links], np.int64),
        np.array([int(r[3] * DAY) for r in links], np.int64),
        np.array([r[4] for r in links]),
        np.ones(len(links), np.int64),
        np.array(related or [False] * len(links)),
        np.array(passed),
        paid,
        share=share,
        floor_quantile=floor_quantile,
    ).tolist()
    return material


def test_passing_on_a_sliver_of_ones_income_is_no_mule_activity() -> None:
    """A customer paid 3,000 a fortnight gets 30 from a friend and pays 29 for dinner two
    days later: that payment passes money on, but 29 of 6,030 received in the month
    before is a coincidence, not material. A mule forwarding 2,760 of the 3,000 its
    victims paid is material; so is a long-standing customer who, once recruited,
    forwards what the victims pay: a year of salary before the span (60,000, which would
    make 2,760 a sliver of all it ever received) does not count."""
    salary = [(9, 1, 0, 14, 6_000.0), (8, 1, 20, 20, 30.0), (1, 2, 22, 22, 29.0)]
    assert _material(salary, [False, False, True]) == [False, False, False]
    victims = [(7, 3, 100, 110, 3_000.0), (3, 4, 101, 111, 2_760.0)]
    assert _material(victims, [False, True]) == [False, True]
    year = [(9, 5, 0, 330, 60_000.0), (7, 5, 400, 410, 3_000.0), (5, 4, 401, 411, 2_760.0)]
    payments = [(9, 5, 30 * m, 5_000.0) for m in range(12)]
    payments += [(7, 5, 400 + d, 300.0) for d in range(10)]
    payments += [(5, 4, 400.5 + d, 276.0) for d in range(10)]
    assert _material(year, [False, False, True], payments) == [False, False, True]


def test_money_from_related_accounts_does_not_make_passing_on_a_sliver() -> None:
    """Money in from the customer's own savings (a related link) is not money received:
    forwarding 900 of the 1,000 a stranger paid stays material beside 50,000 moved in
    from savings; the same 50,000 from a stranger makes it a sliver."""
    rows = [(6, 1, 9, 9, 50_000.0), (9, 1, 10, 10, 1_000.0), (1, 2, 11, 11, 900.0)]
    passed = [False, False, True]
    assert _material(rows, passed, related=[True, False, False]) == [False, False, True]
    assert _material(rows, passed) == [False, False, False]


@given(st.floats(1.0, 1e7), st.floats(0.0, 1.0), st.floats(0.01, 1000.0))
def test_materiality_follows_the_share_whatever_the_currency(
    received: float, forwarded: float, scale: float
) -> None:
    """Whether passing on is material depends on the share forwarded, never on the unit
    amounts are in; links that pass nothing on are never material."""
    rows = [(9, 1, 0, 0, received), (1, 2, 1, 1, forwarded * received)]
    scaled = [(a, b, f, t, x * scale) for a, b, f, t, x in rows]
    result = _material(rows, [False, True])
    assert result == _material(scaled, [False, True])
    assert result[0] is False
    if abs(forwarded - 0.1) > 1e-6:
        assert result[1] is (forwarded >= 0.1)
    assert _material(rows, [False, False]) == [False, False]


def test_pocket_change_passed_on_is_not_material_against_the_book() -> None:
    """Students split a pizza: 18 in, 15 passed on, all they got, but less than the
    book's median payment (a book of payments of 10 to 1,000): not material. A mule
    forwarding 900 of 1,000 is; with the floor off, so is the pizza."""
    book = [(100 + i, 200 + i, 0, 0, float(x)) for i, x in enumerate(range(10, 1_001, 10))]
    pizza = [(7, 1, 50, 50, 18.0), (1, 2, 51, 51, 15.0)]
    mule = [(8, 3, 60, 60, 1_000.0), (3, 4, 61, 61, 900.0)]
    rows = [*book, *pizza, *mule]
    passed = [False] * len(book) + [False, True, False, True]
    assert _material(rows, passed, floor_quantile=0.5)[-4:] == [False, False, False, True]
    assert _material(rows, passed)[-4:] == [False, True, False, True]
