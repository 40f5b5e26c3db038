"""The per-request GraphQL context: who asks, and DataLoaders made for this request only."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from api.auth import ApiKey
from api.feature_service import FeatureService
from api.metrics import ApiMetrics
from api.settings import ApiSettings
from api.store_access import StoreGateway
from graph_service.errors import BackendUnavailable
from graph_service.store import Entity, GraphStore
from scoring.feature_cache import EntityFeatures


class RequestContext(BaseContext):
    """What every resolver of one request sees.

    Attributes
    ----------
    key : ApiKey or None
        The caller (``None`` only for the GraphiQL page).
    entities : DataLoader[int, Entity | None]
        Entities by id: one ``get_entities`` store read per batch of ids.
    features : DataLoader[tuple[str, str], EntityFeatures | None]
        Features by ``(type, key)`` from the feature cache (never the store).
    """

    def __init__(
        self,
        *,
        key: ApiKey | None,
        settings: ApiSettings,
        gateway: StoreGateway,
        feature_service: FeatureService,
        metrics: ApiMetrics,
    ) -> None:
        super().__init__()
        self.key = key
        self.settings = settings
        self.gateway = gateway
        self.feature_service = feature_service
        self.metrics = metrics
        self.entities: DataLoader[int, Entity | None] = DataLoader(load_fn=self._load_entities)
        self.features: DataLoader[tuple[str, str], EntityFeatures | None] = DataLoader(
            load_fn=self._load_features
        )

    async def _load_entities(self, ids: Sequence[int]) -> list[Entity | None]:
        wanted = list(ids)

        def work(store: GraphStore) -> list[Entity]:
            return store.get_entities(wanted)

        found = {e.id: e for e in await self.gateway.call(work)}
        return [found.get(i) for i in wanted]

    async def _load_features(self, names: Sequence[tuple[str, str]]) -> list[EntityFeatures | None]:
        by_type: dict[str, list[int]] = {}
        for i, (entity_type, _) in enumerate(names):
            by_type.setdefault(entity_type, []).append(i)
        out: list[EntityFeatures | None] = [None] * len(names)
        for entity_type, positions in by_type.items():
            try:
                found = self.feature_service.get_many(entity_type, [names[i][1] for i in positions])
            except BackendUnavailable:
                found = [None] * len(positions)
            for i, item in zip(positions, found, strict=True):
                out[i] = item
        return out

    def author(self) -> str:
        """The name recorded as a label's author."""
        return self.key.name if self.key is not None else "anonymous"
