"""The in-process feature cache, and the protocol every feature cache answers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from scoring.feature_cache.snapshot import EntityFeatures, FeatureSnapshot

log = logging.getLogger(__name__)


class FeatureSource(Protocol):
    """What the feature endpoints read from: an in-process or a Redis cache."""

    name: str

    def get(self, entity_type: str, key: str) -> EntityFeatures | None:
        """The feature of one entity, or ``None`` if the current snapshot lacks it."""
        ...

    def get_many(self, entity_type: str, keys: Sequence[str]) -> list[EntityFeatures | None]:
        """Features of many entities of one type, in order (``None`` where missing)."""
        ...

    def current_version(self) -> str | None:
        """Version of the snapshot served now (``None`` before the first one)."""
        ...


class FeatureCache:
    """In-process feature cache: one :class:`FeatureSnapshot`, swapped atomically.

    Examples
    --------
    >>> cache = FeatureCache()
    >>> cache.get("Account", "A1") is None
    True

    Notes
    -----
    Readers take the current snapshot reference once per call, so one call never mixes
    two versions; :meth:`swap` is a single reference assignment. ``get`` is O(1),
    ``get_many`` O(n) with the column gathers vectorised.
    """

    name = "memory"

    def __init__(self, snapshot: FeatureSnapshot | None = None) -> None:
        self._snapshot = snapshot
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> FeatureSnapshot | None:
        """The snapshot served now."""
        return self._snapshot

    def swap(self, snapshot: FeatureSnapshot) -> FeatureSnapshot | None:
        """Serve ``snapshot`` from now on; returns the one it replaces.

        Parameters
        ----------
        snapshot : FeatureSnapshot

        Returns
        -------
        FeatureSnapshot or None
        """
        with self._lock:
            previous, self._snapshot = self._snapshot, snapshot
        log.info("feature snapshot swapped", extra={"version": snapshot.version})
        return previous

    def current_version(self) -> str | None:
        """Version of the snapshot served now."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.version

    def get(self, entity_type: str, key: str) -> EntityFeatures | None:
        """The feature of one entity (``None`` if not in the snapshot or none loaded)."""
        snapshot = self._snapshot
        if snapshot is None:
            return None
        row = snapshot.row_of(entity_type, key)
        return None if row < 0 else snapshot.features_at(row)

    def get_many(self, entity_type: str, keys: Sequence[str]) -> list[EntityFeatures | None]:
        """Features of many entities, in the order asked (``None`` where missing)."""
        snapshot = self._snapshot
        if snapshot is None:
            return [None] * len(keys)
        rows = snapshot.rows_of(entity_type, keys)
        return [snapshot.features_at(int(r)) if r >= 0 else None for r in rows]

    def lookup_rows(
        self, entity_type: str, keys: Sequence[str]
    ) -> tuple[FeatureSnapshot | None, npt.NDArray[np.int64]]:
        """The snapshot and the rows of ``keys`` in it: the columnar batch lookup.

        Gather columns with :meth:`FeatureSnapshot.column` on the returned snapshot (the
        one the rows belong to, whatever swaps happen meanwhile).
        """
        snapshot = self._snapshot
        if snapshot is None:
            return None, np.full(len(keys), -1, np.int64)
        return snapshot, snapshot.rows_of(entity_type, keys)
