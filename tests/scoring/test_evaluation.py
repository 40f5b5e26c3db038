"""Ring-detection evaluation: truth loading, key resolution, metrics and their edge cases.

Recall, precision and Jaccard are checked on tiny hand-computed cases (a Jaccard of
exactly 0.5 counts as a match) and against a brute-force set oracle on random clusters;
ROC-AUC and average precision against scikit-learn on random data with ties.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from graph_service import InvalidInput, NodeType
from graph_service.embedded.store import EmbeddedStore
from ingestion.loader import Ingestor
from ingestion.normalise import WHITESPACE, normalise_key
from scoring.evaluation import (
    EvaluationReport,
    account_ids,
    average_precision,
    evaluate,
    format_table,
    legit_heavy_sharers,
    load_truth,
    resolve_truth,
    roc_auc,
    table_rows,
)
from scoring.evaluation.truth import _trim
from tests.conftest import GOOD_EVENTS, write_rows

HEADER = "ring_id,typology,account_id"


def write_text(tmp_path: Path, text: str, name: str = "truth.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def clusters(*sets: list[int]) -> pa.Table:
    """A flagged-clusters table in the pipeline's shape."""
    return pa.table(
        {
            "ring_id": [f"c{i}" for i in range(len(sets))],
            "members": pa.array([list(s) for s in sets], pa.list_(pa.int64())),
            "score": [1.0] * len(sets),
        }
    )


def truth_table(rings: dict[str, tuple[str, list[int | None]]]) -> pa.Table:
    """A resolved truth table from ``{ring_id: (typology, ids)}``."""
    rows = [
        {"ring_id": ring, "typology": typology, "id": member}
        for ring, (typology, members) in rings.items()
        for member in members
    ]
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema([("ring_id", pa.string()), ("typology", pa.string()), ("id", pa.int64())]),
    )


NO_SCORES = pa.table({"id": pa.array([], pa.int64()), "risk": pa.array([], pa.float64())})


def scores(mapping: dict[int, float]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(list(mapping), pa.int64()),
            "risk": pa.array(list(mapping.values()), pa.float64()),
        }
    )


# ---------------------------------------------------------------------- load_truth


def test_load_truth_reads_any_rings_in_file_order(tmp_path: Path) -> None:
    """Columns in any order and case, extra columns ignored, values trimmed, text kept as
    text (leading zeros), unknown typologies accepted, quoted commas intact."""
    path = write_text(
        tmp_path,
        "Account_ID ,note,TYPOLOGY,ring_id\n"
        " 007 ,x,round_tripping,R2\n"
        '"A,1",,smurfing ,R1\n'
        "B2,y,smurfing,R1\n",
    )
    truth = load_truth(path)
    assert truth.column_names == ["ring_id", "typology", "account_id"]
    assert truth.to_pylist() == [
        {"ring_id": "R2", "typology": "round_tripping", "account_id": "007"},
        {"ring_id": "R1", "typology": "smurfing", "account_id": "A,1"},
        {"ring_id": "R1", "typology": "smurfing", "account_id": "B2"},
    ]


def test_load_truth_reads_bom_crlf_and_gzip(tmp_path: Path) -> None:
    """A spreadsheet export (byte-order mark, CRLF) and a gzip-compressed file load."""
    import gzip

    text = "\ufeff" + HEADER + "\r\nR1,t,A1\r\n"
    plain = tmp_path / "truth.csv"
    plain.write_bytes(text.encode("utf-8"))
    packed = tmp_path / "truth.csv.gz"
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    expected = [{"ring_id": "R1", "typology": "t", "account_id": "A1"}]
    assert load_truth(plain).to_pylist() == expected
    assert load_truth(packed).to_pylist() == expected


def test_load_truth_reads_parquet_with_numeric_columns(tmp_path: Path) -> None:
    """A Parquet file is recognised by its content, and integer ids become text."""
    path = tmp_path / "truth.data"
    pq.write_table(
        pa.table({"ring_id": [1, 1], "typology": ["mule", "mule"], "account_id": [10, 11]}),
        path,
    )
    assert load_truth(path).to_pylist() == [
        {"ring_id": "1", "typology": "mule", "account_id": "10"},
        {"ring_id": "1", "typology": "mule", "account_id": "11"},
    ]


def test_load_truth_rejects_a_missing_file(tmp_path: Path) -> None:
    """A path that is not a file is an InvalidInput naming it."""
    with pytest.raises(InvalidInput, match=r"nope\.csv: ground-truth file not found"):
        load_truth(tmp_path / "nope.csv")


def test_load_truth_rejects_an_empty_file(tmp_path: Path) -> None:
    """A zero-byte file is an InvalidInput naming it."""
    with pytest.raises(InvalidInput, match=r"truth\.csv: ground-truth file is empty"):
        load_truth(write_text(tmp_path, ""))


def test_load_truth_rejects_a_header_without_rows(tmp_path: Path) -> None:
    """A header and no data is an InvalidInput, not an empty truth."""
    with pytest.raises(InvalidInput, match="has no data rows"):
        load_truth(write_text(tmp_path, HEADER + "\n"))


def test_load_truth_rejects_a_missing_column(tmp_path: Path) -> None:
    """The error names the file and the missing column."""
    with pytest.raises(
        InvalidInput, match=r"truth\.csv: ground-truth file lacks column\(s\) \['typology'\]"
    ):
        load_truth(write_text(tmp_path, "ring_id,account_id\nR1,A1\n"))


def test_load_truth_rejects_a_parquet_file_without_a_column(tmp_path: Path) -> None:
    """Parquet input is checked like CSV."""
    path = tmp_path / "truth.parquet"
    pq.write_table(pa.table({"ring_id": ["R"], "account_id": ["A"]}), path)
    with pytest.raises(InvalidInput, match=r"truth\.parquet: ground-truth file lacks"):
        load_truth(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("R1,t,A1\nR1,t,\n", r"blank account_id in data row\(s\) 2$"),
        ("R1,t,A1\n  ,t,A2\nR1,t,A3\n", r"blank ring_id in data row\(s\) 2$"),
        ('R1,"  ",A1\n', r"blank typology in data row\(s\) 1$"),
    ],
)
def test_load_truth_rejects_blank_values_with_row_numbers(
    tmp_path: Path, body: str, message: str
) -> None:
    """Empty or whitespace-only values are errors quoting 1-based data rows."""
    with pytest.raises(InvalidInput, match=r"truth\.csv: " + message):
        load_truth(write_text(tmp_path, HEADER + "\n" + body))


def test_load_truth_rejects_duplicate_members_with_row_numbers(tmp_path: Path) -> None:
    """The same account twice in one ring (also once trimmed) names the repeat and the
    first row; the same account in two rings is allowed."""
    body = "R1,t,A1\nR2,t,A1\nR1,t, A1 \nR1,t,A2\n"
    with pytest.raises(
        InvalidInput, match=r"duplicate .* data row\(s\) 3 \(first seen in data row\(s\) 1\)"
    ):
        load_truth(write_text(tmp_path, HEADER + "\n" + body))


def test_load_truth_rejects_a_ring_with_two_typologies(tmp_path: Path) -> None:
    """Per-typology figures need one typology per ring."""
    body = "R1,mule,A1\nR1,farm,A2\nR2,farm,A3\n"
    with pytest.raises(
        InvalidInput, match=r"\['R1'\] have more than one typology \(data rows 1, 2\)"
    ):
        load_truth(write_text(tmp_path, HEADER + "\n" + body))


def test_load_truth_rejects_a_malformed_csv(tmp_path: Path) -> None:
    """A row with too many fields is an InvalidInput naming the file."""
    with pytest.raises(InvalidInput, match=r"truth\.csv: not a readable CSV"):
        load_truth(write_text(tmp_path, HEADER + "\nR1,t,A1,extra,fields\n"))


def test_load_truth_reads_the_generator_truth(tmp_path: Path) -> None:
    """The scenario generator's truth.csv loads with every row."""
    from ingestion.synthetic import ScenarioConfig, generate_scenario

    summary = generate_scenario(ScenarioConfig(accounts=1_000, seed=3), tmp_path / "scenario")
    truth = load_truth(summary.truth_path)
    assert truth.num_rows == summary.ring_accounts


# ------------------------------------------------------------------- resolve_truth


@given(st.text(alphabet=st.sampled_from([*WHITESPACE[:8], "\u3000", "\ufeff", "a", "B", "-", "0"])))
def test_resolved_keys_equal_ingestion_keys(raw: str) -> None:
    """Any truth key is trimmed exactly as ``normalise_key`` trims it (blank -> null)."""
    truth = pa.table({"ring_id": ["R"], "typology": ["t"], "account_id": [raw]})
    assert _trim(truth.column("account_id")).to_pylist() == [normalise_key(raw)]


@pytest.fixture
def good_store(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
    try:
        ingestor.run([write_rows(tmp_path / "events.csv", GOOD_EVENTS)])
    finally:
        ingestor.close()
    return store


def test_resolve_truth_normalises_keys_and_keeps_missing_accounts(
    good_store: EmbeddedStore, tmp_path: Path
) -> None:
    """Keys are trimmed like ingestion keys; absent accounts (and keys that name a device,
    not an account) keep their row with a null id."""
    truth = load_truth(
        write_text(
            tmp_path,
            HEADER + "\nR1,t,\u00a0A1\u3000\nR1,t,A2\nR1,t,A9\nR2,u,D1\n",
        )
    )
    resolved = resolve_truth(truth, good_store)
    a1 = good_store.get_entity(NodeType.ACCOUNT, "A1").id
    a2 = good_store.get_entity(NodeType.ACCOUNT, "A2").id
    assert resolved.column("account_id").to_pylist() == ["A1", "A2", "A9", "D1"]
    assert resolved.column("id").to_pylist() == [a1, a2, None, None]
    good_store.close()


def test_resolve_truth_rejects_blank_keys(good_store: EmbeddedStore) -> None:
    """A hand-built truth table with a blank key is refused, not silently unmatched."""
    truth = pa.table({"ring_id": ["R"], "typology": ["t"], "account_id": [" "]})
    with pytest.raises(InvalidInput, match="blank account_id"):
        resolve_truth(truth, good_store)
    good_store.close()


def test_account_ids_are_the_account_nodes(good_store: EmbeddedStore) -> None:
    """Only Account nodes, sorted (devices, IPs and the rest are not the population)."""
    expected = sorted(good_store.get_entity(NodeType.ACCOUNT, k).id for k in ("A1", "A2", "A3"))
    assert account_ids(good_store).tolist() == expected
    good_store.close()


def test_legit_heavy_sharers_are_non_ring_accounts_on_crowded_identifiers(
    good_store: EmbeddedStore,
) -> None:
    """A1 and A2 share a device, IP, phone, email and address; A3 shares nothing. With
    A1 in a ring only A2 is a legit heavy sharer at min_accounts=2; nobody at 3."""
    a1 = good_store.get_entity(NodeType.ACCOUNT, "A1").id
    a2 = good_store.get_entity(NodeType.ACCOUNT, "A2").id
    truth = truth_table({"R": ("t", [a1, None])})
    assert legit_heavy_sharers(good_store, truth, min_accounts=2).tolist() == [a2]
    assert legit_heavy_sharers(good_store, truth, min_accounts=3).tolist() == []
    with pytest.raises(InvalidInput, match="min_accounts"):
        legit_heavy_sharers(good_store, truth, min_accounts=1)
    with pytest.raises(InvalidInput, match="resolve_truth"):
        legit_heavy_sharers(good_store, truth.drop_columns(["id"]))
    good_store.close()


# -------------------------------------------------------------- recall / precision

ACCOUNTS = np.arange(20)


def test_jaccard_of_exactly_one_half_counts_as_found() -> None:
    """Ring {1,2,3,4}: cluster {1,2} has Jaccard 2/4 = 0.5 and finds it; cluster
    {3,...,9} has 2/9 and does not; precision is 1/2."""
    truth = truth_table({"R": ("t", [1, 2, 3, 4])})
    report = evaluate(clusters([1, 2], [3, 4, 5, 6, 7, 8, 9]), NO_SCORES, truth, accounts=ACCOUNTS)
    assert (report.ring_recall, report.cluster_precision) == (1.0, 0.5)
    assert (report.n_rings, report.n_found, report.n_flagged) == (1, 1, 2)
    assert report.rings.to_pylist() == [
        {"ring_id": "R", "typology": "t", "size": 4, "best_jaccard": 0.5, "found": True}
    ]


def test_a_stricter_threshold_rejects_one_half() -> None:
    """With min_jaccard=0.6 the same cluster no longer matches."""
    truth = truth_table({"R": ("t", [1, 2, 3, 4])})
    report = evaluate(clusters([1, 2]), NO_SCORES, truth, accounts=ACCOUNTS, min_jaccard=0.6)
    assert (report.ring_recall, report.cluster_precision) == (0.0, 0.0)


def test_superset_cluster_at_one_half_and_below() -> None:
    """Ring {1,2,3}: cluster {1..6} has 3/6 = 0.5 (found); {1..7} has 3/7 (not)."""
    truth = truth_table({"R": ("t", [1, 2, 3])})
    found = evaluate(clusters([1, 2, 3, 4, 5, 6]), NO_SCORES, truth, accounts=ACCOUNTS)
    missed = evaluate(clusters([1, 2, 3, 4, 5, 6, 7]), NO_SCORES, truth, accounts=ACCOUNTS)
    assert found.ring_recall == 1.0
    assert missed.ring_recall == 0.0
    assert missed.mean_best_jaccard == pytest.approx(3 / 7)


def test_recall_and_precision_over_several_rings_and_clusters() -> None:
    """Rings A {1,2,3}, B {4,5,6,7}, C {8,9}; clusters {1,2,3} (A), {4,5,10} (2/5 of B),
    {8,9,11} (2/3 of C), {12,13} (nothing): recall 2/3, precision 2/4."""
    truth = truth_table(
        {"A": ("farm", [1, 2, 3]), "B": ("mule", [4, 5, 6, 7]), "C": ("farm", [8, 9])}
    )
    report = evaluate(
        clusters([1, 2, 3], [4, 5, 10], [8, 9, 11], [12, 13]), NO_SCORES, truth, accounts=ACCOUNTS
    )
    assert report.ring_recall == pytest.approx(2 / 3)
    assert report.cluster_precision == 0.5
    assert report.flagged_accounts == 11
    assert report.per_typology["farm"].ring_recall == 1.0
    assert (report.per_typology["farm"].n_rings, report.per_typology["farm"].n_found) == (2, 2)
    assert report.per_typology["mule"].ring_recall == 0.0
    assert report.per_typology["mule"].mean_best_jaccard == pytest.approx(2 / 5)


def test_repeated_members_count_once() -> None:
    """A member listed twice in a cluster is one member: {1,1,2} vs ring {1,2} is 1.0."""
    truth = truth_table({"R": ("t", [1, 2])})
    report = evaluate(clusters([1, 1, 2]), NO_SCORES, truth, accounts=ACCOUNTS)
    assert report.rings.column("best_jaccard").to_pylist() == [1.0]


def test_nothing_flagged_gives_zero_recall_and_undefined_precision() -> None:
    """No cluster: recall 0, precision None (undefined), heavy-sharer FPR 0."""
    truth = truth_table({"R": ("t", [1, 2])})
    report = evaluate(clusters(), NO_SCORES, truth, accounts=ACCOUNTS, heavy_sharers=[5, 6])
    assert (report.ring_recall, report.cluster_precision, report.n_flagged) == (0.0, None, 0)
    assert (report.heavy_sharer_fpr, report.heavy_sharer_clusters) == (0.0, 0)


def test_missing_truth_accounts_are_counted_and_left_out() -> None:
    """Null ids (accounts not in the store) are reported; the ring is judged on the
    members present; a ring with no member present is reported and not evaluated."""
    truth = truth_table({"R": ("t", [1, 2, None]), "GONE": ("u", [None, None])})
    report = evaluate(clusters([1, 2]), NO_SCORES, truth, accounts=ACCOUNTS)
    assert (report.truth_accounts_missing, report.rings_missing) == (3, 1)
    assert (report.n_rings, report.ring_recall) == (1, 1.0)
    assert report.rings.column("ring_id").to_pylist() == ["R"]
    assert report.per_typology["u"].n_rings == 0
    assert report.per_typology["u"].ring_recall is None


@given(
    st.lists(st.lists(st.integers(0, 14), min_size=1, max_size=8), max_size=6),
    st.lists(st.lists(st.integers(0, 14), min_size=1, max_size=8), min_size=1, max_size=5),
    st.sampled_from([0.25, 0.5, 0.75, 1.0]),
)
@settings(max_examples=150, deadline=None)
def test_matching_agrees_with_a_set_oracle(
    flagged_sets: list[list[int]], ring_sets: list[list[int]], threshold: float
) -> None:
    """Recall, precision and best Jaccard equal a brute-force computation with sets."""
    rings = {f"R{i}": ("t", sorted(set(members))) for i, members in enumerate(ring_sets)}
    report = evaluate(
        clusters(*flagged_sets),
        NO_SCORES,
        truth_table(rings),  # type: ignore[arg-type]
        accounts=np.arange(15),
        min_jaccard=threshold,
    )

    def jaccard(a: set[int], b: set[int]) -> float:
        return len(a & b) / len(a | b)

    ring_members = [set(m) for m in ring_sets]
    cluster_members = [set(m) for m in flagged_sets]
    best = [max((jaccard(c, r) for c in cluster_members), default=0.0) for r in ring_members]
    found = [b >= threshold for b in best]
    matching = [any(jaccard(c, r) >= threshold for r in ring_members) for c in cluster_members]
    assert report.ring_recall == pytest.approx(sum(found) / len(found))
    if cluster_members:
        assert report.cluster_precision == pytest.approx(sum(matching) / len(matching))
    else:
        assert report.cluster_precision is None
    by_ring = dict(
        zip(
            report.rings["ring_id"].to_pylist(),
            report.rings["best_jaccard"].to_pylist(),
            strict=True,
        )
    )
    assert [by_ring[f"R{i}"] for i in range(len(ring_sets))] == pytest.approx(best)


# --------------------------------------------------------------------------- AUCs


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=60),
)
@settings(max_examples=200)
def test_auc_and_average_precision_equal_sklearn(pairs: list[tuple[bool, int]]) -> None:
    """On random labels and heavily tied scores both metrics equal scikit-learn's; with a
    single class ROC-AUC is None, and AP is None exactly when there is no positive."""
    labels = np.array([p[0] for p in pairs])
    values = np.array([p[1] / 5 for p in pairs], np.float64)
    if labels.all() or not labels.any():
        assert roc_auc(labels, values) is None
    else:
        assert roc_auc(labels, values) == pytest.approx(roc_auc_score(labels, values), abs=1e-12)
    if not labels.any():
        assert average_precision(labels, values) is None
    else:
        expected = average_precision_score(labels, values)
        assert average_precision(labels, values) == pytest.approx(expected, abs=1e-12)


def test_auc_on_continuous_random_scores_equals_sklearn() -> None:
    """A larger random case with continuous scores."""
    rng = np.random.default_rng(7)
    labels = rng.random(5_000) < 0.05
    values = rng.normal(size=5_000) + labels
    assert roc_auc(labels, values) == pytest.approx(roc_auc_score(labels, values), abs=1e-12)
    assert average_precision(labels, values) == pytest.approx(
        average_precision_score(labels, values), abs=1e-12
    )


def test_account_aucs_score_unscored_accounts_as_zero() -> None:
    """Accounts without a score count as 0; scores of ids that are not accounts (a device's
    risk) are ignored; the figures equal sklearn's on the filled-in vector."""
    truth = truth_table({"R": ("t", [1, 2, 3])})
    given_scores = {1: 0.9, 2: 0.0, 4: 0.7, 5: 0.2, 99: 1.0}
    report = evaluate(clusters(), scores(given_scores), truth, accounts=np.arange(10))
    labels = np.isin(np.arange(10), [1, 2, 3])
    filled = np.array([given_scores.get(i, 0.0) for i in range(10)])
    assert report.roc_auc == pytest.approx(roc_auc_score(labels, filled))
    assert report.pr_auc == pytest.approx(average_precision_score(labels, filled))


def test_per_typology_auc_contrasts_members_with_non_ring_accounts() -> None:
    """The farm ROC-AUC ranks farm members against accounts in no ring; mule members are
    left out of its negatives."""
    truth = truth_table({"F": ("farm", [0, 1]), "M": ("mule", [2, 3])})
    risk = {0: 0.9, 1: 0.1, 2: 0.95, 3: 0.95, 4: 0.5, 5: 0.2}
    report = evaluate(clusters(), scores(risk), truth, accounts=np.arange(6))
    farm = report.per_typology["farm"]
    kept = [0, 1, 4, 5]
    expected = roc_auc_score([1, 1, 0, 0], [risk[i] for i in kept])
    assert farm.roc_auc == pytest.approx(expected)
    assert farm.n_accounts == 2


def test_typology_agreement_reads_the_best_matching_cluster_of_each_found_ring() -> None:
    """Ring F is matched by two clusters, the closer (identical) one named farm: right.
    Ring M is matched by a cluster named farm: wrong. Ring X is not found: left out.
    Without a typology column there is nothing to agree with."""
    truth = truth_table({"F": ("farm", [0, 1, 2]), "M": ("mule", [3, 4]), "X": ("mule", [8, 9])})
    flagged = clusters([0, 1, 2], [0, 1, 2, 5], [3, 4]).append_column(
        "typology", pa.array(["farm", "mule", "farm"])
    )
    report = evaluate(flagged, NO_SCORES, truth, accounts=np.arange(10))
    assert report.typology_agreement == 0.5
    assert report.per_typology["farm"].n_named == 1
    assert report.per_typology["mule"].n_named == 0
    assert report.as_dict()["typology_agreement"] == 0.5
    bare = evaluate(clusters([0, 1, 2]), NO_SCORES, truth, accounts=np.arange(10))
    assert bare.typology_agreement is None and bare.per_typology["farm"].n_named is None


def test_aucs_are_undefined_with_one_class() -> None:
    """Every account in a ring: ROC-AUC None, AP 1.0; no ring member present: both None."""
    everyone = truth_table({"R": ("t", [0, 1, 2])})
    report = evaluate(clusters(), scores({0: 0.5}), everyone, accounts=np.arange(3))
    assert (report.roc_auc, report.pr_auc) == (None, 1.0)
    nobody = truth_table({"R": ("t", [None])})
    report = evaluate(clusters(), scores({0: 0.5}), nobody, accounts=np.arange(3))
    assert (report.roc_auc, report.pr_auc, report.ring_recall) == (None, None, None)


# ------------------------------------------------------------------- heavy sharers


def test_heavy_sharer_false_positive_rate_and_heavy_only_clusters() -> None:
    """Heavy sharers {10,11,12,13}: 11 and 12 sit in flagged clusters (FPR 2/4); cluster
    {11,12} is made of heavy sharers only, {12,1} is not."""
    truth = truth_table({"R": ("t", [1, 2])})
    report = evaluate(
        clusters([11, 12], [12, 1], [1, 2]),
        NO_SCORES,
        truth,
        accounts=ACCOUNTS,
        heavy_sharers=np.array([10, 11, 12, 13]),
    )
    assert (report.n_heavy_sharers, report.heavy_sharer_fpr) == (4, 0.5)
    assert report.heavy_sharer_clusters == 1
    without = evaluate(clusters([11, 12]), NO_SCORES, truth, accounts=ACCOUNTS)
    assert (without.n_heavy_sharers, without.heavy_sharer_fpr) == (None, None)


# ----------------------------------------------------------------- invalid inputs


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_min_jaccard_outside_0_1_is_invalid(threshold: float) -> None:
    """The match threshold must be in (0, 1]."""
    with pytest.raises(InvalidInput, match="min_jaccard"):
        evaluate(clusters(), NO_SCORES, truth_table({}), accounts=ACCOUNTS, min_jaccard=threshold)


@pytest.mark.parametrize(
    ("flagged", "account_scores", "truth", "message"),
    [
        (
            pa.table({"ring_id": ["x"]}),
            NO_SCORES,
            None,
            r"flagged clusters: missing column.*members",
        ),
        (None, pa.table({"id": [1]}), None, r"account scores: missing column.*risk"),
        (None, NO_SCORES, pa.table({"ring_id": ["R"], "id": [1]}), "use resolve_truth"),
        (None, scores({1: float("nan")}), None, "NaN"),
        (None, pa.table({"id": [1, 1], "risk": [0.1, 0.2]}), None, r"repeat ids: \[1\]"),
        (None, NO_SCORES, truth_table({"R": ("t", [1, 500])}), r"not among the accounts.*500"),
    ],
)
def test_malformed_inputs_are_invalid(
    flagged: pa.Table | None,
    account_scores: pa.Table,
    truth: pa.Table | None,
    message: str,
) -> None:
    """Missing columns, NaN or repeated scores and truth ids outside the accounts raise
    InvalidInput."""
    flagged = flagged if flagged is not None else clusters([1])
    truth = truth if truth is not None else truth_table({"R": ("t", [1])})
    with pytest.raises(InvalidInput, match=message):
        evaluate(flagged, account_scores, truth, accounts=ACCOUNTS)


def test_a_ring_with_two_typologies_is_invalid() -> None:
    """A hand-built truth table must give each ring one typology."""
    truth = pa.table({"ring_id": ["R", "R"], "typology": ["a", "b"], "id": [1, 2]})
    with pytest.raises(InvalidInput, match=r"more than one typology: \['R'\]"):
        evaluate(clusters(), NO_SCORES, truth, accounts=ACCOUNTS)


# ------------------------------------------------------------------------ display


def sample_report() -> EvaluationReport:
    truth = truth_table({"A": ("farm", [1, 2]), "B": ("novel_scheme", [3, 4])})
    return evaluate(
        clusters([1, 2]), scores({1: 0.8, 3: 0.4}), truth, accounts=ACCOUNTS, heavy_sharers=[9]
    )


def test_as_dict_is_json_ready_and_rounded() -> None:
    """as_dict has the headline keys, rounds floats, and survives json.dumps."""
    figures: dict[str, Any] = json.loads(json.dumps(sample_report().as_dict()))
    for key in (
        "ring_recall",
        "cluster_precision",
        "roc_auc",
        "pr_auc",
        "n_flagged",
        "per_typology",
    ):
        assert key in figures
    assert figures["ring_recall"] == 0.5
    assert set(figures["per_typology"]) == {"farm", "novel_scheme"}
    assert figures["per_typology"]["novel_scheme"]["ring_recall"] == 0.0
    roc = figures["roc_auc"]
    assert roc == round(roc, 4)


def test_format_table_puts_detectors_side_by_side() -> None:
    """One column per detector, per-typology rows with found/rings, '-' where undefined."""
    report = sample_report()
    empty = evaluate(clusters(), NO_SCORES, truth_table({"A": ("farm", [1])}), accounts=ACCOUNTS)
    text = format_table({"pipeline": report, "wcc": empty})
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "pipeline", "wcc"]
    assert any(line.startswith("farm recall") and "(1/1)" in line for line in lines)
    novel = next(line for line in lines if line.startswith("novel_scheme recall"))
    assert novel.split()[-1] == "-"  # the second detector saw no such typology
    precision = next(line for line in lines if line.startswith("cluster precision"))
    assert precision.split()[-1] == "-"
    assert table_rows(report)[0] == ["metric", "value"]


def test_precision_at_k_follows_the_score_queue() -> None:
    """Precision among the top k alerts is over the k highest-scoring clusters, ties kept
    in row order, and over every cluster when fewer than k were flagged."""
    flagged = pa.table(
        {
            "members": pa.array([[9, 10], [1, 2], [11, 12], [3, 4]], pa.list_(pa.int64())),
            "score": [0.6, 0.9, 0.2, 0.8],
        }
    )
    truth = truth_table({"R1": ("t", [1, 2]), "R2": ("t", [3, 4])})
    report = evaluate(flagged, NO_SCORES, truth, accounts=range(20), top_k=(1, 2, 3, 10))
    assert report.precision_at == {1: 1.0, 2: 1.0, 3: pytest.approx(2 / 3), 10: 0.5}
    assert report.clusters_without_ring_members == 2


def test_precision_at_k_is_undefined_with_nothing_flagged() -> None:
    """No alert, no precision: every depth is None, not zero."""
    empty = pa.table(
        {"members": pa.array([], pa.list_(pa.int64())), "score": pa.array([], pa.float64())}
    )
    report = evaluate(empty, NO_SCORES, truth_table({"R": ("t", [1])}), accounts=range(5))
    assert report.precision_at == {20: None, 100: None}


def test_sharer_false_positive_rate_per_benign_kind() -> None:
    """Each benign kind's FPR counts its distinct non-ring accounts inside a flagged
    cluster; ring members listed as sharers and unresolved rows are left out; a cluster of
    listed sharers only is counted."""
    sharers = pa.table(
        {
            "kind": ["household", "household", "household", "office", "office", "office", "office"],
            "id": pa.array([5, 6, 7, 6, 8, None, 1], pa.int64()),
        }
    )
    flagged = clusters([1, 2, 5], [6, 8])
    truth = truth_table({"R1": ("t", [1, 2])})
    report = evaluate(flagged, NO_SCORES, truth, accounts=range(10), sharers=sharers)
    household = report.per_sharer_kind["household"]
    office = report.per_sharer_kind["office"]
    assert (household.n_accounts, household.n_flagged) == (3, 2)
    assert (office.n_accounts, office.n_flagged) == (2, 2)
    assert report.n_sharers == 4
    assert report.sharer_fpr == pytest.approx(3 / 4)
    assert report.sharer_only_clusters == 1
    payload = report.as_dict()
    assert payload["per_sharer_kind"]["office"] == {"n_accounts": 2, "n_flagged": 2, "fpr": 1.0}
    assert "office FPR" in format_table(report)


def test_sharer_figures_are_none_without_a_list() -> None:
    """Without a sharers list the sharer figures are undefined, not zero."""
    report = evaluate(
        clusters([1, 2]), NO_SCORES, truth_table({"R": ("t", [1, 2])}), accounts=range(3)
    )
    assert (report.n_sharers, report.sharer_fpr, report.sharer_only_clusters) == (None, None, None)
    assert report.per_sharer_kind == {}


def test_load_and_resolve_sharers(tmp_path: Path, good_store: EmbeddedStore) -> None:
    """A sharers file is read case-insensitively and trimmed; keys resolve to account ids,
    unknown accounts to null; a missing column names the file."""
    from scoring.evaluation import load_sharers, resolve_sharers

    path = write_text(
        tmp_path, "Account_ID,KIND,group_id\n A1 ,household,H1\nZZ,office,O1\n", "sharers.csv"
    )
    sharers = load_sharers(path)
    assert sharers.to_pylist() == [
        {"account_id": "A1", "kind": "household", "group_id": "H1"},
        {"account_id": "ZZ", "kind": "office", "group_id": "O1"},
    ]
    resolved = resolve_sharers(sharers, good_store)
    ids = resolved.column("id").to_pylist()
    assert ids[0] is not None and ids[1] is None
    with pytest.raises(
        InvalidInput, match=r"sharers\.csv: sharers file lacks column\(s\) \['kind'\]"
    ):
        load_sharers(write_text(tmp_path, "account_id,group_id\nA1,H1\n", "sharers.csv"))
