"""Ground truth: planted (or confirmed) rings and the legitimate sharers around them.

A ring truth file lists ring members, one row each: ``ring_id, typology, account_id``.
:func:`load_truth` reads and checks it (CSV or Parquet, any source, any typology names) and
:func:`resolve_truth` maps its account keys to store ids exactly as ingestion keys accounts.

A sharers file lists the legitimate accounts that take part in a benign sharing group
(a household, an office IP, a call-centre device, a payroll hub...): ``account_id, kind,
group_id``. :func:`load_sharers` and :func:`resolve_sharers` read and resolve it; the
report then gives the false-positive rate per benign kind.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from graph_service.errors import InvalidInput
from graph_service.model import KEY_WHITESPACE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.tables import distinct, require_columns
from graph_service.typing import I64

if TYPE_CHECKING:
    from graph_service.store import GraphReader

__all__ = [
    "SHARED_IDENTIFIER_LINKS",
    "SHARER_COLUMNS",
    "TRUTH_COLUMNS",
    "account_ids",
    "legit_heavy_sharers",
    "load_sharers",
    "load_truth",
    "resolve_sharers",
    "resolve_truth",
]

log = logging.getLogger(__name__)

#: The columns a ground-truth file must have (names matched case-insensitively).
TRUTH_COLUMNS: Final[tuple[str, ...]] = ("ring_id", "typology", "account_id")

#: The columns a sharers file must have (names matched case-insensitively).
SHARER_COLUMNS: Final[tuple[str, ...]] = ("account_id", "kind", "group_id")

#: Identifier links whose sharing makes an account a heavy sharer.
SHARED_IDENTIFIER_LINKS: Final[tuple[LinkType, ...]] = (
    LinkType.USES_DEVICE,
    LinkType.LOGS_IN_FROM,
    LinkType.HAS_ADDRESS,
    LinkType.HAS_PHONE,
    LinkType.HAS_EMAIL,
    LinkType.HAS_CARD,
)

#: At most this many row numbers are quoted in an error message.
_ROWS_QUOTED: Final = 10

_PARQUET_MAGIC: Final = b"PAR1"


def load_truth(path: str | Path) -> pa.Table:
    """Read and check a ground-truth file of ring members.

    Parameters
    ----------
    path : str or Path
        A CSV file (optionally compressed, e.g. ``.csv.gz``) or a Parquet file (detected
        by its magic bytes) with the columns ``ring_id, typology, account_id`` in any
        order and case. Other columns are ignored. One row per ring member.

    Returns
    -------
    pa.Table
        ``ring_id string, typology string, account_id string``, one row per input row in
        file order, values trimmed of surrounding whitespace. Typology names are free text:
        any name is accepted.

    Raises
    ------
    InvalidInput
        Naming the file (and the 1-based data row numbers, header excluded, where rows are
        at fault) when the file is missing or unreadable, is empty or has no data rows,
        lacks a column, has a blank value, repeats a ``(ring_id, account_id)`` pair, or
        gives one ring more than one typology. No row is ever dropped silently.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     csv_path = pathlib.Path(tmp) / "truth.csv"
    ...     _ = csv_path.write_text("ring_id,typology,account_id\\nR1,smurfing, A7 \\n")
    ...     load_truth(csv_path).to_pylist()
    [{'ring_id': 'R1', 'typology': 'smurfing', 'account_id': 'A7'}]

    Notes
    -----
    O(rows) plus a hash group-by for the duplicate and consistency checks; Arrow kernels.
    """
    path = Path(path)
    truth = _read_checked(path, TRUTH_COLUMNS, "ground-truth")
    _check_duplicates(path, truth)
    _check_one_typology_per_ring(path, truth)
    log.info("ground truth loaded", extra={"path": str(path), "rows": truth.num_rows})
    return truth


def resolve_truth(truth: pa.Table, store: GraphReader) -> pa.Table:
    """Map the truth's account keys to the store's Account ids.

    Parameters
    ----------
    truth : pa.Table
        ``ring_id, typology, account_id`` as returned by :func:`load_truth`.
    store : GraphReader
        The store the detectors ran on.

    Returns
    -------
    pa.Table
        ``ring_id string, typology string, account_id string, id int64``: the input rows
        in order, ``account_id`` normalised as ingestion normalises account keys (trimmed
        of ``KEY_WHITESPACE``), ``id`` the Account node's id or null where the store holds
        no such account. :func:`evaluate` counts and reports the null rows.

    Raises
    ------
    InvalidInput
        If a column is missing or an account key is blank.

    Notes
    -----
    One ``export_nodes`` call and an O(n + t) hash lookup for n nodes and t truth rows.
    """
    require_columns(truth, TRUTH_COLUMNS, "truth")
    keys = _trim(truth.column("account_id"))
    if pc.any(pc.is_null(keys)).as_py():
        raise InvalidInput("truth has blank account_id values; load it with load_truth")
    ids = _account_id_lookup(keys, store)
    resolved = pa.table(
        {
            "ring_id": truth.column("ring_id").cast(pa.string()),
            "typology": truth.column("typology").cast(pa.string()),
            "account_id": keys,
            "id": ids,
        }
    )
    missing = resolved.num_rows - int(pc.count(ids).as_py())
    if missing:
        log.warning(
            "truth accounts not in the store",
            extra={"missing": missing, "rows": resolved.num_rows},
        )
    return resolved


def account_ids(store: GraphReader) -> I64:
    """Ids of every Account node: the population :func:`evaluate` scores over.

    Parameters
    ----------
    store : GraphReader

    Returns
    -------
    ndarray of int64
        Sorted store ids of the accounts.

    Notes
    -----
    One ``export_nodes`` call and an O(n log n) sort.
    """
    nodes = store.export_nodes()
    is_account = pc.equal(nodes.column("type"), NODE_TYPE_CODE[NodeType.ACCOUNT])
    ids: I64 = np.sort(nodes.column("id").filter(is_account).to_numpy().astype(np.int64))
    return ids


def legit_heavy_sharers(store: GraphReader, truth: pa.Table, *, min_accounts: int = 3) -> I64:
    """Accounts outside every ring that share an identifier with many other accounts.

    Households, carrier-NAT mobile users, office and public Wi-Fi users and VPN users share
    an address, IP, device, phone, email or card with others without being a ring; a
    detector that flags them has a false-positive problem that ring recall does not show.

    Parameters
    ----------
    store : GraphReader
    truth : pa.Table
        Resolved truth with an ``id`` column (see :func:`resolve_truth`); null ids are
        ignored.
    min_accounts : int, optional
        An identifier used by at least this many accounts makes each of them a heavy
        sharer (it shares it with ``min_accounts - 1`` others or more).

    Returns
    -------
    ndarray of int64
        Sorted store ids of the heavy sharers that are not ring members.

    Raises
    ------
    InvalidInput
        If ``min_accounts < 2`` or ``truth`` has no ``id`` column.

    Notes
    -----
    One ``export_links`` call over the identifier link types, then an O(m + n) bincount
    over the m links and n node ids, and a unique over the heavy sharers' links.
    """
    if min_accounts < 2:
        raise InvalidInput(f"min_accounts must be >= 2, got {min_accounts}")
    require_columns(truth, ("id",), "resolved truth (use resolve_truth)")
    links = store.export_links(list(SHARED_IDENTIFIER_LINKS))
    src = links.column("src").to_numpy()
    dst = links.column("dst").to_numpy()
    if dst.size == 0:
        return np.zeros(0, np.int64)
    # Links are aggregated per (account, identifier, type), so each row is one distinct
    # account of its identifier. Store ids are dense, so a bincount counts them in O(m)
    # with one array per node, where a unique would sort every link.
    accounts_per_identifier = np.bincount(dst)
    heavy = distinct(src[accounts_per_identifier[dst] >= min_accounts])
    ring_members = _present_ids(truth)
    result: I64 = heavy[~np.isin(heavy, ring_members)].astype(np.int64)
    log.info(
        "legit heavy sharers",
        extra={
            "heavy_sharers": int(result.size),
            "identifiers": int(np.count_nonzero(accounts_per_identifier)),
        },
    )
    return result


def load_sharers(path: str | Path) -> pa.Table:
    """Read and check a file of legitimate accounts in benign sharing groups.

    Parameters
    ----------
    path : str or Path
        CSV (optionally compressed) or Parquet with the columns ``account_id, kind,
        group_id`` in any order and case; one row per account and group (an account in a
        household and an office has two rows). Other columns are ignored.

    Returns
    -------
    pa.Table
        ``account_id, kind, group_id`` (strings, trimmed), in file order.

    Raises
    ------
    InvalidInput
        Naming the file (and the data rows at fault) when it is missing, unreadable,
        empty, lacks a column or has a blank value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     csv_path = pathlib.Path(tmp) / "sharers.csv"
    ...     _ = csv_path.write_text("account_id,kind,group_id\\nA7,household,H1\\n")
    ...     load_sharers(csv_path).to_pylist()
    [{'account_id': 'A7', 'kind': 'household', 'group_id': 'H1'}]

    Notes
    -----
    O(rows), Arrow kernels.
    """
    path = Path(path)
    sharers = _read_checked(path, SHARER_COLUMNS, "sharers")
    log.info("sharers loaded", extra={"path": str(path), "rows": sharers.num_rows})
    return sharers


def resolve_sharers(sharers: pa.Table, store: GraphReader) -> pa.Table:
    """Map the sharers' account keys to the store's Account ids.

    Parameters
    ----------
    sharers : pa.Table
        ``account_id, kind, group_id`` as returned by :func:`load_sharers`.
    store : GraphReader

    Returns
    -------
    pa.Table
        The input rows with ``id int64`` added (null where the store holds no such
        account; such rows are left out of the per-kind figures).

    Raises
    ------
    InvalidInput
        If a column is missing.

    Notes
    -----
    One ``export_nodes`` call and an O(n + s) hash lookup.
    """
    require_columns(sharers, SHARER_COLUMNS, "sharers")
    keys = _trim(sharers.column("account_id"))
    ids = _account_id_lookup(keys, store)
    return pa.table(
        {
            "account_id": keys,
            "kind": sharers.column("kind").cast(pa.string()),
            "group_id": sharers.column("group_id").cast(pa.string()),
            "id": ids,
        }
    )


def _account_id_lookup(keys: pa.Array, store: GraphReader) -> pa.Array:
    """Account id of every key (null where the store holds no such account)."""
    nodes = store.export_nodes()
    accounts = nodes.filter(pc.equal(nodes.column("type"), NODE_TYPE_CODE[NodeType.ACCOUNT]))
    position = pc.index_in(keys, value_set=accounts.column("key").combine_chunks())
    ids: pa.Array = pc.take(accounts.column("id").combine_chunks(), position).cast(pa.int64())
    return ids


# ----------------------------------------------------------------------- internals


def _present_ids(truth: pa.Table) -> I64:
    ids = truth.column("id").cast(pa.int64()).drop_null()
    return distinct(ids.to_numpy().astype(np.int64))


def _trim(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Strings trimmed of ``KEY_WHITESPACE``; null where blank."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    strings = values.cast(pa.string())
    trimmed = pc.utf8_trim(strings, characters=KEY_WHITESPACE)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _header(path: Path) -> list[str]:
    """Column names of a CSV file (its first record), for case-insensitive matching."""
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix, open)
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot read the CSV header ({exc})") from exc


def _read_checked(path: Path, wanted: Sequence[str], what: str) -> pa.Table:
    """The ``wanted`` columns of a CSV or Parquet file, trimmed, with no blank value."""
    if not path.is_file():
        raise InvalidInput(f"{path}: {what} file not found")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path}: {what} file is empty")
    with path.open("rb") as handle:
        parquet = handle.read(4) == _PARQUET_MAGIC
    table = (
        _read_parquet_truth(path, wanted, what) if parquet else _read_csv_truth(path, wanted, what)
    )
    if table.num_rows == 0:
        raise InvalidInput(f"{path}: {what} file has no data rows")
    trimmed = {name: _trim(table.column(name)) for name in wanted}
    _check_blanks(path, trimmed)
    return pa.table(trimmed)


def _match_columns(
    path: Path, names: Sequence[str], wanted: Sequence[str], what: str
) -> dict[str, str]:
    """Wanted column -> the file's own spelling of it; InvalidInput if one is missing."""
    by_folded: dict[str, str] = {}
    for name in names:
        by_folded.setdefault(name.strip().lower(), name)
    missing = [c for c in wanted if c not in by_folded]
    if missing:
        raise InvalidInput(
            f"{path}: {what} file lacks column(s) {missing}; "
            f"expected {list(wanted)}, found {list(names)}"
        )
    return {c: by_folded[c] for c in wanted}


def _read_csv_truth(path: Path, wanted: Sequence[str], what: str) -> pa.Table:
    columns = _match_columns(path, _header(path), wanted, what)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(columns.values()),
                column_types=dict.fromkeys(columns.values(), pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable CSV {what} file ({exc})") from exc
    return pa.table({c: table.column(columns[c]) for c in wanted})


def _read_parquet_truth(path: Path, wanted: Sequence[str], what: str) -> pa.Table:
    try:
        schema = pq.read_schema(path)
        columns = _match_columns(path, schema.names, wanted, what)
        table = pq.read_table(path, columns=list(columns.values()))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable Parquet {what} file ({exc})") from exc
    out = {}
    for name in wanted:
        column = table.column(columns[name])
        try:
            out[name] = column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(
                f"{path}: column {columns[name]!r} of type {column.type} is not text or a number"
            ) from exc
    return pa.table(out)


def _row_list(rows: npt.NDArray[np.int64]) -> str:
    """``"2, 5, 9"`` for 0-based row indices, 1-based, the first ``_ROWS_QUOTED`` only."""
    shown = ", ".join(str(int(r) + 1) for r in rows[:_ROWS_QUOTED])
    more = f" and {rows.size - _ROWS_QUOTED} more" if rows.size > _ROWS_QUOTED else ""
    return f"{shown}{more}"


def _check_blanks(path: Path, columns: Mapping[str, pa.Array]) -> None:
    problems = []
    for name, values in columns.items():
        blank = np.flatnonzero(pc.is_null(values).to_numpy(zero_copy_only=False))
        if blank.size:
            problems.append(f"blank {name} in data row(s) {_row_list(blank)}")
    if problems:
        raise InvalidInput(f"{path}: " + "; ".join(problems))


def _check_duplicates(path: Path, truth: pa.Table) -> None:
    numbered = truth.append_column("row", pa.array(np.arange(truth.num_rows, dtype=np.int64)))
    groups = numbered.group_by(["ring_id", "account_id"], use_threads=False).aggregate(
        [("row", "count"), ("row", "min")]
    )
    repeated = groups.filter(pc.greater(groups.column("row_count"), 1))
    if repeated.num_rows == 0:
        return
    firsts = repeated.column("row_min").to_numpy()
    is_repeat = np.zeros(truth.num_rows, np.bool_)
    keys = pc.binary_join_element_wise(
        numbered.column("ring_id"), numbered.column("account_id"), "\x00"
    )
    repeated_keys = pc.binary_join_element_wise(
        repeated.column("ring_id"), repeated.column("account_id"), "\x00"
    )
    is_repeat[pc.is_in(keys, value_set=repeated_keys).to_numpy(zero_copy_only=False)] = True
    is_repeat[firsts] = False
    raise InvalidInput(
        f"{path}: duplicate (ring_id, account_id) in data row(s) "
        f"{_row_list(np.flatnonzero(is_repeat))} "
        f"(first seen in data row(s) {_row_list(np.sort(firsts))})"
    )


def _check_one_typology_per_ring(path: Path, truth: pa.Table) -> None:
    pairs = truth.group_by(["ring_id", "typology"], use_threads=False).aggregate([])
    per_ring = pairs.group_by("ring_id", use_threads=False).aggregate([("typology", "count")])
    mixed = per_ring.filter(pc.greater(per_ring.column("typology_count"), 1)).column("ring_id")
    if len(mixed) == 0:
        return
    rows = np.flatnonzero(pc.is_in(truth.column("ring_id"), value_set=mixed).to_numpy())
    raise InvalidInput(
        f"{path}: ring(s) {mixed.to_pylist()[:_ROWS_QUOTED]} have more than one typology "
        f"(data rows {_row_list(rows)})"
    )
