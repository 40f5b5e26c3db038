"""IBM AMLSim's transaction-graph output as fraudgraph events, labels and truth.

AMLSim's graph generator (``scripts/transaction_graph_generator.py``) writes accounts,
the transfers between them and the planted alert groups. Without its Java simulator the
background transfers carry no amount and no time, and most planted edges are missing
from the transfer file, so the layout read here is the one its data card describes:

``accounts.csv``
    ``account_id`` (every account; ``is_sar`` and the rest are not read).
``transfers.csv``
    ``src_account_id, dst_account_id``: the transfers the generator wrote.
``ring_transfers.csv``
    ``src_account_id, dst_account_id, in_transfers``: the planted edges; the ones not in
    ``transfers.csv`` are added as transfers, **src and dst only**. Their ``amount`` and
    ``step`` exist for planted edges alone, so carrying them over would give the rings
    away.
``rings.csv``
    ``ring_id, account_id, pattern``: the ground truth (``truth.csv``) and the source of
    the fraud labels (a seeded share of the members, no legit labels: what a bank has).

What comes out (``out``):

``events/part-00000.parquet``
    A ``signup`` per account, all on the data set's first day (2017-01-01), and a
    ``transfer`` per edge. A transfer needs a time and an amount, which the data set does
    not have: both are drawn for every edge alike, independently of the graph (a
    uniform time over the 720 days, an amount from one log-normal law), so they carry no
    signal either way and detection rests on who pays whom.
``truth.csv``
    ``ring_id, typology, account_id`` (typology: AMLSim's pattern, ``fan_in``,
    ``fan_out``, ``cycle`` and the rest).
``labels.csv``
    ``fraud`` labels (source ``sar``) for ``label_fraction`` of the ring members, chosen
    by a hash of seed and account (the same seed gives the same labels, a smaller share
    is a subset of a larger one).
``conversion.json``
    The counts, and how the missing fields were filled.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from graph_service.errors import InvalidInput

__all__ = ["AmlsimConversion", "convert_amlsim"]

#: AMLSim's step 0, and the number of steps (days) of the 10K parameter set.
START: Final = datetime(2017, 1, 1, tzinfo=UTC)
DAYS: Final = 720
#: The log-normal law of the filled-in amounts: median 150, most between 50 and 450.
AMOUNT_MEDIAN: Final = 150.0
AMOUNT_SIGMA: Final = 0.55
#: When the fraud labels were given: after the last step.
LABELLED_AT: Final = "2019-01-01T00:00:00Z"

_MS_PER_DAY: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class AmlsimConversion:
    """What :func:`convert_amlsim` wrote.

    Attributes
    ----------
    out_dir, events, labels, truth : Path
        The output folder, the events folder, ``labels.csv`` and ``truth.csv``.
    accounts : int
        Accounts (each has a signup event).
    transfers : int
        Transfer events: ``transfers.csv`` rows plus the planted edges added.
    planted_added : int
        Planted edges that were not in ``transfers.csv``.
    rings, ring_members : int
        Planted groups and their members (``truth.csv`` rows).
    fraud_labels : int
    """

    out_dir: Path
    events: Path
    labels: Path
    truth: Path
    accounts: int
    transfers: int
    planted_added: int
    rings: int
    ring_members: int
    fraud_labels: int


def convert_amlsim(
    source: Path, out: Path, *, label_fraction: float = 0.3, seed: int = 0
) -> AmlsimConversion:
    """Convert an AMLSim graph-generator output folder (see the module docstring).

    Parameters
    ----------
    source : Path
        Folder with ``accounts.csv``, ``transfers.csv``, ``ring_transfers.csv`` and
        ``rings.csv``.
    out : Path
        Output folder (created; files in it are replaced).
    label_fraction : float
        Share of ring members labelled fraud (0.3).
    seed : int
        Seed of the filled-in times and amounts and of the labelled members.

    Returns
    -------
    AmlsimConversion

    Raises
    ------
    InvalidInput
        A file or column missing, an id that is not an integer, a transfer or ring member
        naming an account ``accounts.csv`` does not list, or ``label_fraction`` outside
        [0, 1].

    Notes
    -----
    O(a + t log t) for a accounts and t transfers (one sort of the edges).
    """
    if not 0.0 <= label_fraction <= 1.0:
        raise InvalidInput(f"label_fraction must be in [0, 1], got {label_fraction}")
    accounts = _ints(_read(source, "accounts.csv", ("account_id",)), "account_id")
    transfers = _read(source, "transfers.csv", ("src_account_id", "dst_account_id"))
    planted = _read(
        source, "ring_transfers.csv", ("src_account_id", "dst_account_id", "in_transfers")
    )
    members = _read(source, "rings.csv", ("ring_id", "account_id", "pattern"))
    known = np.unique(accounts)
    missing_from_file = ~_flags(planted, "in_transfers", "ring_transfers.csv")
    src = np.concatenate(
        [
            _ints(transfers, "src_account_id"),
            _ints(planted, "src_account_id")[missing_from_file],
        ]
    )
    dst = np.concatenate(
        [
            _ints(transfers, "dst_account_id"),
            _ints(planted, "dst_account_id")[missing_from_file],
        ]
    )
    ring_accounts = _ints(members, "account_id")
    for what, ids in (("transfer", np.concatenate([src, dst])), ("ring member", ring_accounts)):
        unknown = np.setdiff1d(ids, known)
        if unknown.size:
            raise InvalidInput(
                f"{unknown.size} {what} account id(s) not in accounts.csv, "
                f"e.g. {unknown[:5].tolist()}"
            )
    # One transfer per (src, dst) pair, sorted by the pair: planted edges land among the
    # others, and the filled-in values are drawn in that order.
    pairs = np.unique(np.stack([src, dst], axis=1), axis=0)
    rng = np.random.default_rng(seed)
    day_ms = np.asarray(rng.uniform(0.0, DAYS * _MS_PER_DAY, size=pairs.shape[0]), np.int64)
    amounts = np.round(AMOUNT_MEDIAN * rng.lognormal(0.0, AMOUNT_SIGMA, pairs.shape[0]), 2)
    start_ms = int(START.timestamp() * 1000)

    out.mkdir(parents=True, exist_ok=True)
    events_dir = out / "events"
    events_dir.mkdir(exist_ok=True)
    for stale in events_dir.glob("*.parquet"):
        stale.unlink()
    n_accounts, n_transfers = known.size, pairs.shape[0]
    events = pa.table(
        {
            "event_id": pa.array(
                [f"S{a}" for a in known.tolist()] + [f"T{s}-{d}" for s, d in pairs.tolist()]
            ),
            "ts": pa.array(
                np.concatenate([np.full(n_accounts, start_ms), start_ms + day_ms]),
                pa.timestamp("ms", tz="UTC"),
            ),
            "event_type": pa.array(["signup"] * n_accounts + ["transfer"] * n_transfers),
            "account_id": pa.array(
                [f"A{a}" for a in known.tolist()] + [f"A{s}" for s in pairs[:, 0].tolist()]
            ),
            "counterparty_account_id": pa.array(
                [None] * n_accounts + [f"A{d}" for d in pairs[:, 1].tolist()], pa.string()
            ),
            "amount": pa.array(
                np.concatenate([np.full(n_accounts, np.nan), amounts]),
                pa.float64(),
                mask=np.concatenate(
                    [np.ones(n_accounts, np.bool_), np.zeros(n_transfers, np.bool_)]
                ),
            ),
            "currency": pa.array([None] * n_accounts + ["USD"] * n_transfers, pa.string()),
            "country": pa.array(["US"] * (n_accounts + n_transfers)),
        }
    )
    pq.write_table(events, events_dir / "part-00000.parquet")

    ring_ids = members.column("ring_id").to_pylist()
    patterns = members.column("pattern").to_pylist()
    truth_path = out / "truth.csv"
    pacsv.write_csv(
        pa.table(
            {
                "ring_id": [f"R{r}" for r in ring_ids],
                "typology": [str(p).strip().lower() for p in patterns],
                "account_id": [f"A{a}" for a in ring_accounts.tolist()],
            }
        ),
        truth_path,
    )
    labelled = sorted({a for a in ring_accounts.tolist() if _hash_share(seed, a) < label_fraction})
    labels_path = out / "labels.csv"
    with labels_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["entity_type", "entity_key", "label", "source", "ts"])
        writer.writerows(["Account", f"A{a}", "fraud", "sar", LABELLED_AT] for a in labelled)
    result = AmlsimConversion(
        out_dir=out,
        events=events_dir,
        labels=labels_path,
        truth=truth_path,
        accounts=int(n_accounts),
        transfers=int(n_transfers),
        planted_added=int(missing_from_file.sum()),
        rings=len(set(ring_ids)),
        ring_members=len(ring_ids),
        fraud_labels=len(labelled),
    )
    manifest = {
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()},
        "source": str(source),
        "seed": seed,
        "label_fraction": label_fraction,
        "filled_in": {
            "signup ts": f"{START.date().isoformat()} for every account",
            "transfer ts": f"uniform over the {DAYS} days from {START.date().isoformat()}, "
            "drawn for every edge alike",
            "transfer amount": f"log-normal, median {AMOUNT_MEDIAN}, sigma {AMOUNT_SIGMA}, "
            "drawn for every edge alike",
        },
    }
    (out / "conversion.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return result


def _read(source: Path, name: str, columns: tuple[str, ...]) -> pa.Table:
    path = source / name
    if not path.is_file():
        raise InvalidInput(f"{path}: not found (an AMLSim folder holds {name})")
    table = pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string()))
    )
    absent = [c for c in columns if c not in table.column_names]
    if absent:
        raise InvalidInput(f"{path}: missing column(s) {absent}")
    return table


def _ints(table: pa.Table, column: str) -> np.ndarray:
    values = table.column(column).to_pylist()
    try:
        return np.array([int(str(v).strip()) for v in values], np.int64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{column}: every value must be an integer account id ({exc})") from None


def _flags(table: pa.Table, column: str, name: str) -> np.ndarray:
    words = [str(v).strip().lower() for v in table.column(column).to_pylist()]
    bad = sorted({w for w in words if w not in ("true", "false")})
    if bad:
        raise InvalidInput(f"{name}: {column} must be true or false, got {bad[:5]}")
    return np.array([w == "true" for w in words], np.bool_)


def _hash_share(seed: int, account: int) -> float:
    digest = hashlib.sha256(f"{seed}:A{account}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
