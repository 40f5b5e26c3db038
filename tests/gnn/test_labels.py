"""Examples from labels: the supervised time split, the positive-unlabelled one, refusals."""

from __future__ import annotations

from datetime import timedelta
from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gnn.labels import (
    PARTS,
    UNLABELLED,
    AccountFirstSeen,
    ExampleKind,
    LabelMode,
    SplitConfig,
    TooFewLabels,
    time_split,
)
from graph_service.errors import InvalidInput
from graph_service.labels import latest_account_labels
from graph_service.model import NODE_TYPE_CODE, NodeType
from tests.gnn.graphs import fraud_only, planted_graph


def test_time_split_orders_parts_by_label_time() -> None:
    """Training labels are older than validation ones, which are older than test ones;
    every example's snapshot is at or before its own label time."""
    g = planted_graph()
    split = time_split(g.labels)
    assert split.mode == LabelMode.SUPERVISED
    assert split.train_ts.max() < split.val_ts.min() <= split.val_ts.max() < split.test_ts.min()
    assert split.train_cutoff_us == split.val_ts.min()
    for ts in (split.train_ts, split.val_ts, split.test_ts):
        assert np.all(split.cutoffs_us[split.snapshot_of(ts)] <= ts)
    counts = split.counts()
    assert all(part["fraud"] > 0 and part["legit"] > 0 for part in counts.values())
    assert all(part["unlabelled"] == 0 for part in counts.values())
    assert split.labels.column("split").to_pylist().count("train") == split.train_ids.shape[0]


def test_too_few_fraud_labels_are_refused_with_the_counts() -> None:
    """Fewer fraud labels than a part needs raises TooFewLabels giving the counts per part;
    bad fractions are refused by the configuration."""
    g = planted_graph(legit=40, rings=1)
    with pytest.raises(TooFewLabels, match=r"4 fraud \(train 2, validation 1, test 1\)"):
        time_split(g.labels, SplitConfig(min_per_class=3))
    with pytest.raises(InvalidInput, match="fraction"):
        SplitConfig(train_fraction=0.9, val_fraction=0.2)


def test_too_few_labels_in_all_are_refused_even_if_every_part_has_some() -> None:
    """12 fraud labels (7 / 2 / 3) are below the 15 needed in all and the 3 per part; with
    lower minimums they train. The message is one line naming both minimums."""
    g = planted_graph(legit=60, rings=3)
    accounts = AccountFirstSeen.of(g.nodes, g.links)
    with pytest.raises(TooFewLabels) as refused:
        time_split(fraud_only(g.labels), accounts=accounts)
    message = str(refused.value)
    assert "12 fraud (train 7, validation 2, test 3) and 0 legit" in message
    assert "needs 15 fraud labels in all and 3 in each part" in message
    assert "\n" not in message
    lenient = SplitConfig(min_fraud=10, min_per_class=2)
    assert time_split(fraud_only(g.labels), lenient, accounts=accounts).counts()["val"]["fraud"]


def test_no_labels_at_all_are_refused_with_the_counts() -> None:
    """An empty label table is TooFewLabels, saying there are none."""
    g = planted_graph(legit=10, rings=1)
    with pytest.raises(TooFewLabels, match=r"0 fraud \(train 0, validation 0, test 0\)"):
        time_split(g.labels.slice(0, 0), accounts=AccountFirstSeen.of(g.nodes, g.links))


def test_supervised_on_request_needs_legit_labels() -> None:
    """Asking for a supervised split of fraud-only labels is refused, naming the legit
    count; positive-unlabelled without the accounts to draw from is refused too."""
    g = planted_graph()
    with pytest.raises(TooFewLabels, match=r"0 legit \(train 0"):
        time_split(fraud_only(g.labels), SplitConfig(label_mode=LabelMode.SUPERVISED))
    with pytest.raises(InvalidInput, match="accounts"):
        time_split(fraud_only(g.labels))


def test_fraud_only_labels_give_a_positive_unlabelled_split() -> None:
    """Fraud labels split by label time; each part draws its own unlabelled negatives: no
    account in two parts, none labelled, each read at a reference time taken from its own
    part's fraud label times and existing (a link) before its snapshot's cutoff."""
    g = planted_graph()
    accounts = AccountFirstSeen.of(g.nodes, g.links)
    split = time_split(fraud_only(g.labels), accounts=accounts)
    assert split.mode == LabelMode.POSITIVE_UNLABELLED
    counts = split.counts()
    assert [counts[p]["fraud"] for p in PARTS] == [24, 8, 8]
    assert all(counts[p]["legit"] == 0 and counts[p]["unlabelled"] > 0 for p in PARTS)
    # 160 unlabelled accounts for 20 per positive: every part's share shrinks alike.
    assert sum(counts[p]["unlabelled"] for p in PARTS) <= len(g.legit)
    fraud_ts = {p: getattr(split, f"{p}_ts")[getattr(split, f"{p}_kind") == 1] for p in PARTS}
    assert fraud_ts["train"].max() < fraud_ts["val"].min() <= fraud_ts["val"].max()
    assert fraud_ts["val"].max() < fraud_ts["test"].min()
    for a, b in combinations(PARTS, 2):
        assert not set(getattr(split, f"{a}_ids")) & set(getattr(split, f"{b}_ids"))
    for part in PARTS:
        ids, ts, kind = (getattr(split, f"{part}_{name}") for name in ("ids", "ts", "kind"))
        assert np.unique(ids).shape[0] == ids.shape[0]
        unlabelled = kind == ExampleKind.UNLABELLED
        assert not set(ids[unlabelled]) & set(g.fraud)
        assert np.all(np.isin(ts[unlabelled], fraud_ts[part]))
        cutoff = split.cutoffs_us[split.snapshot_of(ts[unlabelled])]
        assert np.all(cutoff <= ts[unlabelled])
        first = accounts.first_us[np.searchsorted(accounts.ids, ids[unlabelled])]
        assert np.all(first < cutoff)
        np.testing.assert_array_equal(getattr(split, f"{part}_y") == 1, kind == ExampleKind.FRAUD)
    table = split.labels
    assert table.column("label").to_pylist().count(UNLABELLED) == sum(
        counts[p]["unlabelled"] for p in PARTS
    )
    assert split.labelled_rows() == len(g.fraud)


def test_few_legit_labels_are_true_negatives_of_a_positive_unlabelled_split() -> None:
    """Four legit labels are too few for a supervised split; they become legit examples
    of the part of their label time, and no legit account is drawn as unlabelled."""
    g = planted_graph()
    labels = fraud_only(g.labels, keep_legit=4)
    split = time_split(labels, accounts=AccountFirstSeen.of(g.nodes, g.links))
    assert split.mode == LabelMode.POSITIVE_UNLABELLED
    assert sum(part["legit"] for part in split.counts().values()) == 4
    latest = latest_account_labels(labels)
    is_legit = pc.equal(latest.column("label"), "legit")
    legit = set(latest.filter(is_legit).column("entity_id").to_pylist())
    for part in PARTS:
        ids, kind = getattr(split, f"{part}_ids"), getattr(split, f"{part}_kind")
        assert set(ids[kind == ExampleKind.LEGIT]) <= legit
        assert not set(ids[kind == ExampleKind.UNLABELLED]) & legit


def test_the_unlabelled_draw_is_seeded() -> None:
    """The same configuration draws the same negatives; another split seed, others."""
    g = planted_graph(legit=400, rings=10)
    accounts = AccountFirstSeen.of(g.nodes, g.links)
    labels = fraud_only(g.labels)
    first, again = (time_split(labels, accounts=accounts) for _ in range(2))
    other = time_split(labels, SplitConfig(seed=1), accounts=accounts)
    assert np.array_equal(first.train_ids, again.train_ids)
    assert not np.array_equal(first.train_ids, other.train_ids)


def test_first_seen_is_the_oldest_link_of_either_end() -> None:
    """An account's first-seen time is its oldest link as source or target; an account
    without links is never eligible."""
    g = planted_graph(legit=10, rings=1)
    accounts = AccountFirstSeen.of(g.nodes, g.links)
    account = NODE_TYPE_CODE[NodeType.ACCOUNT]
    created = {r["id"]: r["first_ts"] for r in g.nodes.to_pylist() if r["type"] == account}
    for account_id, first_us in zip(accounts.ids, accounts.first_us, strict=True):
        assert first_us == _us(created[int(account_id)])
    empty = AccountFirstSeen.of(g.nodes, g.links.slice(0, 0))
    assert np.all(empty.first_us == np.iinfo(np.int64).max)


def test_the_latest_label_of_an_account_wins() -> None:
    """An account relabelled legit after a fraud label counts as legit."""
    g = planted_graph(legit=10, rings=1)
    first = g.labels.slice(0, 1).to_pylist()[0]
    relabel = dict(first, label="fraud" if first["label"] == "legit" else "legit")
    relabel["ts"] = first["ts"] + timedelta(days=1)
    table = pa.concat_tables([g.labels, pa.Table.from_pylist([relabel], schema=g.labels.schema)])
    latest = latest_account_labels(table)
    assert latest.num_rows == g.labels.num_rows
    row = latest.filter(pc.equal(latest.column("entity_id"), first["entity_id"]))
    assert row.column("label").to_pylist() == [relabel["label"]]


def _us(when: object) -> int:
    return int(pa.scalar(when, pa.timestamp("us", tz="UTC")).cast(pa.int64()).as_py())
