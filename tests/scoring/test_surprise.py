"""Population-relative evidence: tail surprise, channels, and the ring test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom

from scoring.surprise import (
    CHANNELS,
    LABELLED,
    ChannelEvidence,
    SurpriseConfig,
    account_channels,
    ring_evidence,
    tail_surprise,
    with_channel,
)


def test_tail_surprise_counts_values_at_least_as_large() -> None:
    """-log10 of the share at or above each value; zero and negative values give 0."""
    surprise = tail_surprise([0.0, -1.0, 2.0, 2.0, 3.0, 1.0])
    expected = [0.0, 0.0, -np.log10(3 / 6), -np.log10(3 / 6), -np.log10(1 / 6), -np.log10(4 / 6)]
    assert surprise.tolist() == pytest.approx(expected)


@given(st.lists(st.floats(-5, 50, allow_nan=False), min_size=1, max_size=60))
def test_tail_surprise_is_monotone_and_bounded(values: list[float]) -> None:
    """Larger positive values are never less surprising; nothing exceeds log10(n)."""
    x = np.array(values)
    s = tail_surprise(x)
    assert (s >= 0).all() and (s <= np.log10(x.size) + 1e-12).all()
    positive = x > 0
    order = np.argsort(x[positive])
    assert (np.diff(s[positive][order]) >= -1e-12).all()


def test_channels_take_their_strongest_feature_capped_and_mark_the_rare_active() -> None:
    """A channel's strength is the larger surprise of its features, capped; it is active
    from the cut-off on; channels without a feature are left out; the total adds the
    channels of CHANNELS."""
    n = 1000
    emulator = np.zeros(n)
    emulator[:3] = 1.0
    proxy = np.zeros(n)
    proxy[:300] = 1.0
    evidence = account_channels({"emulator_devices": emulator, "proxy_ips": proxy})
    assert evidence.names == ("device", "network")
    device, network = evidence.strength[:, 0], evidence.strength[:, 1]
    assert device[0] == pytest.approx(min(-np.log10(3 / n), 3.0))
    assert network[0] == pytest.approx(-np.log10(0.3))
    assert evidence.active[0].tolist() == [True, False]
    assert evidence.rate.tolist() == pytest.approx([0.003, 0.0])
    assert evidence.total[0] == pytest.approx(device[0] + network[0])
    assert evidence.per_member.tolist() == [True, True]


def test_known_fraud_nearby_does_not_enter_the_ring_test() -> None:
    """Propagation from neighbours' labels is shared by neighbours by construction, so
    its channel is not per member."""
    assert [c.name for c in CHANNELS if not c.per_member] == ["known_fraud"]
    evidence = account_channels({"seeded_score": np.arange(10.0)})
    assert evidence.per_member.tolist() == [False]


def _one_channel(active: np.ndarray) -> ChannelEvidence:
    """One per-member channel, ``device``, active where ``active`` (shape (n, 1))."""
    return ChannelEvidence(
        names=("device",),
        strength=active.astype(float) * 2.0,
        active=active,
        rate=np.array([active.mean()]),
        per_member=np.array([True]),
    )


def _independent(n: int, rate: float, seed: int = 0) -> ChannelEvidence:
    return _one_channel(np.random.default_rng(seed).random((n, 1)) < rate)


def _groups(sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(sum(sizes))
    group = np.repeat(np.arange(len(sizes)), sizes)
    return rows, group


def test_a_ring_whose_members_all_show_rare_evidence_is_significant() -> None:
    """Among groups of five drawn at random, the one whose five members are all active in
    a channel active for 2% of accounts stands out; the random ones do not."""
    evidence = _independent(5_000, 0.02)
    sizes = [5] * 1000
    rows, group = _groups(sizes)
    evidence.active[:5, 0] = True
    result = ring_evidence(evidence, rows, group, len(sizes))
    expected = -np.log10(binom.sf(4, 5, evidence.rate[0]))
    assert result.surprise[0, 0] == pytest.approx(expected, rel=1e-6)
    assert result.significance[0] > 3
    assert np.median(result.significance[1:]) == 0.0


def test_evidence_benign_groups_share_as_a_whole_counts_for_less() -> None:
    """When many benign groups are active as a whole (families opening their accounts
    together), the same all-active ring is less surprising than when activity falls on
    members independently: the intra-group correlation is estimated from the groups."""
    sizes = [4] * 500
    rows, group = _groups(sizes)
    independent = _independent(2_000, 0.05, seed=1)
    independent.active[:4, 0] = True
    correlated = _independent(2_000, 0.0, seed=1)
    whole = np.repeat(np.random.default_rng(2).random(500) < 0.05, 4)
    correlated.active[:, 0] = whole
    correlated.active[:4, 0] = True
    correlated = ChannelEvidence(
        correlated.names,
        correlated.strength,
        correlated.active,
        np.array([correlated.active.mean()]),
        correlated.per_member,
    )
    free = ring_evidence(independent, rows, group, len(sizes)).surprise[0, 0]
    shared = ring_evidence(correlated, rows, group, len(sizes)).surprise[0, 0]
    assert free > 2 * shared


def test_channels_that_are_not_per_member_do_not_count() -> None:
    """A ring all active in a channel that is not per member gets no surprise from it."""
    evidence = _independent(1_000, 0.01)
    evidence = ChannelEvidence(
        evidence.names, evidence.strength, evidence.active, evidence.rate, np.array([False])
    )
    evidence.active[:5, 0] = True
    rows, group = _groups([5] * 200)
    result = ring_evidence(evidence, rows, group, 200)
    assert result.surprise[0, 0] == 0.0 and result.significance[0] == 0.0


def test_significance_is_a_benjamini_hochberg_q_value() -> None:
    """The significance is -log10 of the BH q-value of the combined p-values: never more
    than the p-value's, never negative, and ordered like the p-values."""
    evidence = _independent(3_000, 0.03, seed=3)
    rows, group = _groups([6] * 500)
    result = ring_evidence(evidence, rows, group, 500)
    assert (result.significance >= 0).all()
    assert (result.significance <= -result.log10_p + 1e-9).all()
    order = np.argsort(result.log10_p)
    assert (np.diff(result.significance[order]) <= 1e-9).all()


def test_added_ring_channels_do_not_add_to_an_accounts_evidence() -> None:
    """Labels and the model's verdict enter the ring test, not the account's total."""
    evidence = account_channels({"emulator_devices": np.array([1.0, 0.0, 0.0, 0.0])})
    labelled = with_channel(evidence, "labelled", np.array([True, False, False, False]))
    assert labelled.names == ("device", "labelled")
    assert labelled.total.tolist() == evidence.total.tolist()
    assert labelled.rate[-1] == 0.25 and labelled.per_member[-1]


def test_the_config_caps_each_channel() -> None:
    """An account's channel strength never exceeds ``channel_cap``."""
    x = np.zeros(100_000)
    x[0] = 1.0
    capped = account_channels({"emulator_devices": x}, SurpriseConfig(channel_cap=2.0))
    assert capped.strength.max() == 2.0


@given(
    st.lists(st.floats(0.0, 20.0, allow_nan=False), min_size=1, max_size=8),
    st.integers(0, 7),
    st.floats(0.0, 5.0),
)
def test_combined_p_value_grows_with_any_channel(
    surprises: list[float], channel: int, extra: float
) -> None:
    """More surprise in any channel never makes a ring less significant, and the combined
    p-value is a probability."""
    from scoring.surprise import combined_log10_p

    base = np.array([surprises])
    raised = base.copy()
    raised[0, channel % base.shape[1]] += extra
    before, after = combined_log10_p(base)[0], combined_log10_p(raised)[0]
    assert before <= 0.0 and after <= before + 1e-9


def test_combined_p_value_of_one_strong_channel_is_bonferroni_corrected() -> None:
    """One channel at p = 1e-6 among four, the rest silent: the strongest-channel test
    gives 4e-6, taken at four times (four tests): 1.6e-5."""
    from scoring.surprise import combined_log10_p

    value = combined_log10_p(np.array([[6.0, 0.0, 0.0, 0.0]]))[0]
    assert value == pytest.approx(np.log10(4 * 4e-6), abs=1e-9)
    assert combined_log10_p(np.zeros((2, 4))).tolist() == [0.0, 0.0]


def test_confirmed_fraud_labels_keep_the_binomial_tail_whatever_the_groups() -> None:
    """Where most groups are rings, their labels would read as a benign intra-group
    correlation and discount every ring's labels; the labelled channel keeps the
    binomial tail (another channel with the same hits is discounted)."""
    n, rings = 400, 20
    labelled = np.zeros(n, np.bool_)
    for ring in range(rings):
        labelled[ring * 10 : ring * 10 + 4] = True  # 4 of each ring's 10 members
    base = account_channels({"passed_on": np.zeros(n)})
    channels = with_channel(with_channel(base, LABELLED, labelled), "other", labelled)
    rows = np.arange(rings * 10)
    group = rows // 10
    evidence = ring_evidence(channels, rows, group, rings)
    column = {name: j for j, name in enumerate(channels.names)}
    expected = -np.log10(binom.sf(3, 10, labelled.mean()))
    assert evidence.surprise[:, column[LABELLED]] == pytest.approx(np.full(rings, expected))
    assert (evidence.surprise[:, column["other"]] < expected).all()


def test_each_family_of_candidates_counts_its_own_tests_and_channels() -> None:
    """A ring in a family of 2 candidates is more significant than the same ring among
    202, and a family restricted to one channel ignores the others."""
    n = 1_000
    hot = np.zeros(n, np.bool_)
    hot[:6] = True
    device = np.zeros(n)
    device[6:12] = 1.0
    channels = with_channel(account_channels({"emulator_devices": device}), LABELLED, hot)
    rows = np.arange(12)
    group = rows // 6
    family = np.array([0, 1])
    few = ring_evidence(
        channels, rows, group, 2, family=family, family_tests=np.array([200, 2])
    ).significance
    many = ring_evidence(
        channels, rows, group, 2, family=family, family_tests=np.array([200, 200])
    ).significance
    assert few[1] > many[1]
    assert few[0] == pytest.approx(many[0])
    labels_only = np.array([[True, True], [False, True]])
    picked = ring_evidence(
        channels,
        rows,
        group,
        2,
        family=np.array([1, 1]),
        family_tests=np.array([0, 2]),
        family_channels=labels_only,
    ).significance
    assert picked[1] == 0.0  # the device evidence is not this family's channel
    assert picked[0] > 0.0


def _families_opening_together(groups: int, size: int, rate: float, seed: int) -> ChannelEvidence:
    """A channel that benign groups show as a whole (each with probability ``rate``)."""
    whole = np.repeat(np.random.default_rng(seed).random(groups) < rate, size)
    return _one_channel(whole[:, None].copy())


def test_a_correlation_estimated_once_holds_for_every_later_test() -> None:
    """The intra-group correlation estimated over the broad population of groups is what
    a later test over a few picked groups uses: picking mostly active groups (rings, or
    benign families) would otherwise read as a correlation of its own, and picking
    groups with no evidence at all would read as none."""
    from scoring.surprise import with_correlation

    sizes = [4] * 500
    rows, group = _groups(sizes)
    evidence = _families_opening_together(500, 4, 0.15, seed=2)
    evidence.active[:4, 0] = True
    estimated = with_correlation(evidence, rows, group, len(sizes))
    assert estimated.correlation is not None and estimated.correlation[0] > 0.5
    broad = ring_evidence(estimated, rows, group, len(sizes)).surprise[0, 0]
    quiet = np.flatnonzero(~evidence.active[::4, 0])[:20]
    picked = np.concatenate([[0], quiet])
    few_rows = np.concatenate([rows[group == g] for g in picked])
    few_group = np.repeat(np.arange(picked.size), 4)
    reused = ring_evidence(estimated, few_rows, few_group, picked.size).surprise[0, 0]
    assert reused == pytest.approx(broad)
    fresh = ring_evidence(evidence, few_rows, few_group, picked.size).surprise[0, 0]
    assert fresh > 2 * reused


def test_confirmed_fraud_labels_stay_independent_under_an_estimated_correlation() -> None:
    """Labels gathered in groups (the rings) are no benign correlation: the labelled
    channel's estimated correlation is 0 and its test is the binomial tail."""
    from scoring.surprise import with_correlation

    sizes = [4] * 500
    rows, group = _groups(sizes)
    evidence = _families_opening_together(500, 4, 0.15, seed=3)
    labels = _families_opening_together(500, 4, 0.05, seed=4).active[:, 0]
    labels[:4] = True
    both = with_channel(evidence, LABELLED, labels)
    estimated = with_correlation(both, rows, group, len(sizes))
    assert estimated.correlation is not None
    assert estimated.correlation.tolist()[1] == 0.0 and estimated.correlation[0] > 0.5
    surprise = ring_evidence(estimated, rows, group, len(sizes)).surprise[0, 1]
    assert surprise == pytest.approx(-np.log10(binom.sf(3, 4, both.rate[1])))


def test_a_channel_added_later_asks_for_a_new_estimate() -> None:
    """Adding a channel drops the estimated correlations: they are estimated once every
    channel is there."""
    from scoring.surprise import with_correlation

    rows, group = _groups([4] * 100)
    estimated = with_correlation(_independent(400, 0.05), rows, group, 100)
    assert estimated.correlation is not None
    assert with_channel(estimated, LABELLED, np.zeros(400, bool)).correlation is None
