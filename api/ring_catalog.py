"""The rings of the latest flagging run, held in memory for the investigator API.

``rings`` is a small analytics table (one row per ring), so the server loads it with the
feature snapshot and answers ``rings(...)`` listings and ring look-ups without touching
the store; only a ring's members' details and its subgraph are read from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from graph_service.errors import EntityNotFound, InvalidInput
from graph_service.store import GraphStore

RingOrder = Literal["score_desc", "score_asc", "size_desc"]


@dataclass(frozen=True, slots=True)
class RingRecord:
    """One ring of a flagging run.

    Attributes
    ----------
    ring_id : str
    score : float
    size : int
    typology : str
    reasons : tuple of str
    members : tuple of int
        Member account ids, ascending.
    evidence : tuple of dict
        The strongest internal links: ``{src, dst, type, key}``.
    flagged : bool
    new_alert : bool
    """

    ring_id: str
    score: float
    size: int
    typology: str
    reasons: tuple[str, ...]
    members: tuple[int, ...]
    evidence: tuple[dict[str, Any], ...]
    flagged: bool
    new_alert: bool


class RingCatalog:
    """Every ring of one run, by id and in listing order.

    Parameters
    ----------
    records : list of RingRecord
    version : str or None
        The ``rings`` table version they come from.
    """

    def __init__(self, records: list[RingRecord], version: str | None) -> None:
        self.version = version
        self._by_id = {r.ring_id: r for r in records}
        self._orders: dict[str, list[RingRecord]] = {
            "score_desc": sorted(records, key=lambda r: (-r.score, r.ring_id)),
            "score_asc": sorted(records, key=lambda r: (r.score, r.ring_id)),
            "size_desc": sorted(records, key=lambda r: (-r.size, -r.score, r.ring_id)),
        }

    def __len__(self) -> int:
        return len(self._by_id)

    @classmethod
    def empty(cls) -> RingCatalog:
        """A catalog with no rings."""
        return cls([], None)

    @classmethod
    def from_store(cls, store: GraphStore) -> RingCatalog:
        """The rings of the latest run recorded in ``store`` (empty if none).

        Notes
        -----
        One ``read_table`` of ``rings``: O(rings + members).
        """
        versions = store.table_versions("rings")
        if not versions:
            return cls.empty()
        table = store.read_table("rings", version=versions[-1])
        has_evidence = "evidence" in table.column_names
        records = []
        for row in table.to_pylist():
            records.append(
                RingRecord(
                    ring_id=str(row["ring_id"]),
                    score=float(row["score"]),
                    size=int(row["size"]),
                    typology=str(row.get("typology") or "unknown"),
                    reasons=tuple(row.get("reasons") or ()),
                    members=tuple(sorted(int(m) for m in row.get("members") or ())),
                    evidence=tuple(row["evidence"] or ()) if has_evidence else (),
                    flagged=bool(row.get("flagged")),
                    new_alert=bool(row.get("new_alert")),
                )
            )
        return cls(records, versions[-1])

    def get(self, ring_id: str) -> RingRecord:
        """The ring with this id.

        Raises
        ------
        EntityNotFound
            If the latest run has no such ring.
        """
        record = self._by_id.get(ring_id)
        if record is None:
            raise EntityNotFound(f"no ring {ring_id!r} in the latest flagging run")
        return record

    def find(self, ring_id: str) -> RingRecord | None:
        """The ring with this id, or ``None``."""
        return self._by_id.get(ring_id)

    def page(
        self,
        *,
        min_score: float,
        typology: str | None,
        first: int,
        after: str | None,
        order: RingOrder,
    ) -> tuple[list[RingRecord], int, bool]:
        """One page of rings: ``(rings, total matching, more follow)``.

        Raises
        ------
        InvalidInput
            If ``after`` names no ring of the listing.

        Notes
        -----
        O(rings) per call (a filter over the run's rings, held in memory).
        """
        matching = [
            r
            for r in self._orders[order]
            if r.score >= min_score and (typology is None or r.typology == typology)
        ]
        start = 0
        if after is not None:
            positions = [i for i, r in enumerate(matching) if r.ring_id == after]
            if not positions:
                raise InvalidInput(f"cursor {after!r} names no ring of this listing")
            start = positions[0] + 1
        page = matching[start : start + first]
        return page, len(matching), start + first < len(matching)
