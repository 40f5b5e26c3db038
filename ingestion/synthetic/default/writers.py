"""Writing a scenario's files: Parquet parts, ``truth.csv`` and ``labels.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingestion.synthetic.default.config import ScenarioConfig, Typology
from ingestion.synthetic.default.events import DAY, uniform_ts
from ingestion.synthetic.default.planning import RingPlan
from ingestion.synthetic.default.population import Population
from ingestion.synthetic.default.render import account_ids
from ingestion.synthetic.text import Vocab, const_text, decimal_text, string_array


def _partial(path: Path) -> Path:
    """Where ``path`` is written before being renamed into place; dataset readers skip
    names starting with a dot, so an interrupted run never leaves a readable half-part."""
    return path.with_name(f".{path.name}.partial")


def write_part(table: pa.Table, path: Path) -> None:
    """Write one part atomically (a reader never sees a half-written part)."""
    partial = _partial(path)
    pq.write_table(
        table,
        partial,
        compression="zstd",
        compression_level=1,
        # Dictionaries only where values repeat; statistics only on ts (for time-range
        # pruning): both cost more than they save on the random id columns.
        use_dictionary=["event_type", "os", "country", "currency", "ip", "merchant_id"],
        write_statistics=["ts"],
    )
    partial.replace(path)


def _write_csv(table: pa.Table, path: Path) -> None:
    # Values never contain commas, quotes or newlines, so nothing needs quoting;
    # "none" makes the writer fail loudly if one ever did.
    options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
    partial = _partial(path)
    pacsv.write_csv(table, partial, options)
    partial.replace(path)


def write_truth(population: Population, plans: Sequence[RingPlan], path: Path) -> int:
    """Write ``truth.csv``; return its row count."""
    members = np.concatenate([p.members for p in plans])
    ring_index = np.repeat(np.arange(len(plans)), [p.members.size for p in plans])
    ring_ids = pa.array([p.ring_id for p in plans])
    typologies = pa.array([p.typology.value for p in plans])
    index = pa.array(ring_index)
    every = np.arange(members.size, dtype=np.int64)
    table = pa.table(
        {
            "ring_id": ring_ids.take(index),
            "typology": typologies.take(index),
            "account_id": account_ids(population, every, members),
        }
    )
    table = table.sort_by([("ring_id", "ascending"), ("account_id", "ascending")])
    _write_csv(table, path)
    return int(table.num_rows)


_FRAUD_LABELS: Final[dict[Typology, tuple[str, str, str]]] = {
    # typology: (source, author, reason)
    Typology.DEVICE_FARM: ("investigation", "analyst", "device farm sign-up"),
    Typology.SYNTHETIC_IDENTITY: ("investigation", "analyst", "synthetic identity"),
    Typology.MULE_NETWORK: ("bank_report", "system", "money mule receiving scam proceeds"),
    Typology.BUST_OUT: ("chargeback", "system", "bust-out: unpaid card balance"),
    Typology.ACCOUNT_TAKEOVER: ("customer_report", "analyst", "account takeover"),
}
#: Label kinds: one per typology (fraud), then the two kinds of legit label.
_LABEL_KINDS: Final = [
    *(_FRAUD_LABELS[t] for t in Typology),
    ("investigation", "analyst", "cleared after review"),
    ("kyc_review", "kyc_service", "identity verified"),
]
_V_LABEL_SOURCES: Final = Vocab([k[0] for k in _LABEL_KINDS])
_V_LABEL_REASONS: Final = Vocab([k[2] for k in _LABEL_KINDS])
_V_LABEL_AUTHORS: Final = Vocab([k[1] for k in _LABEL_KINDS])
_BY_ANALYST: Final = np.asarray([k[1] == "analyst" for k in _LABEL_KINDS])


def write_labels(
    population: Population, plans: Sequence[RingPlan], config: ScenarioConfig, path: Path
) -> int:
    """Write ``labels.csv``: fraud labels for some ring members, legit for some others.

    Notes
    -----
    O(A) for A accounts (choosing legit labels without replacement).
    """
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    members = np.concatenate([p.members for p in plans])
    ring_index = np.repeat(np.arange(len(plans)), [p.members.size for p in plans])
    n_fraud = round(config.label_fraction * members.size)
    pick = np.sort(rng.choice(members.size, n_fraud, replace=False))
    ring_of = ring_index[pick]
    ring_end = np.asarray([p.last_event_us for p in plans], np.int64)[ring_of]
    typology_of = np.asarray([list(Typology).index(p.typology) for p in plans], np.int64)

    others = np.flatnonzero(~population.is_member)
    n_legit = round(config.legit_label_fraction * others.size)
    legit = np.sort(others[rng.choice(others.size, n_legit, replace=False)])
    n_typologies = len(Typology)
    accounts = np.concatenate([members[pick], legit])
    kind = np.concatenate(
        [typology_of[ring_of], n_typologies + (rng.random(n_legit) >= 0.4).astype(np.int64)]
    )
    ts = np.concatenate(
        [
            ring_end + uniform_ts(rng, DAY, 30 * DAY, n_fraud),
            population.created[legit] + uniform_ts(rng, 7 * DAY, 60 * DAY, n_legit),
        ]
    )
    n = accounts.size
    every = np.arange(n, dtype=np.int64)
    by_analyst = _BY_ANALYST[kind]
    analyst = np.flatnonzero(by_analyst)
    system = np.flatnonzero(~by_analyst)
    authors = string_array(
        n,
        [
            (
                analyst,
                [
                    const_text("analyst_", analyst.size),
                    decimal_text(rng.integers(1, 41, n)[analyst], 3),
                ],
            ),
            (system, [_V_LABEL_AUTHORS.take(kind[system])]),
        ],
    )
    iso = np.datetime_as_string((ts // 1_000_000).astype("datetime64[s]"), unit="s", timezone="UTC")
    table = pa.table(
        {
            "entity_type": pa.repeat("Account", n),
            "entity_key": account_ids(population, every, accounts),
            "label": pa.array(np.where(kind < n_typologies, "fraud", "legit")),
            "source": _V_LABEL_SOURCES.arrow.take(pa.array(kind)),
            "ts": pa.array(iso),
            "author": authors,
            "reason": _V_LABEL_REASONS.arrow.take(pa.array(kind)),
        }
    )
    table = table.sort_by([("ts", "ascending"), ("entity_key", "ascending")])
    _write_csv(table, path)
    return int(table.num_rows)
