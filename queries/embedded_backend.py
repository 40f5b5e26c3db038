"""The relationship queries on the embedded store: SQL over its DuckDB ``links`` (ordered by
source), ``links_in`` (the same links ordered by destination) and ``entities`` tables,
through a read cursor the store hands out.

Id sets travel as registered Arrow tables and every other value as a bound parameter;
the SQL text is constant. Every statement ends in ``LIMIT`` with the caller's cap and is
interrupted at a timeout (``QueryTimeout``), like reads on Neo4j. Single transfers are
not in the database: ``link_transfers`` reads them from the event files
(:mod:`queries.event_transfers`), as on Neo4j.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, Protocol, TypeVar, runtime_checkable

import duckdb
import numpy as np
import pyarrow as pa

from graph_service.errors import BackendUnavailable, InvalidInput, QueryTimeout
from graph_service.model import LINK_TYPE_CODE, LinkType
from graph_service.store import GraphStore
from graph_service.typing import I64
from queries.backends import IDENTIFIER_LINK_TYPES, Row
from queries.event_transfers import link_transfers
from queries.limits import EMBEDDED_QUERY_TIMEOUT_S


@runtime_checkable
class SqlReadable(Protocol):
    """A store that hands out a DuckDB cursor for read-only SQL (the embedded backend)."""

    def read_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the store's database; the caller closes it."""
        ...


_T = TypeVar("_T")
_TRANSFER: Final = LINK_TYPE_CODE[LinkType.TRANSFERS_TO]
_IDENTIFIER_LINK_CODES: Final = [LINK_TYPE_CODE[t] for t in IDENTIFIER_LINK_TYPES]
_LINK_VALUES: Final = (
    "n_events, amount_sum, epoch_us(first_ts) AS first_us, epoch_us(last_ts) AS last_us"
)

_NEIGHBOURS: Final = f"""
WITH adj AS (
    SELECT type::INTEGER AS link_type, dst AS other, 'out' AS direction, {_LINK_VALUES}
    FROM links WHERE src = $id AND list_contains($types, type)
    UNION ALL
    SELECT type::INTEGER, src, 'in', {_LINK_VALUES}
    FROM links_in WHERE dst = $id AND list_contains($types, type))
SELECT a.link_type, a.other, a.direction, e.type, e.key, a.n_events, a.amount_sum,
       a.first_us, a.last_us
FROM adj a JOIN entities e ON e.id = a.other
WHERE a.link_type > $after_type OR (a.link_type = $after_type AND (a.other > $after_id
      OR (a.other = $after_id AND a.direction > $after_direction)))
ORDER BY a.link_type, a.other, a.direction LIMIT $cap
"""

_IDENTIFIER_USES: Final = """
WITH mine AS (SELECT dst AS id, type::INTEGER AS link_type FROM links
              WHERE src = $id AND list_contains($types, type)),
     used AS (SELECT dst AS id, count(*) AS n FROM links_in l SEMI JOIN mine ON l.dst = mine.id
              GROUP BY dst)
SELECT m.id, e.type, e.key, m.link_type, u.n
FROM mine m JOIN entities e ON e.id = m.id JOIN used u ON u.id = m.id LIMIT $cap
"""

_SHARING_ACCOUNTS: Final = """
SELECT l.src AS id, e.type, e.key, count(*) AS n_shared, min(w.n) AS rarest
FROM links_in l JOIN _wanted w ON l.dst = w.id JOIN entities e ON e.id = l.src
WHERE l.src <> $id
GROUP BY l.src, e.type, e.key
ORDER BY n_shared DESC, rarest, id LIMIT $cap
"""

_SHARED_PAIRS: Final = """
SELECT l.src, l.dst FROM links l
SEMI JOIN _accounts a ON l.src = a.id SEMI JOIN _wanted w ON l.dst = w.id
ORDER BY l.src, l.dst LIMIT $cap
"""

_ADJACENT: Final = """
SELECT * FROM (
    SELECT l.src AS a, l.dst AS b FROM links l SEMI JOIN _frontier f ON l.src = f.id
    WHERE list_contains($types, l.type)
    UNION
    SELECT l.dst, l.src FROM links_in l SEMI JOIN _frontier f ON l.dst = f.id
    WHERE list_contains($types, l.type))
LIMIT $cap
"""

_RING_LINKS: Final = f"""
WITH ml AS (SELECT l.* FROM links l SEMI JOIN _members m ON l.src = m.id),
     shared AS (SELECT dst AS id FROM ml WHERE list_contains($identifier_types, type)
                GROUP BY dst HAVING count(DISTINCT src) >= 2)
SELECT src, dst, type::INTEGER AS type, {_LINK_VALUES} FROM ml
WHERE (list_contains($identifier_types, type) AND dst IN (SELECT id FROM shared))
   OR (type = $transfer AND dst IN (SELECT id FROM _members))
ORDER BY src, dst, type LIMIT $cap
"""

_ACCOUNT_COUNTS: Final = """
SELECT dst, count(*) FROM links_in l SEMI JOIN _wanted w ON l.dst = w.id GROUP BY dst LIMIT $cap
"""

_TRANSFERS: Final = {
    "out": f"SELECT src, dst, {_LINK_VALUES} FROM links SEMI JOIN _frontier f ON links.src = f.id "
    "WHERE type = $transfer ORDER BY src, dst LIMIT $cap",
    "in": f"SELECT src, dst, {_LINK_VALUES} FROM links_in l SEMI JOIN _frontier f ON l.dst = f.id "
    "WHERE type = $transfer ORDER BY src, dst LIMIT $cap",
}


def _id_table(ids: I64, **extra: I64) -> pa.Table:
    columns: dict[str, Any] = {"id": pa.array(np.asarray(ids, np.int64))}
    columns.update({name: pa.array(np.asarray(v, np.int64)) for name, v in extra.items()})
    return pa.table(columns)


def _codes(link_types: Sequence[LinkType]) -> list[int]:
    return [LINK_TYPE_CODE[t] for t in link_types]


class EmbeddedRelationships:
    """Every query family on an embedded (DuckDB) store.

    Parameters
    ----------
    store : GraphStore
        A store with ``read_cursor`` (the embedded backend).
    timeout_s : float
        Every statement is interrupted after this many seconds.

    Raises
    ------
    BackendUnavailable
        If the store hands out no SQL cursor.
    """

    def __init__(self, store: GraphStore, *, timeout_s: float = EMBEDDED_QUERY_TIMEOUT_S) -> None:
        if not isinstance(store, SqlReadable):
            raise BackendUnavailable(f"store {store!r} cannot run SQL reads")
        if timeout_s <= 0:
            raise InvalidInput("timeout_s must be > 0")
        self._store = store
        self.timeout_s = timeout_s

    def _run(self, work: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """Run ``work`` on a fresh cursor, interrupting it at the timeout."""
        with self._store.read_cursor() as cursor:
            timer = threading.Timer(self.timeout_s, cursor.interrupt)
            timer.daemon = True
            timer.start()
            try:
                return work(cursor)
            except duckdb.InterruptException as exc:
                raise QueryTimeout(
                    f"embedded query ran past its timeout of {self.timeout_s:g} s and was stopped"
                ) from exc
            finally:
                timer.cancel()

    def _rows(
        self, sql: str, params: dict[str, Any], tables: dict[str, pa.Table] | None = None
    ) -> list[Row]:
        if params.get("cap", 1) <= 0:
            return []

        def work(cursor: duckdb.DuckDBPyConnection) -> list[Row]:
            for name, table in (tables or {}).items():
                cursor.register(name, table)
            return list(cursor.execute(sql, params).fetchall())

        return self._run(work)

    def neighbour_rows(
        self,
        entity_id: int,
        link_types: Sequence[LinkType],
        after: tuple[int, int, str] | None,
        cap: int,
    ) -> list[Row]:
        """See ``NeighbourhoodBackend.neighbour_rows``."""
        after_type, after_id, after_direction = after if after is not None else (-1, -1, "")
        return self._rows(
            _NEIGHBOURS,
            {
                "id": int(entity_id),
                "types": _codes(link_types),
                "after_type": after_type,
                "after_id": after_id,
                "after_direction": after_direction,
                "cap": cap,
            },
        )

    def identifier_uses(
        self, account_id: int, link_types: Sequence[LinkType], cap: int
    ) -> list[Row]:
        """See ``SharedIdentifierBackend.identifier_uses``."""
        params = {"id": int(account_id), "types": _codes(link_types), "cap": cap}
        return self._rows(_IDENTIFIER_USES, params)

    def sharing_accounts(
        self,
        account_id: int,
        identifier_ids: I64,
        identifier_counts: I64,
        cap: int,
    ) -> list[Row]:
        """See ``SharedIdentifierBackend.sharing_accounts``."""
        wanted = _id_table(identifier_ids, n=identifier_counts)
        params = {"id": int(account_id), "cap": cap}
        return self._rows(_SHARING_ACCOUNTS, params, {"_wanted": wanted})

    def shared_pairs(self, account_ids: I64, identifier_ids: I64, cap: int) -> list[Row]:
        """See ``SharedIdentifierBackend.shared_pairs``."""
        tables = {"_accounts": _id_table(account_ids), "_wanted": _id_table(identifier_ids)}
        return self._rows(_SHARED_PAIRS, {"cap": cap}, tables)

    def adjacent(self, ids: I64, link_types: Sequence[LinkType], cap: int) -> tuple[I64, I64]:
        """See ``PathBackend.adjacent``."""
        empty = np.empty(0, np.int64)
        if cap <= 0 or len(ids) == 0:
            return empty, empty.copy()

        def work(cursor: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            cursor.register("_frontier", _id_table(ids))
            found: dict[str, Any] = cursor.execute(
                _ADJACENT, {"types": _codes(link_types), "cap": cap}
            ).fetchnumpy()
            return found

        found = self._run(work)
        return np.asarray(found["a"], np.int64), np.asarray(found["b"], np.int64)

    def ring_links(self, member_ids: I64, cap: int) -> list[Row]:
        """See ``RingSubgraphBackend.ring_links``."""
        params = {"identifier_types": _IDENTIFIER_LINK_CODES, "transfer": _TRANSFER, "cap": cap}
        return self._rows(_RING_LINKS, params, {"_members": _id_table(member_ids)})

    def account_counts(self, identifier_ids: I64) -> list[Row]:
        """See ``RingSubgraphBackend.account_counts``."""
        params = {"cap": len(identifier_ids)}
        return self._rows(_ACCOUNT_COUNTS, params, {"_wanted": _id_table(identifier_ids)})

    def transfer_rows(self, ids: I64, direction: Literal["out", "in"], cap: int) -> list[Row]:
        """See ``MoneyFlowBackend.transfer_rows``."""
        params = {"transfer": _TRANSFER, "cap": cap}
        return self._rows(_TRANSFERS[direction], params, {"_frontier": _id_table(ids)})

    def link_transfers(self, src: I64, dst: I64, cap: int) -> list[Row]:
        """See ``MoneyFlowBackend.link_transfers`` (read from the event files)."""
        return link_transfers(self._store, src, dst, cap, timeout_s=self.timeout_s)
