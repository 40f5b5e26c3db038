"""``/v1/features``: the real-time scorer's per-entity risk feature, from the cache only."""

from __future__ import annotations

from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.deps import FeaturesDep, GatewayDep, ScorerKey, SettingsDep
from api.feature_service import entity_missing, on_demand_payload
from graph_service.errors import InvalidInput, LimitExceeded
from graph_service.model import NodeType

router = APIRouter(prefix="/v1/features", tags=["features"])

#: Longest natural key accepted.
MAX_KEY_LENGTH = 256


class SharedCounts(BaseModel):
    """Identifiers of each type the entity shares with another account."""

    shared_devices: int
    shared_ips: int
    shared_phones: int
    shared_emails: int
    shared_cards: int
    shared_addresses: int


class Features(BaseModel):
    """The compact risk feature of one entity (``null`` snapshot fields and the reason
    ``NOT_IN_SNAPSHOT`` mark an on-demand answer)."""

    entity_type: str
    key: str
    risk: float | None
    ring_id: str | None
    ring_score: float | None
    community_size: int | None
    shared_identifiers: int
    shared_counts: SharedCounts
    pagerank: float | None
    seeded_pagerank: float | None
    gnn_score: float | None
    reasons: list[str]
    snapshot_version: str | None
    snapshot_time: str | None


class EntityName(BaseModel):
    """An entity by type and normalised key."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=32, examples=["Account"])
    key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH, examples=["A000000001"])


class BatchRequest(BaseModel):
    """Entities to look up in one call (at most ``FRAUDGRAPH_API_FEATURE_BATCH_MAX``)."""

    model_config = ConfigDict(extra="forbid")

    entities: list[EntityName]


class BatchResponse(BaseModel):
    """Features in the order asked (``null`` for entities the snapshot lacks)."""

    data: list[Features | None]
    count: int
    missing: int


class ErrorBody(BaseModel):
    """``{"error": {"code", "message"}}``."""

    error: dict[str, Any]


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed type or key"},
    401: {"model": ErrorBody, "description": "Missing or unknown API key"},
    403: {"model": ErrorBody, "description": "The key's role may not read features"},
    404: {"model": ErrorBody, "description": "No features for this entity"},
    413: {"model": ErrorBody, "description": "Too many entities in one batch"},
    422: {"model": ErrorBody, "description": "Body or parameters fail validation"},
    503: {"model": ErrorBody, "description": "No feature cache can answer"},
}

#: Node type values by every accepted spelling, lower-cased (``account``, ``Account``...).
NODE_TYPES: Final = {t.value.lower(): t.value for t in NodeType} | {
    t.name.lower(): t.value for t in NodeType
}


def node_type_name(value: str) -> str:
    """The node type named by ``value`` (case-insensitive), as its value (``"Account"``).

    Raises
    ------
    InvalidInput
        If ``value`` names no node type.
    """
    found = NODE_TYPES.get(value.lower())
    if found is None:
        raise InvalidInput(
            f"unknown entity type {value!r}; expected one of {[t.value for t in NodeType]}"
        )
    return found


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get(
    "/{entity_type}/{key}",
    responses={200: {"model": Features}, **_ERRORS},
    summary="The risk feature of one entity",
)
async def get_features(
    entity_type: Annotated[str, Path(min_length=1, max_length=32, examples=["Account"])],
    key: Annotated[str, Path(min_length=1, max_length=MAX_KEY_LENGTH)],
    features: FeaturesDep,
    settings: SettingsDep,
    gateway: GatewayDep,
    _key: ScorerKey,
) -> Response:
    """Served from the feature cache; 404 if the current snapshot lacks the entity (or,
    with ``FRAUDGRAPH_API_ON_DEMAND_FEATURES``, a bounded computation from the graph for
    an account scored in no snapshot yet)."""
    node_type = node_type_name(entity_type)
    body = await features.body(node_type, key)
    if body is None:
        if not settings.on_demand_features:
            raise entity_missing(node_type, key)
        found = await gateway.call(lambda store: on_demand_payload(store, node_type, key))
        body = orjson.dumps(found)
    return _json(body)


@router.post(
    "/batch",
    responses={200: {"model": BatchResponse}, **_ERRORS},
    summary="The risk features of many entities",
)
async def get_features_batch(
    request: BatchRequest, features: FeaturesDep, settings: SettingsDep, _key: ScorerKey
) -> Response:
    """Features in the order asked, ``null`` for entities the snapshot lacks."""
    entities = request.entities
    if len(entities) > settings.feature_batch_max:
        raise LimitExceeded(
            f"{len(entities)} entities in one batch exceed the cap of {settings.feature_batch_max}"
        )
    return _json(await features.batch_body([(node_type_name(e.type), e.key) for e in entities]))
