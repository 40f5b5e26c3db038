"""Training examples from the store's labels: a time split, supervised or positive-unlabelled.

A bank confirms fraud (chargebacks, SARs, investigator verdicts) but rarely confirms that
an account is legitimate: most accounts are simply unlabelled. :func:`time_split` picks
the label mode (:class:`LabelMode`) from the labels it is given:

``supervised``
    Enough ``legit`` labels in every part: the latest label of every labelled account is
    split by label time (the oldest ``train_fraction`` train, the next ``val_fraction``
    validate, the newest test), fraud against legit.
``positive_unlabelled``
    Legit labels missing or too few: the fraud labels (positives) alone are split by
    label time, and each part gets its own sample of **unlabelled** accounts (no label
    of any kind) as negatives, ``unlabelled_per_positive`` per positive. Legit labels,
    when there are any, go to the part of their label time as true negatives (weighted
    above unlabelled ones by the loss, :mod:`gnn.pu`); they are never required.

Point in time. Every example is read on the latest feature snapshot at or before its
reference time: the label time of a labelled account. An unlabelled negative has no label
time, so it is given one: a **reference time drawn from the label times of its part's
positives** (uniformly, with replacement), so negatives and positives of a part are read
on the same snapshots and no negative sees links first seen after its reference time.
Only accounts with a link first seen before that snapshot's cutoff are drawn (an account
that does not exist yet would be a trivially easy negative). Each part draws its own
negatives and no account is in two parts (nor is any labelled account an unlabelled
negative). One consequence is worth stating: an account labelled fraud later than a part
is not drawn as that part's unlabelled negative, so the held-out figures are read on
slightly cleaner negatives than a model trained at that time would have had.

Too few labels. Training needs ``min_fraud`` fraud labels in all and ``min_per_class`` in
each part (and, supervised, ``min_per_class`` legit labels per part); otherwise
:class:`TooFewLabels` says how many there are, in one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import InvalidInput
from graph_service.labels import account_label_table, latest_account_labels
from graph_service.model import NODE_TYPE_CODE, NodeType

log = logging.getLogger(__name__)

#: Names of the split's parts, oldest first.
PARTS: Final[tuple[str, ...]] = ("train", "val", "test")

_PART_NAMES: Final = {"train": "train", "val": "validation", "test": "test"}

#: ``label`` of an unlabelled negative in :attr:`LabelSplit.labels`.
UNLABELLED: Final = "unlabelled"


class LabelMode(StrEnum):
    """How examples are made from labels.

    ``auto`` is a request only: a split is always ``supervised`` or
    ``positive_unlabelled``.
    """

    AUTO = "auto"
    SUPERVISED = "supervised"
    POSITIVE_UNLABELLED = "positive_unlabelled"


class ExampleKind(IntEnum):
    """Where a training example comes from."""

    LEGIT = 0
    FRAUD = 1
    UNLABELLED = 2


class TooFewLabels(InvalidInput):
    """The store holds too few labels to train and evaluate a model."""

    code = "too_few_labels"


@dataclass(frozen=True, slots=True)
class SplitConfig:
    """How labels become training, validation and test examples.

    Parameters
    ----------
    train_fraction : float
        Oldest share of the labels (of the fraud labels, positive-unlabelled) used for
        training (0.6).
    val_fraction : float
        Next share, for early stopping and model selection (0.2); the newest rest tests.
    min_per_class : int
        Fraud labels each part needs, and legit labels each part needs to train
        supervised (3).
    snapshots : int
        Feature snapshots taken at label-time quantiles (16). Every example is read on the
        latest snapshot at or before its own reference time, so its features and sampled
        neighbourhood hold only links first seen before it was labelled.
    label_mode : LabelMode
        ``auto`` (default): supervised when every part has ``min_per_class`` legit labels,
        positive-unlabelled otherwise.
    min_fraud : int
        Fraud labels needed in all (15).
    unlabelled_per_positive : float
        Unlabelled negatives drawn per fraud label of a part (20), positive-unlabelled.
    seed : int
        Seeds the draw of unlabelled negatives (the same store gives the same split
        whatever the model's seed, so champion and challenger meet on the same examples).
    """

    train_fraction: float = 0.6
    val_fraction: float = 0.2
    min_per_class: int = 3
    snapshots: int = 16
    label_mode: LabelMode = LabelMode.AUTO
    min_fraud: int = 15
    unlabelled_per_positive: float = 20.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.train_fraction < 1 and 0 < self.val_fraction < 1) or (
            self.train_fraction + self.val_fraction >= 1
        ):
            raise InvalidInput("train_fraction and val_fraction must be in (0, 1) and sum below 1")
        if self.min_per_class < 1 or self.min_fraud < 1:
            raise InvalidInput("min_per_class and min_fraud must be >= 1")
        if self.unlabelled_per_positive <= 0:
            raise InvalidInput("unlabelled_per_positive must be > 0")


@dataclass(frozen=True)
class AccountFirstSeen:
    """When each account first appears in the graph: its oldest link's first-seen time.

    Attributes
    ----------
    ids : ndarray of int64
        Account store ids, ascending.
    first_us : ndarray of int64
        First-seen time (µs) of each account's oldest link; int64 max for an account
        without links.
    """

    ids: np.ndarray
    first_us: np.ndarray

    @classmethod
    def of(cls, nodes: pa.Table, links: pa.Table) -> AccountFirstSeen:
        """The accounts of an export and their oldest link's time.

        Parameters
        ----------
        nodes, links : pa.Table
            ``export_nodes()`` and ``export_links()``.

        Returns
        -------
        AccountFirstSeen

        Notes
        -----
        O(N + L log N): one pass over the links' two endpoints.
        """
        node_ids = nodes.column("id").to_numpy().astype(np.int64)
        node_type = nodes.column("type").to_numpy().astype(np.int64)
        ids = np.sort(node_ids[node_type == NODE_TYPE_CODE[NodeType.ACCOUNT]])
        first = np.full(ids.shape[0], np.iinfo(np.int64).max, np.int64)
        if ids.shape[0] and links.num_rows:
            when = links.column("first_ts").cast(pa.int64()).to_numpy()
            for column in ("src", "dst"):
                end = links.column(column).to_numpy().astype(np.int64)
                position = np.minimum(np.searchsorted(ids, end), ids.shape[0] - 1)
                is_account = ids[position] == end
                np.minimum.at(first, position[is_account], when[is_account])
        return cls(ids=ids, first_us=first)


@dataclass(frozen=True)
class LabelSplit:
    """Examples split by reference time.

    Attributes
    ----------
    mode : LabelMode
        ``supervised`` or ``positive_unlabelled``.
    train_ids, val_ids, test_ids : ndarray of int64
        Store ids of the accounts in each part.
    train_y, val_y, test_y : ndarray of float32
        1 = fraud, 0 = legit or unlabelled.
    train_kind, val_kind, test_kind : ndarray of int8
        :class:`ExampleKind` of each example.
    train_ts, val_ts, test_ts : ndarray of int64
        Reference times (µs): the label time, or the time drawn for an unlabelled
        negative.
    train_cutoff_us : int
        First validation label time: every training label is older.
    test_cutoff_us : int
        First test label time: every validation label is older.
    labels : pa.Table
        ``entity_id, label, ts, author, split``: the latest label of every labelled
        account with the part it went to, and every unlabelled negative (``label``
        ``unlabelled``, ``ts`` its reference time, ``author`` null).
    cutoffs_us : ndarray of int64
        Ascending snapshot times (the first is the oldest label time); see
        :meth:`snapshot_of`.
    """

    mode: LabelMode
    train_ids: np.ndarray
    train_y: np.ndarray
    train_kind: np.ndarray
    train_ts: np.ndarray
    val_ids: np.ndarray
    val_y: np.ndarray
    val_kind: np.ndarray
    val_ts: np.ndarray
    test_ids: np.ndarray
    test_y: np.ndarray
    test_kind: np.ndarray
    test_ts: np.ndarray
    train_cutoff_us: int
    test_cutoff_us: int
    labels: pa.Table
    cutoffs_us: np.ndarray

    def snapshot_of(self, ts: np.ndarray) -> np.ndarray:
        """Index of the latest snapshot at or before each reference time."""
        index = np.searchsorted(self.cutoffs_us, ts, side="right") - 1
        return np.maximum(index, 0)

    def counts(self) -> dict[str, dict[str, int]]:
        """Fraud, legit and unlabelled examples per part."""
        out = {}
        for part in PARTS:
            kind = getattr(self, f"{part}_kind")
            out[part] = {
                "fraud": int(np.sum(kind == ExampleKind.FRAUD)),
                "legit": int(np.sum(kind == ExampleKind.LEGIT)),
                "unlabelled": int(np.sum(kind == ExampleKind.UNLABELLED)),
            }
        return out

    def labelled_rows(self) -> int:
        """Labelled accounts the split holds (unlabelled negatives aside)."""
        return int(np.sum(pc.not_equal(self.labels.column("label"), UNLABELLED).to_numpy()))


def time_split(
    labels: pa.Table,
    config: SplitConfig | None = None,
    *,
    accounts: AccountFirstSeen | None = None,
) -> LabelSplit:
    """Split the labels into train / validation / test examples by time.

    Parameters
    ----------
    labels : pa.Table
        ``store.labels()``.
    config : SplitConfig, optional
    accounts : AccountFirstSeen, optional
        Every account and when it first appears; needed to draw unlabelled negatives
        (positive-unlabelled mode).

    Returns
    -------
    LabelSplit

    Raises
    ------
    TooFewLabels
        If there are fewer than ``min_fraud`` fraud labels or fewer than ``min_per_class``
        in a part (supervised: also of legit labels); the message gives the counts.
    InvalidInput
        If positive-unlabelled training is needed and ``accounts`` is not given.

    Notes
    -----
    O(l log l + A log A) for l labels and A accounts. A label whose time equals a part
    boundary goes to the later part, so no training label is as recent as the snapshot
    it is read on.

    Examples
    --------
    >>> labels = pa.table({"entity_id": [1, 2, 3], "entity_type": ["Account"] * 3,
    ...                    "label": ["fraud"] * 3, "ts": [1, 2, 3]})
    >>> time_split(labels)
    Traceback (most recent call last):
    gnn.labels.TooFewLabels: too few fraud labels to train: 3 fraud (train 1, validation 1, \
test 1) and 0 legit; needs 15 fraud labels in all and 3 in each part
    """
    config = config or SplitConfig()
    latest = latest_account_labels(labels)
    ts = latest.column("ts").to_numpy()
    fraud = np.asarray(pc.equal(latest.column("label"), "fraud").to_numpy(zero_copy_only=False))
    supervised_part = _parts(ts, ts, config)
    fraud_per_part = [int(np.sum(fraud & (supervised_part == p))) for p in range(3)]
    legit_per_part = [int(np.sum(~fraud & (supervised_part == p))) for p in range(3)]
    enough_for_supervised = (
        int(fraud.sum()) >= config.min_fraud
        and min(fraud_per_part) >= config.min_per_class
        and min(legit_per_part) >= config.min_per_class
    )
    if config.label_mode == LabelMode.SUPERVISED or (
        config.label_mode == LabelMode.AUTO and enough_for_supervised
    ):
        if not enough_for_supervised:
            raise TooFewLabels(
                f"too few labels to train supervised: {_counts_text(fraud_per_part, 'fraud')}, "
                f"{_counts_text(legit_per_part, 'legit')}; needs {config.min_fraud} fraud labels "
                f"in all and {config.min_per_class} of each class in each part (add labels, or "
                f"train positive-unlabelled)"
            )
        kind = np.where(fraud, ExampleKind.FRAUD, ExampleKind.LEGIT).astype(np.int8)
        return _assemble(LabelMode.SUPERVISED, latest, kind, supervised_part, ts, config)
    fraud_ts = np.sort(ts[fraud])
    part = _parts(ts, fraud_ts, config)
    pu_fraud = [int(np.sum(fraud & (part == p))) for p in range(3)]
    if int(fraud.sum()) < config.min_fraud or min(pu_fraud) < config.min_per_class:
        raise TooFewLabels(
            f"too few fraud labels to train: {_counts_text(pu_fraud, 'fraud')} and "
            f"{int((~fraud).sum())} legit; needs {config.min_fraud} fraud labels in all and "
            f"{config.min_per_class} in each part"
        )
    if accounts is None:
        raise InvalidInput("positive-unlabelled training needs the accounts to draw negatives from")
    kind = np.where(fraud, ExampleKind.FRAUD, ExampleKind.LEGIT).astype(np.int8)
    return _assemble(
        LabelMode.POSITIVE_UNLABELLED, latest, kind, part, ts, config, accounts=accounts
    )


def _parts(ts: np.ndarray, reference: np.ndarray, config: SplitConfig) -> np.ndarray:
    """Part (0 train, 1 validation, 2 test) of each time, with boundaries at the
    ``train_fraction`` and ``train_fraction + val_fraction`` quantiles of ``reference``
    (ascending)."""
    n = reference.shape[0]
    if n == 0:
        return np.zeros(ts.shape[0], np.int64)
    t1, t2 = _boundaries(reference, config)
    return np.where(ts < t1, 0, np.where(ts < t2, 1, 2))


def _boundaries(reference: np.ndarray, config: SplitConfig) -> tuple[int, int]:
    n = reference.shape[0]
    t1 = int(reference[min(int(n * config.train_fraction), n - 1)])
    t2 = int(reference[min(int(n * (config.train_fraction + config.val_fraction)), n - 1)])
    return t1, t2


def _counts_text(per_part: list[int], noun: str) -> str:
    parts = ", ".join(f"{_PART_NAMES[p]} {c}" for p, c in zip(PARTS, per_part, strict=True))
    return f"{sum(per_part)} {noun} ({parts})"


def _assemble(
    mode: LabelMode,
    latest: pa.Table,
    kind: np.ndarray,
    part: np.ndarray,
    ts: np.ndarray,
    config: SplitConfig,
    *,
    accounts: AccountFirstSeen | None = None,
) -> LabelSplit:
    """The :class:`LabelSplit` of labelled rows assigned to parts, plus (PU) each part's
    unlabelled negatives."""
    ids = latest.column("entity_id").to_numpy()
    n = ids.shape[0]
    reference = np.sort(ts[kind == ExampleKind.FRAUD]) if mode != LabelMode.SUPERVISED else ts
    t1, t2 = _boundaries(reference, config)
    quantiles = np.linspace(0.0, 1.0, max(config.snapshots, 1), endpoint=False)
    cutoffs = np.unique(ts[np.minimum((quantiles * n).astype(np.int64), n - 1)]).astype(np.int64)
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
        (ids[part == p], kind[part == p], ts[part == p]) for p in range(3)
    ]
    extra: list[tuple[np.ndarray, np.ndarray, str]] = []
    if mode == LabelMode.POSITIVE_UNLABELLED:
        assert accounts is not None
        drawn = _draw_unlabelled(rows, ids, accounts, cutoffs, config)
        for p, (negative_ids, negative_ts) in enumerate(drawn):
            part_ids, part_kind, part_ts = rows[p]
            unlabelled = np.full(negative_ids.shape[0], ExampleKind.UNLABELLED, np.int8)
            rows[p] = (
                np.concatenate([part_ids, negative_ids]),
                np.concatenate([part_kind, unlabelled]),
                np.concatenate([part_ts, negative_ts]),
            )
            extra.append((negative_ids, negative_ts, PARTS[p]))
    split_names = np.array(PARTS)[part]
    table = latest.append_column("split", pa.array(split_names, pa.string()))
    if extra:
        negatives = pa.concat_tables(
            account_label_table(
                negative_ids,
                pa.array(np.full(negative_ids.shape[0], UNLABELLED, object), pa.string()),
                negative_ts,
                None,
            ).append_column("split", pa.array([name] * negative_ids.shape[0], pa.string()))
            for negative_ids, negative_ts, name in extra
        )
        table = pa.concat_tables([table, negatives]).sort_by(
            [("ts", "ascending"), ("entity_id", "ascending")]
        )
    split = LabelSplit(
        mode=mode,
        train_ids=rows[0][0],
        train_y=(rows[0][1] == ExampleKind.FRAUD).astype(np.float32),
        train_kind=rows[0][1],
        train_ts=rows[0][2],
        val_ids=rows[1][0],
        val_y=(rows[1][1] == ExampleKind.FRAUD).astype(np.float32),
        val_kind=rows[1][1],
        val_ts=rows[1][2],
        test_ids=rows[2][0],
        test_y=(rows[2][1] == ExampleKind.FRAUD).astype(np.float32),
        test_kind=rows[2][1],
        test_ts=rows[2][2],
        train_cutoff_us=t1,
        test_cutoff_us=t2,
        labels=table,
        cutoffs_us=cutoffs,
    )
    log.info("labels split", extra={"mode": mode.value, "counts": split.counts()})
    return split


def _draw_unlabelled(
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    labelled: np.ndarray,
    accounts: AccountFirstSeen,
    cutoffs: np.ndarray,
    config: SplitConfig,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each part's unlabelled negatives and their reference times.

    Reference times are drawn with replacement from the part's fraud label times; an
    account is eligible for a reference time when it has a link first seen before the
    cutoff of the snapshot that time is read on, carries no label and is not already a
    negative of another part. When the accounts are too few for every part's
    ``unlabelled_per_positive``, every part's share shrinks in proportion.

    Notes
    -----
    O(A log A + u) for A accounts and u draws: a few vectorised rounds of uniform draws
    among the eligible prefix of the accounts sorted by first-seen time.
    """
    rng = np.random.default_rng(config.seed)
    pool = ~np.isin(accounts.ids, labelled) & (accounts.first_us < np.iinfo(np.int64).max)
    order = np.argsort(accounts.first_us[pool], kind="stable")
    pool_ids = accounts.ids[pool][order]
    pool_first = accounts.first_us[pool][order]
    positives = [int(np.sum(kind == ExampleKind.FRAUD)) for _, kind, _ in rows]
    wanted = [round(config.unlabelled_per_positive * p) for p in positives]
    if sum(wanted) > pool_ids.shape[0]:
        scale = pool_ids.shape[0] / sum(wanted)
        wanted = [int(w * scale) for w in wanted]
    used = np.zeros(pool_ids.shape[0], bool)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for (_, kind, ts), n in zip(rows, wanted, strict=True):
        fraud_ts = ts[kind == ExampleKind.FRAUD]
        reference = rng.choice(fraud_ts, size=n, replace=True) if n else fraud_ts[:0]
        snapshot = np.maximum(np.searchsorted(cutoffs, reference, side="right") - 1, 0)
        eligible = np.searchsorted(pool_first, cutoffs[snapshot], side="left")
        chosen = np.full(n, -1, np.int64)
        pending = np.flatnonzero(eligible > 0)
        for _ in range(16):
            if pending.shape[0] == 0:
                break
            draw = (rng.random(pending.shape[0]) * eligible[pending]).astype(np.int64)
            free = ~used[draw]
            unique, first = np.unique(draw[free], return_index=True)
            winners = pending[free][first]
            chosen[winners] = unique
            used[unique] = True
            pending = pending[chosen[pending] < 0]
        got = chosen >= 0
        out.append((pool_ids[chosen[got]], reference[got].astype(np.int64)))
    return out
