"""How surprising an account's, and a ring's, fraud evidence is against the population.

Fraud evidence is measured against the population it comes from, never against fixed
thresholds, so the same detector holds on a book where a third of the customers use VPNs
and on one where almost nobody does, on a book opened in one month and on one that grew
over years.

Accounts
    Each evidence feature is turned into its *tail surprise*: ``-log10`` of the share of
    accounts whose value is at least as large (0 for a value of 0 or below). Features
    are grouped into *channels* (:data:`CHANNELS`), one per kind of evidence (the device,
    the IP, coordinated opening, takeover, money movement, spending, known fraud nearby);
    a channel's strength is the largest surprise among its features, capped at
    ``channel_cap``, and an account's evidence is the sum over channels. A channel is
    *active* for an account when its strength reaches ``active`` (the rarest ~5% of
    accounts, by default).
Rings
    For a ring of ``s`` members, ``k`` of them active in a channel whose activity rate in
    the population is ``p``, the channel's surprise is ``-log10 P(X >= k)`` for
    ``X ~ BetaBinomial(s, p, rho)``: how unlikely so much of that evidence would gather in
    a group of that size. ``rho``, the channel's intra-group correlation, is estimated
    over all the candidate groups, almost all of them benign: evidence that benign groups
    share as a whole (a family opening its accounts together) counts for less than
    evidence that falls on members independently (``rho = 0`` is the binomial). The channels are combined into one p-value per ring, the better
    of Fisher's method (evidence spread over channels) and the strongest channel with a
    Bonferroni correction (evidence in one channel), at twice its p-value, and turned into Benjamini-Hochberg q-values over the rings tested: flagging
    the rings with ``q <= alpha`` keeps the expected share of false rings among the
    alerts at most ``alpha``. A dense group whose members show no more evidence
    than random accounts do is not significant however dense it is: that is what keeps
    households, offices and call-centre devices out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from graph_service.typing import F64, I64, BoolArray

__all__ = [
    "CHANNELS",
    "TELLING_SURPRISE",
    "Channel",
    "ChannelEvidence",
    "RingEvidence",
    "SurpriseConfig",
    "account_channels",
    "combined_log10_p",
    "ring_evidence",
    "tail_surprise",
    "with_channel",
    "with_correlation",
]

#: Share of groups left out of the intra-group correlation estimate (the most extreme).
_RHO_TRIM: Final = 0.05

#: Channel surprise (``-log10`` p) from which a channel tells about a ring: its evidence
#: at least ten times more concentrated among the members than chance would put it. Such
#: channels give the ring's reasons, corroborate each other and decide which members
#: show the ring's evidence.
TELLING_SURPRISE: Final = 1.0


@dataclass(frozen=True, slots=True)
class Channel:
    """One kind of fraud evidence.

    Attributes
    ----------
    name : str
        Stable name, also the stem of the reason codes.
    features : tuple of str
        Account feature columns whose tail surprise feeds the channel.
    per_member : bool
        Whether the evidence is the account's own, independent of its neighbours' (only
        such channels enter the ring test, which counts members as independent draws;
        propagation from known fraud is shared by neighbours by construction).
    """

    name: str
    features: tuple[str, ...]
    per_member: bool = True


#: The network context channel (proxy IPs, rooted phones): evidence, but never the
#: second witness that corroborates a ring (see ``scoring.candidates.corroborated``).
NETWORK: Final = "network"

#: The channels, in reason order (strongest kind of evidence first).
CHANNELS: Final[tuple[Channel, ...]] = (
    Channel("known_fraud", ("seeded_score",), per_member=False),
    Channel("device", ("emulator_devices",)),
    Channel("coordination", ("cohort_surprise",)),
    Channel("takeover", ("late_cojoin_partners", "new_device_payouts", "new_device_inflows")),
    Channel("money", ("passed_on", "collector_inflows")),
    Channel("spending", ("spend_spike", "merchant_cospike")),
    Channel(NETWORK, ("proxy_ips", "rooted_devices")),
)

#: Channels of the ring test only: labelled fraud among the members (the label is the
#: member's own fact) and the entity model's verdict.
LABELLED: Final = "labelled"
MODEL: Final = "model"


@dataclass(frozen=True, slots=True)
class SurpriseConfig:
    """Caps and cut-offs of the surprise scores.

    Parameters
    ----------
    channel_cap : float
        Largest strength one channel gives an account (3: one account in a thousand).
    active : float
        Channel strength from which the channel counts as active for the account (1.3:
        the rarest 5% of accounts).
    ring_channel_cap : float
        Largest surprise one channel gives a ring (30).
    """

    channel_cap: float = 3.0
    active: float = 1.3
    ring_channel_cap: float = 30.0


@dataclass(frozen=True, slots=True)
class ChannelEvidence:
    """Per-account channel strengths.

    Attributes
    ----------
    names : tuple of str
        Channel names, in :data:`CHANNELS` order (those with a feature present), then
        any added with :func:`with_channel`.
    strength : ndarray of float64, shape (n, c)
        Channel strength of every account.
    active : ndarray of bool, shape (n, c)
        Whether each channel is active for each account.
    rate : ndarray of float64, shape (c,)
        Share of accounts for which each channel is active.
    per_member : ndarray of bool, shape (c,)
        Whether each channel enters the ring test (see :class:`Channel`).
    correlation : ndarray of float64, shape (c,), optional
        Each channel's intra-group correlation, estimated once for every ring test of a
        run (:func:`with_correlation`); None: each test estimates it over the rings it
        is given.
    """

    names: tuple[str, ...]
    strength: F64
    active: BoolArray
    rate: F64
    per_member: BoolArray
    correlation: F64 | None = None

    @property
    def total(self) -> F64:
        """Evidence of every account: the sum of the strengths of the channels of
        :data:`CHANNELS` (added ring-test channels excluded)."""
        own = np.isin(np.asarray(self.names, dtype=object), [c.name for c in CHANNELS])
        total: F64 = self.strength[:, own].sum(axis=1)
        return total


@dataclass(frozen=True, slots=True)
class RingEvidence:
    """Per-ring channel surprise and significance.

    Attributes
    ----------
    surprise : ndarray of float64, shape (k, c)
        ``-log10`` binomial tail of each channel per ring (0 for channels that are not
        per member).
    log10_p : ndarray of float64, shape (k,)
        ``log10`` of the Fisher-combined p-value (before correction).
    significance : ndarray of float64, shape (k,)
        ``-log10`` of the Benjamini-Hochberg q-value (0 when not below 1).
    """

    surprise: F64
    log10_p: F64
    significance: F64


def tail_surprise(values: npt.ArrayLike) -> F64:
    """``-log10`` of the share of values at least as large as each one; 0 for values <= 0.

    Parameters
    ----------
    values : array_like of float, shape (n,)

    Returns
    -------
    ndarray of float64, shape (n,)
        Between 0 and ``log10(n)``.

    Examples
    --------
    >>> tail_surprise([0.0, 1.0, 1.0, 5.0]).round(3)
    array([0.   , 0.125, 0.125, 0.602])

    Notes
    -----
    O(n log n): one sort and a binary search per value.
    """
    x = np.asarray(values, np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    ordered = np.sort(x)
    at_least = n - np.searchsorted(ordered, x, side="left")
    surprise = -np.log10(at_least / n)
    return np.where(x > 0, surprise, 0.0)


def account_channels(
    features: Mapping[str, npt.ArrayLike], config: SurpriseConfig | None = None
) -> ChannelEvidence:
    """Channel strengths of every account.

    Parameters
    ----------
    features : mapping of str to array_like, each shape (n,)
        Account features by name; channels whose features are all absent are left out.
    config : SurpriseConfig, optional

    Returns
    -------
    ChannelEvidence

    Notes
    -----
    O(f n log n) for f features.
    """
    config = config or SurpriseConfig()
    names: list[str] = []
    strengths: list[F64] = []
    per_member: list[bool] = []
    for channel in CHANNELS:
        present = [features[name] for name in channel.features if name in features]
        if not present:
            continue
        strength = np.max(np.vstack([tail_surprise(v) for v in present]), axis=0)
        names.append(channel.name)
        strengths.append(np.minimum(strength, config.channel_cap))
        per_member.append(channel.per_member)
    n = int(np.asarray(next(iter(features.values()))).shape[0]) if features else 0
    matrix = np.column_stack(strengths) if strengths else np.zeros((n, 0))
    active = matrix >= config.active
    rate = active.mean(axis=0) if matrix.shape[0] else np.zeros(matrix.shape[1])
    return ChannelEvidence(tuple(names), matrix, active, rate, np.asarray(per_member, np.bool_))


def with_channel(
    channels: ChannelEvidence,
    name: str,
    active: npt.ArrayLike,
    strength: npt.ArrayLike | None = None,
) -> ChannelEvidence:
    """``channels`` plus a ring-test channel ``name`` (e.g. :data:`LABELLED`, :data:`MODEL`).

    Parameters
    ----------
    channels : ChannelEvidence
    name : str
    active : array_like of bool, shape (n,)
        Accounts for which the channel is active.
    strength : array_like of float, shape (n,), optional
        The channel's strength per account (default: 0). It does not add to an account's
        evidence total: these channels restate what the total already holds.

    The new channel has no estimated correlation: :func:`with_correlation` is run after
    the last channel is added.

    Notes
    -----
    O(n).
    """
    flags = np.asarray(active, np.bool_)
    values = np.zeros(flags.shape[0]) if strength is None else np.asarray(strength, np.float64)
    return ChannelEvidence(
        names=(*channels.names, name),
        strength=np.column_stack([channels.strength, values]),
        active=np.column_stack([channels.active, flags]),
        rate=np.append(channels.rate, flags.mean() if flags.size else 0.0),
        per_member=np.append(channels.per_member, True),
    )


def with_correlation(
    channels: ChannelEvidence, member_rows: I64, ring_of_member: I64, n_rings: int
) -> ChannelEvidence:
    """``channels`` with each channel's intra-group correlation estimated over the given
    groups, for every later ring test to use.

    The groups should be the broad, mostly benign population of candidates (every
    community and identifier sharer), not the rings picked from it: where most of the
    picked groups are rings, their evidence would read as a benign correlation, and
    where most are handfuls of strangers with no evidence at all (money-flow shapes),
    evidence would look rarer in groups than it is. Confirmed fraud labels
    (:data:`LABELLED`) stay independent (correlation 0).

    Parameters
    ----------
    channels : ChannelEvidence
    member_rows, ring_of_member : ndarray of int64
        Account row of every group member and its group (0..n_rings-1).
    n_rings : int

    Notes
    -----
    O(r c) for r group members and c channels.
    """
    sizes = np.bincount(ring_of_member, minlength=n_rings).astype(np.float64)
    correlation = np.zeros(len(channels.names))
    for j, name in enumerate(channels.names):
        if not channels.per_member[j] or name == LABELLED:
            continue
        hits = _hits(channels, j, member_rows, ring_of_member, n_rings)
        p = float(np.clip(channels.rate[j], 1e-6, 1.0 - 1e-6))
        correlation[j] = _intra_group_correlation(hits, sizes, p)
    return replace(channels, correlation=correlation)


def _hits(
    channels: ChannelEvidence, j: int, member_rows: I64, ring_of_member: I64, n_rings: int
) -> F64:
    """Members active in channel ``j``, per ring."""
    hits: F64 = np.bincount(
        ring_of_member,
        weights=channels.active[member_rows, j].astype(np.float64),
        minlength=n_rings,
    ).astype(np.float64)
    return hits


def ring_evidence(
    channels: ChannelEvidence,
    member_rows: I64,
    ring_of_member: I64,
    n_rings: int,
    config: SurpriseConfig | None = None,
    *,
    tests: int | None = None,
    family: I64 | None = None,
    family_tests: I64 | None = None,
    family_channels: npt.NDArray[np.bool_] | None = None,
) -> RingEvidence:
    """Beta-binomial surprise per ring and channel, combined, as BH q-values.

    Parameters
    ----------
    channels : ChannelEvidence
    member_rows : ndarray of int64
        Account row (into ``channels``) of every ring member.
    ring_of_member : ndarray of int64
        Ring number (0..n_rings-1) of every member.
    n_rings : int
    config : SurpriseConfig, optional
    tests : int, optional
        Hypotheses examined in all, when these rings were picked among more candidates
        (the q-values count them all); default ``n_rings``.
    family, family_tests : ndarray of int64, optional
        The family of hypotheses each ring belongs to (0, 1, ...) and the hypotheses
        examined in each family. Candidates found different ways are different
        families (the communities and identifier sharers; the money-flow shapes, few and
        picked by a shape of their own): each family's q-values count its own tests
        (Benjamini-Hochberg within each family), and ``tests`` is then not used.
    family_channels : ndarray of bool, shape (families, c), optional
        The channels each family's test combines (default: every per-member channel). A
        family whose evidence is named before looking (labels, the entity model and
        money passed on, for the money-flow shapes) pays for fewer channels.

    Returns
    -------
    RingEvidence

    Notes
    -----
    O(r c) for r ring members and c channels, plus a sort of the rings.
    """

    config = config or SurpriseConfig()
    c = len(channels.names)
    sizes = np.bincount(ring_of_member, minlength=n_rings).astype(np.float64)
    surprise = np.zeros((n_rings, c))
    for j in range(c):
        if not channels.per_member[j]:
            continue
        hits = _hits(channels, j, member_rows, ring_of_member, n_rings)
        surprise[:, j] = _group_tail_surprise(
            hits,
            sizes,
            float(channels.rate[j]),
            independent=channels.names[j] == LABELLED,
            rho=None if channels.correlation is None else float(channels.correlation[j]),
        )
    surprise = np.minimum(surprise, config.ring_channel_cap)
    log10_p = combined_log10_p(surprise[:, channels.per_member])
    if family is not None and family_channels is not None:
        for f in np.unique(family).tolist():
            inside = family == f
            picked = channels.per_member & family_channels[f]
            log10_p[inside] = combined_log10_p(surprise[np.ix_(inside, picked)])
    if family is None or family_tests is None:
        significance = _benjamini_hochberg(log10_p, max(tests or 0, n_rings))
    else:
        significance = np.zeros(n_rings)
        for f in np.unique(family).tolist():
            inside = family == f
            significance[inside] = _benjamini_hochberg(
                log10_p[inside], max(int(family_tests[f]), int(inside.sum()))
            )
    return RingEvidence(surprise, log10_p, significance)


#: Channels combined by the strongest-channels tests (1, 2 and 3 at a time).
_TOP_CHANNELS: Final = (1, 2, 3)


def combined_log10_p(surprise: F64) -> F64:
    """``log10`` of one p-value per row from independent channel p-values ``10**-surprise``.

    Four tests, the best taken at four times its p-value: Fisher's method over every
    channel (``-2 sum ln p ~ chi2(2c)``), which gathers evidence spread thin over many
    channels, and the product of the ``K`` smallest p-values for ``K = 1, 2, 3`` with a
    union bound over the ``C(c, K)`` choices of channels (``P(U_1...U_K <= w) =
    w sum_{i<K} (-ln w)^i / i!`` for independent uniforms), which keep strong evidence
    in a few channels from being diluted by the silent ones (the rank-truncated product,
    Dudbridge & Koeleman, 2003).

    Parameters
    ----------
    surprise : ndarray of float64, shape (k, c)
        ``-log10`` p-value of each row's channels.

    Returns
    -------
    ndarray of float64, shape (k,), values <= 0

    Examples
    --------
    >>> combined_log10_p(np.array([[0.0, 0.0, 0.0]])).tolist()
    [0.0]
    >>> bool(combined_log10_p(np.array([[3.0, 3.0, 0.0]]))[0] < -3.0)
    True

    Notes
    -----
    O(k c log c).
    """
    from math import comb

    from scipy.stats import chi2

    k, c = surprise.shape
    if c == 0:
        return np.zeros(k)
    ln10 = np.log(10.0)
    tests = [chi2.logsf(2.0 * ln10 * surprise.sum(axis=1), 2 * c) / ln10]
    ordered = -np.sort(-surprise, axis=1)
    for top in _TOP_CHANNELS:
        if top > c:
            break
        x = ln10 * ordered[:, :top].sum(axis=1)  # -ln of the product of the top p-values
        series = np.zeros(k)
        term = np.ones(k)
        for i in range(top):
            if i:
                term = term * x / i
            series += term
        tests.append((-x + np.log(series)) / ln10 + np.log10(comb(c, top)))
    best = np.min(np.vstack(tests), axis=0) + np.log10(len(tests))
    return np.asarray(np.minimum(best, 0.0))


def _group_tail_surprise(
    hits: F64,
    sizes: F64,
    rate: float,
    *,
    independent: bool = False,
    rho: float | None = None,
) -> F64:
    """``-log10 P(X >= hits)`` per group for ``X`` beta-binomial over ``sizes`` members.

    The beta-binomial's mean is the channel's population ``rate``; its intra-group
    correlation ``rho`` is the one given, or else estimated by the method of moments over
    the groups given (almost all of them benign): evidence that benign groups share as a
    whole (a family that opened its accounts together, a household behind one VPN) raises
    ``rho`` and so counts for less, while evidence that falls on members independently keeps the
    binomial tail (``rho = 0``). ``independent`` takes the binomial tail whatever the
    groups: confirmed fraud labels are a fact about each account, which benign groups do
    not share, and where many candidates are rings their labels would otherwise read as
    a benign correlation and discount every ring's labels.
    """
    from scipy.stats import betabinom, binom

    p = float(np.clip(rate, 1e-6, 1.0 - 1e-6))
    if independent:
        rho = 0.0
    elif rho is None:
        rho = _intra_group_correlation(hits, sizes, p)
    k = np.maximum(hits - 1, 0)
    if rho <= 1e-6:
        tail = binom.sf(k, sizes, p)
    else:
        a, b = p * (1.0 - rho) / rho, (1.0 - p) * (1.0 - rho) / rho
        tail = betabinom.sf(k, sizes.astype(np.int64), a, b)
    surprise = -np.log10(np.clip(tail, 1e-300, 1.0))
    return np.where(hits > 0, surprise, 0.0)


def _intra_group_correlation(hits: F64, sizes: F64, p: float, trim: float = _RHO_TRIM) -> float:
    """Method-of-moments intra-group correlation of a binary trait, in [0, 0.95].

    ``Var(k_i) = s_i p (1 - p) (1 + (s_i - 1) rho)`` for group sizes ``s_i``, estimated
    without the ``trim`` share of groups that stray furthest above the binomial mean:
    the rings being looked for are among them, and their evidence is the signal, not the
    benign correlation the estimate is for.
    """
    z = (hits - sizes * p) / np.sqrt(np.maximum(sizes * p * (1.0 - p), 1e-12))
    if hits.shape[0] >= 20:
        keep = z <= np.quantile(z, 1.0 - trim)
        hits, sizes = hits[keep], sizes[keep]
    pairs = float((sizes * (sizes - 1.0)).sum()) * p * (1.0 - p)
    if pairs <= 0:
        return 0.0
    excess = float(((hits - sizes * p) ** 2).sum() - (sizes * p * (1.0 - p)).sum())
    return float(np.clip(excess / pairs, 0.0, 0.95))


def _benjamini_hochberg(log10_p: F64, tests: int) -> F64:
    """``-log10`` of Benjamini-Hochberg q-values, clipped at 0 (q at most 1).

    ``q_(i) = min over j >= i of p_(j) m / j`` for p-values sorted ascending, ``m`` the
    hypotheses tested (``tests``, at least the p-values given): flagging the
    rings with ``q <= alpha`` keeps the expected share of false rings among them at most
    ``alpha`` (under independence), which is what an alert queue's precision is.
    """
    m = log10_p.shape[0]
    if m == 0:
        return np.zeros(0)
    order = np.argsort(log10_p, kind="stable")
    ranked = log10_p[order] + np.log10(tests) - np.log10(np.arange(1, m + 1, dtype=np.float64))
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    result = np.empty(m)
    result[order] = np.maximum(-adjusted, 0.0)
    return result
