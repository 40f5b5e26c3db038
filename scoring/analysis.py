"""Ring detection end to end: projection -> graph signals -> features -> scores.

:func:`analyse` is the one entry point: it reads a store through the ``GraphStore``
protocol (any backend), writes the scores back (``entity_risk``, ``ring_score``,
``pagerank``, ``seeded_pagerank``, ``community``) and returns the tables investigators and
the flagging job consume: per-account risk with reasons, ring candidates with score,
reasons, a typology guess, evidence links and ring features, and the super nodes that were
discounted.

When the store holds a ``gnn_score`` (written by the GNN jobs), it joins the account
features as one more entity-model input (accounts without one get 0).

Account risk
    With enough confirmed fraud, a positive-unlabelled model's out-of-fold fraud
    probability (:func:`scoring.model.train_pu_model`); otherwise the population-relative
    evidence score (:mod:`scoring.surprise`). :attr:`AnalysisResult.label_mode` says which.
Ring score
    The ring's significance: how improbable the concentration of each kind of fraud
    evidence among its core members would be for a random group of the same size
    (binomial tail per evidence channel, Fisher-combined, Benjamini-Hochberg q-value over the
    candidates), as ``sig / (sig + significance_half)``; 0.5 at a q-value of 0.05, 0.64 (the
    default flag threshold, :data:`scoring.flagging.FLAG_THRESHOLD`) at 0.005. A dense
    group without evidence beyond what random accounts show scores near 0.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.labels import account_verdicts
from graph_service.model import NodeType
from graph_service.store import GraphStore
from scoring.candidates import EVIDENCE_TYPE, candidates_of_every_level, score_candidates
from scoring.features import (
    FeatureConfig,
    NodeFacts,
    account_features,
    model_feature_names,
    ring_features,
    with_stored_scores,
)
from scoring.flow_candidates import FAMILIES, FLOW_COLUMNS, candidate_family
from scoring.flow_rings import (
    FLOW_CANDIDATE_SCHEMA,
    FlowRingConfig,
    flow_ring_candidates,
)
from scoring.graph_signals import CommunityMethod, GraphSignals, compute_graph_signals
from scoring.model import LabelMode, ScoringModel, label_mode, train_pu_model
from scoring.money_rings import with_joined_money_rings
from scoring.projection import ProjectionConfig, project_tables
from scoring.reasons import ACCOUNT_RULES, TOP_REASONS, reason_codes
from scoring.ring_selection import ring_groups, with_community_correlation
from scoring.staging import STAGED_TABLES, StagedAnalysis, read_staged_analysis, stage_analysis
from scoring.surprise import (
    LABELLED,
    MODEL,
    ChannelEvidence,
    SurpriseConfig,
    account_channels,
    with_channel,
)
from scoring.typology import TYPOLOGIES

log = logging.getLogger(__name__)

#: ``entity_risk`` result.
ENTITY_RISK_SCHEMA: Final = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("risk", pa.float64(), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
    ]
)

Progress = Callable[[str, int, int], None]

_STEPS: Final = ("projection", "signals", "features", "model", "rings", "write")


@dataclass(frozen=True)
class AnalysisConfig:
    """Everything :func:`analyse` can be tuned with; the defaults are the product's.

    Parameters
    ----------
    projection : ProjectionConfig
        Identifier weights, super-node caps, transfer weight.
    features : FeatureConfig
        Burst window, ring-core fraction.
    community_method : CommunityMethod
        Leiden (default) or Louvain.
    resolution_per_account : float
        Leiden resolution per account of the coarse level (default 0.001, i.e. 20 at 20,000 accounts and 1,000
        at 1M). Modularity's null model dilutes as the graph grows (the expected weight
        between two accounts falls with the total weight), so a fixed resolution merges
        ever larger neighbourhoods into each ring on larger populations; scaling it with
        the account count keeps communities at the size of the local structure.
    fine_resolution_factor : float
        Communities are also detected at this many times the resolution (10): rings of
        four and of forty accounts do not both come out at one resolution. Candidates of
        both levels are tested; where they overlap, the more significant one is kept.
        1 turns the second level off.
    min_resolution : float
        Floor of the effective resolution (default 5) for small populations; it ramps up
        linearly over the first 1,000 accounts, so a handful of accounts is not cut into
        singletons.
    seed : int
        Seeds communities, seed folds and models: an unchanged store gives the same
        communities and scores.
    damping : float
        PageRank / propagation damping (0.85).
    folds : int
        Seed groups of the leave-group-out fraud propagation (3).
    model_folds : int
        Folds of the out-of-fold scoring of labelled accounts (3).
    community_min_weight : float
        Edges lighter than this are left out of community detection (0.2, about one
        common identifier of weight 0.5 shared by ten accounts): half the edges of a
        bank-sized graph, and the slowest step's cost, for no loss of rings.
    community_max_levels : tuple of int
        Leiden's refinement passes at the coarse and the fine resolution (3, 2): the
        first passes find nearly all of the structure, later ones chase gains of 1e-5 at
        the full cost.
    min_labels_per_class : int
        Legit labels from which the entity model counts as ``supervised`` (20); below it
        learns from fraud against unlabelled accounts (positive-unlabelled).
    min_fraud_labels : int
        Fraud-labelled accounts needed to train the entity model (15); with fewer, risk
        is the population-relative evidence score, known fraud nearby being one of its
        channels (``few_labels``), or without any (``unsupervised``).
    max_unlabelled : int
        Unlabelled accounts sampled as negatives per fit of the entity model (50,000).
    max_implied_prevalence : float
        A positive-unlabelled model whose label frequency implies that more than this
        share of the book is fraud (0.1) has not learnt what the labelled fraud shares
        (with a handful of labels, the held-out ones score low and the frequency read
        from them comes out tiny): it is not used, and the analysis runs as with too few
        labels (``few_labels``: the evidence score, then self-training on the rings
        beyond doubt), saying so in the log.
    surprise : SurpriseConfig
        Caps and cut-offs of the evidence channels (see :mod:`scoring.surprise`).
    significance_half : float
        Ring significance (``-log10`` of the q-value of its evidence) at which the ring
        score is 0.5 (1.3: q = 0.05): ``score = sig / (sig + significance_half)``.
    self_training : bool
        With too few fraud labels to learn from, train the entity model on the members of
        the rings whose evidence is beyond doubt (significance at least
        ``self_training_significance``, 2.0: q = 0.01) and score the rings again with its
        verdict as one more channel (True). The label mode stays what the labels say.
    min_ring_size : int
        Smallest core reported as a ring candidate (3: two accounts are a pair, scored as accounts).
    identifier_candidates : tuple of NodeType
        Identifier kinds whose sharers are ring candidates too, beside the communities,
        when they all took the identifier up within ``projection.cojoin_days`` (merchants:
        a bust-out ring maxing out its cards at one small merchant within days; the
        projection weighs a shared merchant lightly, so such a group never forms a
        community). ``()`` turns this off; kinds the projection weighs strongly (devices,
        cards) already form communities, and testing their sharers again cost recall on
        independent data.
    flow_rings : FlowRingConfig, optional
        The shapes of money moving between strangers (fans, cycles, scatter-gather and
        the rest of the AML typologies, see :mod:`scoring.flow_rings`) that are ring
        candidates too, tested as every other candidate; a ring made of one keeps all its
        members (the shape is the ring) and is typed by it. ``None`` turns them off.
    member_risk_fraction : float
        A ring keeps the members that show its evidence (active in a channel that tells
        about the ring, see :data:`scoring.candidates.TELLING_SURPRISE`) or are at least
        this fraction as risky as its riskiest member (0.4); the rest of its community (a
        mule's victims, a member's household with a VPN) are hangers-on, not members.
        Ring features other than ``size`` describe the whole core.
    attach_min_ties : int
        An account outside every significant ring joins the one it is tied to by at least
        this many of its members (1; 0 turns attaching off) when its own risk is at least
        ``attach_min_risk`` (0.5) and it shows the ring's evidence (active in a channel
        that tells about it): a camouflaged member shares one identifier with one or two
        members and a mule receives from one, so the community core leaves them out; their
        own risk and evidence bring them in. Only rings scoring at least 0.5 (significant
        and corroborated) take members this way, and only in the final scoring
        (self-training learns from the cores).
    attach_min_risk : float
        See ``attach_min_ties``.
    piece_min_size : int
        Cut a ring whose members fall into two or more groups of at least this many
        members, joined only by members living together (one home IP and address) or by
        accounts pruning left out, into one ring per group (4; 0 turns this off; see
        :func:`scoring.candidates.separate_pieces`). A piece is tested as a ring of its own
        and scores at most its ring's score. One more than ``min_ring_size``: a ring's
        members may live together in threes (synthetic identities at a drop address).
    uncorroborated_factor : float
        A ring whose evidence is one kind alone, with neither confirmed fraud nor the
        entity model's verdicts behind it, scores this fraction of its significance score
        (0.5: below the default flagging threshold whatever its significance) and says so
        (``ONE_KIND_OF_EVIDENCE``); see :func:`scoring.candidates.corroborated`. 1 turns
        this off.
    top_reasons : int
        Reason codes kept per account and ring (5).
    evidence_links : int
        Strongest internal links reported per ring (5).
    model_path : Path, optional
        Score with this saved model instead of training one.
    write_scores : bool
        Write the scores back to the store (default True).
    """

    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    community_method: CommunityMethod = CommunityMethod.LEIDEN
    resolution_per_account: float = 1e-3
    fine_resolution_factor: float = 10.0
    min_resolution: float = 5.0
    seed: int = 42
    damping: float = 0.85
    folds: int = 3
    model_folds: int = 3
    community_min_weight: float = 0.2
    community_max_levels: tuple[int, ...] = (3, 2)
    min_labels_per_class: int = 20
    min_fraud_labels: int = 15
    max_implied_prevalence: float = 0.1
    max_unlabelled: int = 50_000
    surprise: SurpriseConfig = field(default_factory=SurpriseConfig)
    significance_half: float = 1.3
    self_training: bool = True
    self_training_significance: float = 2.0
    min_ring_size: int = 3
    identifier_candidates: tuple[NodeType, ...] = (NodeType.MERCHANT,)
    flow_rings: FlowRingConfig | None = field(default_factory=FlowRingConfig)
    member_risk_fraction: float = 0.4
    attach_min_ties: int = 1
    piece_min_size: int = 4
    attach_min_risk: float = 0.5
    uncorroborated_factor: float = 0.5
    top_reasons: int = TOP_REASONS
    evidence_links: int = 5
    model_path: Path | None = None
    write_scores: bool = True


@dataclass(frozen=True)
class AnalysisResult:
    """What :func:`analyse` found.

    Attributes
    ----------
    entity_risk : pa.Table
        ``ENTITY_RISK_SCHEMA``: one row per account, ordered by id.
    ring_candidates : pa.Table
        One row per ring candidate: ``candidate``, ``members``, ``score``, ``reasons``,
        ``typology``, ``evidence`` and the ring feature columns; highest score first.
    super_nodes : pa.Table
        ``id, type, key, share_count`` of the identifiers left out as too common.
    account_features : pa.Table
        Every account feature (for investigation and the feature cache).
    timings : dict of str to float
        Seconds per step.
    version : str
        Identifies the model and configuration that produced the scores.
    model : ScoringModel or None
        The model used (None when the evidence score was used).
    label_mode : LabelMode
        How the labels were used (see :class:`scoring.model.LabelMode`).
    """

    entity_risk: pa.Table
    ring_candidates: pa.Table
    super_nodes: pa.Table
    account_features: pa.Table
    timings: dict[str, float]
    version: str
    model: ScoringModel | None
    label_mode: LabelMode = LabelMode.UNSUPERVISED


def analyse(
    store: GraphStore,
    config: AnalysisConfig | None = None,
    *,
    progress: Progress | None = None,
) -> AnalysisResult:
    """Detect and score fraud rings and account risk in ``store``.

    Parameters
    ----------
    store : GraphStore
        Either backend; algorithms run on ``store.algorithms()``.
    config : AnalysisConfig, optional
    progress : callable, optional
        ``progress(step, done, total)`` after each step (steps: projection, signals,
        features, model, rings, write).

    Returns
    -------
    AnalysisResult

    Raises
    ------
    InvalidInput
        On an invalid configuration, or a saved model whose features do not match.
    LimitExceeded, BackendUnavailable
        From the algorithm engine.

    Notes
    -----
    O(N + L + P log P) for N nodes, L links and P projected pairs (bounded by the
    super-node caps), plus community detection and model fitting on the labelled rows.
    """
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def done(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = now - clock
        clock = now
        log.info("analysis step done", extra={"step": step, "seconds": timings[step]})
        if progress is not None:
            progress(step, _STEPS.index(step) + 1, len(_STEPS))

    nodes = store.export_nodes()
    projection = project_tables(
        nodes, store.export_links(), config.projection, store.export_transfers()
    )
    facts = NodeFacts.from_table(nodes)
    fraud, legit = account_verdicts(store.labels())
    done("projection")

    signals = compute_graph_signals(
        projection,
        store.algorithms(),
        fraud,
        method=config.community_method,
        seed=config.seed,
        resolution=_resolutions(config, int(projection.accounts.shape[0])),
        damping=config.damping,
        folds=config.folds,
        community_min_weight=config.community_min_weight,
        max_levels=config.community_max_levels,
    )
    done("signals")

    features = account_features(projection, signals, facts, fraud, legit, config.features)
    features = with_stored_scores(features, store.read_scores("gnn_score"), "gnn_score")
    flow = (
        flow_ring_candidates(projection.money_flow, config.flow_rings)
        if config.flow_rings is not None
        else FLOW_CANDIDATE_SCHEMA.empty_table()
    )
    channels = account_channels(
        {name: features.column(name).to_numpy() for name in features.column_names},
        config.surprise,
    )
    features = _with_channels(features, channels)
    done("features")

    labelled = features.column("known_fraud").to_numpy(zero_copy_only=False)
    channels = with_channel(channels, LABELLED, labelled)
    candidates = candidates_of_every_level(projection, signals, config, flow)
    family_tests = np.bincount(
        candidate_family(candidates, candidates.num_rows),
        minlength=FAMILIES,
    )

    def scored(
        groups: np.ndarray,
        evidence: ChannelEvidence,
        account_risk: np.ndarray,
        attach: bool,
        taken_up: pa.Array | pa.ChunkedArray | None,
    ) -> pa.Table:
        found = ring_features(projection, features, facts, groups >= 0, groups)
        found = found.filter(pc.greater_equal(found.column("size"), float(config.min_ring_size)))
        at = pc.index_in(found.column("candidate"), candidates.column("candidate"))
        flow = candidates.select(list(FLOW_COLUMNS)).take(at)
        if taken_up is not None:
            taken_up = pc.take(taken_up, at)
        return score_candidates(
            found,
            projection,
            nodes,
            account_risk,
            evidence,
            config,
            tests=family_tests,
            attach=attach,
            taken_up_together=taken_up,
            flow_shape=flow,
        )

    def rings_with(
        evidence: ChannelEvidence, account_risk: np.ndarray, *, attach: bool = True
    ) -> pa.Table:
        evidence = with_community_correlation(candidates, projection.accounts, evidence)
        groups = ring_groups(candidates, projection, evidence, config)
        taken_up = candidates.column("identifier_type")
        return with_joined_money_rings(
            scored(groups, evidence, account_risk, attach, taken_up),
            groups,
            projection,
            lambda joined: scored(joined, evidence, account_risk, attach, taken_up),
        )

    risk, model, mode = _entity_risk(features, channels, config)
    if model is None and config.self_training:
        # Without labels to learn from, the members of the rings whose evidence is beyond
        # doubt teach the model what the rest of the fraud looks like.
        # Only the cores teach it: accounts attached for their own risk would feed the
        # risk that attached them back into the model.
        first = rings_with(channels, risk, attach=False)
        model, risk = _self_trained(features, first, projection.accounts, labelled, config)
    if model is not None:
        channels = with_channel(channels, MODEL, risk >= 0.5, risk)
    done("model")

    ring_table = rings_with(channels, risk)
    entity_reasons = reason_codes(features, ACCOUNT_RULES, top=config.top_reasons)
    entity_risk = pa.table(
        {"id": projection.accounts, "risk": risk, "reasons": entity_reasons},
        schema=ENTITY_RISK_SCHEMA,
    )
    version = _version(model, mode, config)
    done("rings")

    if config.write_scores:
        _write_back(store, projection.accounts, risk, signals, ring_table, version)
    done("write")
    log.info("analysis done", extra={"label_mode": mode.value, "rings": ring_table.num_rows})
    return AnalysisResult(
        entity_risk=entity_risk,
        ring_candidates=ring_table,
        super_nodes=projection.super_nodes,
        account_features=features,
        timings=timings,
        version=version,
        model=model,
        label_mode=mode,
    )


def _effective_resolution(config: AnalysisConfig, accounts: int) -> float:
    """Leiden resolution for a population of ``accounts`` (see :class:`AnalysisConfig`)."""
    floor = config.min_resolution * min(1.0, accounts / 1_000)
    return max(floor, config.resolution_per_account * accounts, 1e-3)


def _resolutions(config: AnalysisConfig, accounts: int) -> list[float]:
    """The coarse resolution and, unless the factor is 1, the fine one."""
    coarse = _effective_resolution(config, accounts)
    if config.fine_resolution_factor == 1.0:
        return [coarse]
    return [coarse, coarse * config.fine_resolution_factor]


def _self_trained(
    features: pa.Table,
    rings: pa.Table,
    accounts: np.ndarray,
    labelled: np.ndarray,
    config: AnalysisConfig,
) -> tuple[ScoringModel | None, np.ndarray]:
    """A positive-unlabelled model whose positives are the members of the rings at least
    ``self_training_significance`` significant (and any labelled fraud); ``(None, risk)``
    unchanged when they are fewer than ``min_fraud_labels``."""
    confident = rings.filter(
        pc.greater_equal(rings.column("significance"), config.self_training_significance)
    )
    members = np.asarray(pc.list_flatten(confident.column("members")).to_numpy(), np.int64)
    positive = np.isin(accounts, members) | labelled
    evidence = evidence_risk(features.column("evidence").to_numpy())
    if int(positive.sum()) < config.min_fraud_labels:
        return None, evidence
    known_legit = features.column("known_legit").to_numpy(zero_copy_only=False)
    model, risk = train_pu_model(
        features,
        positive,
        known_legit,
        model_feature_names(features.column_names),
        seed=config.seed,
        folds=config.model_folds,
        max_unlabelled=config.max_unlabelled,
    )
    log.info(
        "entity model trained on the members of confident rings",
        extra={"positives": int(positive.sum()), "rings": confident.num_rows},
    )
    return model, risk


def _with_channels(features: pa.Table, channels: ChannelEvidence) -> pa.Table:
    """``features`` plus one ``evidence_<channel>`` column per channel and ``evidence``."""
    for j, name in enumerate(channels.names):
        features = features.append_column(f"evidence_{name}", pa.array(channels.strength[:, j]))
    return features.append_column("evidence", pa.array(channels.total))


def evidence_risk(total: np.ndarray) -> np.ndarray:
    """The evidence score as a risk in [0, 1): ``1 - exp(-evidence / 4)``.

    One channel at its cap (evidence 3, a one-in-a-thousand account) gives 0.53; two give
    0.78. Not a probability: without labels there is nothing to calibrate against.
    """
    return np.asarray(1.0 - np.exp(-np.maximum(total, 0.0) / 4.0))


def _entity_risk(
    features: pa.Table, channels: ChannelEvidence, config: AnalysisConfig
) -> tuple[np.ndarray, ScoringModel | None, LabelMode]:
    """Risk of every account (labelled ones out of fold), the model and the label mode."""
    known_fraud = features.column("known_fraud").to_numpy(zero_copy_only=False)
    known_legit = features.column("known_legit").to_numpy(zero_copy_only=False)
    names = model_feature_names(features.column_names)
    if config.model_path is not None:
        model = ScoringModel.load(config.model_path, expected_features=names)
        return model.predict(features), model, LabelMode.SUPERVISED
    mode = label_mode(
        int(known_fraud.sum()),
        int(known_legit.sum()),
        min_fraud=config.min_fraud_labels,
        min_legit=config.min_labels_per_class,
    )
    if mode in (LabelMode.UNSUPERVISED, LabelMode.FEW_LABELS):
        log.info(
            "scoring accounts by evidence alone",
            extra={"label_mode": mode.value, "fraud": int(known_fraud.sum())},
        )
        return evidence_risk(channels.total), None, mode
    model, risk = train_pu_model(
        features,
        known_fraud,
        known_legit,
        names,
        seed=config.seed,
        folds=config.model_folds,
        max_unlabelled=config.max_unlabelled,
    )
    implied = implied_prevalence(int(known_fraud.sum()), model, known_fraud.shape[0])
    if implied > config.max_implied_prevalence:
        # The labelled fraud's own out-of-fold scores are what the label frequency is
        # read from; when the model cannot recognise them, the frequency comes out tiny
        # and dividing by it calls a large part of the book fraud.
        log.warning(
            "entity model not used: its label frequency implies too much fraud",
            extra={
                "implied_prevalence": round(implied, 4),
                "max_implied_prevalence": config.max_implied_prevalence,
                "fraud": int(known_fraud.sum()),
                "label_frequency": model.metrics.get("label_frequency"),
            },
        )
        return evidence_risk(channels.total), None, LabelMode.FEW_LABELS
    return risk, model, mode


def implied_prevalence(fraud_labels: int, model: ScoringModel, accounts: int) -> float:
    """Share of the book a positive-unlabelled model's calibration calls fraud: the
    labelled fraud divided by the label frequency ``c = P(labelled | fraud)`` it
    estimated (Elkan & Noto), over the accounts. 0 for an empty book.

    Examples
    --------
    >>> class Model:
    ...     metrics = {"label_frequency": 0.3}
    >>> implied_prevalence(30, Model(), 10_000)  # 100 fraudsters, 30 of them labelled
    0.01
    """
    frequency = float(model.metrics.get("label_frequency", 1.0))
    if accounts <= 0:
        return 0.0
    return round(fraud_labels / max(frequency, 1e-12) / accounts, 12)


def _version(model: ScoringModel | None, mode: LabelMode, config: AnalysisConfig) -> str:
    digest = hashlib.sha256(repr(config).encode()).hexdigest()[:8]
    return f"{model.version if model else mode.value}+cfg-{digest}"


def _write_back(
    store: GraphStore,
    accounts: np.ndarray,
    risk: np.ndarray,
    signals: GraphSignals,
    rings: pa.Table,
    version: str,
) -> None:
    ring_score = np.zeros(accounts.shape[0])
    if rings.num_rows:
        members = rings.column("members").combine_chunks()
        flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
        sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
        scores = np.repeat(rings.column("score").to_numpy(), sizes)
        ring_score[np.searchsorted(accounts, flat)] = scores
    store.write_scores("entity_risk", accounts, risk, version=version)
    store.write_scores("ring_score", accounts, ring_score, version=version)
    store.write_scores("pagerank", accounts, signals.pagerank, version=version)
    store.write_scores("seeded_pagerank", accounts, signals.seeded_score, version=version)
    store.write_scores("community", accounts, signals.community.astype(np.float64), version=version)


__all__ = [
    "ENTITY_RISK_SCHEMA",
    "EVIDENCE_TYPE",
    "STAGED_TABLES",
    "TYPOLOGIES",
    "AnalysisConfig",
    "AnalysisResult",
    "StagedAnalysis",
    "analyse",
    "evidence_risk",
    "read_staged_analysis",
    "stage_analysis",
]
