"""The investigators' GraphQL schema.

Queries: ``entity``, ``neighbors``, ``sharedIdentifiers``, ``path``, ``ring``, ``rings``,
``moneyFlow``; mutations: ``labelEntity``, ``labelRing``. Relationship reads go through
:mod:`queries` (both backends); features, risk, reasons and rings come from the feature
snapshot and the ring catalog, batched per request by DataLoaders, so listing fifty
neighbours with their risk is one cache read, not fifty. Every list has a server-side cap.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.types import ExecutionContext, Info

from api.graphql.context import RequestContext
from api.graphql.limits import ErrorCodes, cost_limit_rule
from api.ring_catalog import RingRecord
from api.settings import ApiSettings
from graph_service.errors import EntityNotFound, FraudGraphError, InvalidInput
from graph_service.model import LinkType, NodeType
from graph_service.store import Entity, GraphStore
from queries import money_flow, neighbourhood, ring_subgraph, shared_identifiers, shortest_path
from queries.limits import (
    MAX_FLOW_DEPTH,
    MAX_PATH_HOPS,
    MAX_RING_MEMBERS,
    checked_limit,
    checked_range,
    parse_key,
)
from queries.results import EntityRef, Link
from scoring.feature_cache import EntityFeatures

Ctx = Info[RequestContext, None]

#: Longest reason text a label may carry.
MAX_REASON_LENGTH = 1_000


@strawberry.enum(name="NodeType", description="Kinds of entity.")
class GqlNodeType(Enum):
    ACCOUNT = "Account"
    DEVICE = "Device"
    IP = "IP"
    PHONE = "Phone"
    EMAIL = "Email"
    CARD = "Card"
    ADDRESS = "Address"
    MERCHANT = "Merchant"


@strawberry.enum(name="LinkType", description="Kinds of aggregated link.")
class GqlLinkType(Enum):
    USES_DEVICE = "USES_DEVICE"
    LOGS_IN_FROM = "LOGS_IN_FROM"
    HAS_PHONE = "HAS_PHONE"
    HAS_EMAIL = "HAS_EMAIL"
    HAS_CARD = "HAS_CARD"
    HAS_ADDRESS = "HAS_ADDRESS"
    PAYS = "PAYS"
    TRANSFERS_TO = "TRANSFERS_TO"


@strawberry.enum(name="Label", description="An investigator's verdict.")
class GqlLabel(Enum):
    FRAUD = "fraud"
    LEGIT = "legit"


@strawberry.enum(name="RingOrder", description="Order of a ring listing.")
class GqlRingOrder(Enum):
    SCORE_DESC = "score_desc"
    SCORE_ASC = "score_asc"
    SIZE_DESC = "size_desc"


@strawberry.enum(name="FlowDirection", description="Which way to follow the money.")
class GqlFlowDirection(Enum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


def _page(info: Ctx, first: int, what: str = "first") -> int:
    return checked_limit(first, info.context.settings.graphql_page_max, what)


@strawberry.type(name="SharedCounts")
class SharedCountsNode:
    shared_devices: int
    shared_ips: int
    shared_phones: int
    shared_emails: int
    shared_cards: int
    shared_addresses: int


@strawberry.type(name="Features", description="The entity's risk feature from the snapshot.")
class FeaturesNode:
    risk: float | None
    ring_id: str | None
    ring_score: float | None
    community_size: int
    shared_identifiers: int
    shared_counts: SharedCountsNode
    pagerank: float | None
    seeded_pagerank: float | None
    gnn_score: float | None
    reasons: list[str]
    snapshot_version: str
    snapshot_time: datetime

    @classmethod
    def of(cls, f: EntityFeatures) -> FeaturesNode:
        return cls(
            risk=f.risk,
            ring_id=f.ring_id,
            ring_score=f.ring_score,
            community_size=f.community_size,
            shared_identifiers=f.shared_identifiers,
            shared_counts=SharedCountsNode(**f.shared_counts),
            pagerank=f.pagerank,
            seeded_pagerank=f.seeded_pagerank,
            gnn_score=f.gnn_score,
            reasons=list(f.reasons),
            snapshot_version=f.snapshot_version,
            snapshot_time=f.snapshot_time,
        )


@strawberry.type(name="Entity", description="A node of the entity graph.")
class EntityNode:
    id: int
    type: GqlNodeType
    key: str

    @classmethod
    def of(cls, entity: Entity | EntityRef) -> EntityNode:
        return cls(id=entity.id, type=GqlNodeType(entity.type.value), key=entity.key)

    async def _features(self, info: Ctx) -> EntityFeatures | None:
        return await info.context.features.load((self.type.value, self.key))

    @strawberry.field(description="Risk feature from the snapshot (null if not scored).")
    async def features(self, info: Ctx) -> FeaturesNode | None:
        found = await self._features(info)
        return None if found is None else FeaturesNode.of(found)

    @strawberry.field(description="Calibrated fraud probability (null if not scored).")
    async def risk(self, info: Ctx) -> float | None:
        found = await self._features(info)
        return None if found is None else found.risk

    @strawberry.field(description="Top reason codes, strongest first.")
    async def reasons(self, info: Ctx) -> list[str]:
        found = await self._features(info)
        return [] if found is None else list(found.reasons)

    @strawberry.field(description="The ring the entity belongs to, if any.")
    async def ring(self, info: Ctx) -> RingNode | None:
        found = await self._features(info)
        if found is None or found.ring_id is None:
            return None
        record = info.context.feature_service.rings.find(found.ring_id)
        return None if record is None else RingNode.of(record)


@strawberry.type(name="Link", description="An aggregated link (src is the account end).")
class LinkNode:
    src: int
    dst: int
    type: GqlLinkType
    n_events: int
    amount_sum: float
    first_ts: datetime
    last_ts: datetime

    @classmethod
    def of(cls, link: Link) -> LinkNode:
        return cls(
            src=link.src,
            dst=link.dst,
            type=GqlLinkType(link.type.value),
            n_events=link.n_events,
            amount_sum=link.amount_sum,
            first_ts=link.first_ts,
            last_ts=link.last_ts,
        )


@strawberry.type(name="PageInfo")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(name="NeighborEdge")
class NeighborEdge:
    cursor: str
    node: EntityNode
    link: LinkNode
    direction: str


@strawberry.type(name="NeighborConnection")
class NeighborConnection:
    entity: EntityNode
    edges: list[NeighborEdge]
    page_info: PageInfo


@strawberry.type(name="IdentifierUse")
class IdentifierUseNode:
    identifier: EntityNode
    link_type: GqlLinkType
    account_count: int
    expanded: bool


@strawberry.type(name="SharingAccount")
class SharingAccountNode:
    account: EntityNode
    shared: list[EntityNode]
    rarest_account_count: int


@strawberry.type(name="SharedIdentifiers")
class SharedIdentifiersNode:
    account: EntityNode
    identifiers: list[IdentifierUseNode]
    accounts: list[SharingAccountNode]
    truncated: bool


@strawberry.type(name="Hop")
class HopNode:
    links: list[LinkNode]


@strawberry.type(name="Path")
class PathNode:
    nodes: list[EntityNode]
    hops: list[HopNode]
    length: int


@strawberry.type(name="EvidenceLink", description="One of the ring's strongest internal links.")
class EvidenceLink:
    src: int
    dst: int
    type: str
    key: str | None


@strawberry.type(name="RingIdentifier")
class RingIdentifierNode:
    identifier: EntityNode
    member_count: int
    account_count: int


@strawberry.type(name="RingSubgraph")
class RingSubgraphNode:
    identifiers: list[RingIdentifierNode]
    links: list[LinkNode]


@strawberry.type(name="Ring", description="A ring of the latest flagging run.")
class RingNode:
    id: str
    score: float
    size: int
    typology: str
    reasons: list[str]
    flagged: bool
    new_alert: bool
    evidence: list[EvidenceLink]
    member_ids: list[int]
    _record: strawberry.Private[RingRecord]

    @classmethod
    def of(cls, record: RingRecord) -> RingNode:
        return cls(
            id=record.ring_id,
            score=record.score,
            size=record.size,
            typology=record.typology,
            reasons=list(record.reasons),
            flagged=record.flagged,
            new_alert=record.new_alert,
            evidence=[
                EvidenceLink(
                    src=int(e.get("src") or 0),
                    dst=int(e.get("dst") or 0),
                    type=str(e.get("type") or ""),
                    key=e.get("key"),
                )
                for e in record.evidence
            ],
            member_ids=list(record.members),
            _record=record,
        )

    @strawberry.field(description="Member accounts, by id (at most `first`).")
    async def members(self, info: Ctx, first: int = 100) -> list[EntityNode]:
        count = checked_limit(first, MAX_RING_MEMBERS, "first")
        ids = list(self._record.members[:count])
        # Members are scored accounts: their keys are in the snapshot, no store read needed.
        snapshot = info.context.feature_service.memory.snapshot
        rows = snapshot.rows_of_ids(ids) if snapshot is not None else [-1] * len(ids)
        missing = [i for i, row in zip(ids, rows, strict=True) if row < 0]
        loaded = dict(zip(missing, await info.context.entities.load_many(missing), strict=True))
        members = []
        for entity_id, row in zip(ids, rows, strict=True):
            if row >= 0 and snapshot is not None:
                node_type = GqlNodeType(snapshot.entity_types[int(row)])
                members.append(
                    EntityNode(id=entity_id, type=node_type, key=snapshot.keys[int(row)])
                )
            elif (entity := loaded.get(entity_id)) is not None:
                members.append(EntityNode.of(entity))
        return members

    @strawberry.field(description="Identifiers two or more members share, and the links.")
    async def subgraph(self, info: Ctx, first: int = 1_000) -> RingSubgraphNode:
        limit = checked_limit(first, 10_000, "first")
        members = list(self._record.members)

        def work(store: GraphStore) -> Any:
            return ring_subgraph(store, members, limit=limit)

        found = await info.context.gateway.call(work)
        return RingSubgraphNode(
            identifiers=[
                RingIdentifierNode(
                    identifier=EntityNode.of(i.identifier),
                    member_count=i.member_count,
                    account_count=i.account_count,
                )
                for i in found.identifiers
            ],
            links=[LinkNode.of(k) for k in found.links],
        )


@strawberry.type(name="RingConnection")
class RingConnection:
    nodes: list[RingNode]
    total_count: int
    page_info: PageInfo


@strawberry.type(name="FlowLink")
class FlowLinkNode:
    link: LinkNode
    hop: int
    direction: str


@strawberry.type(name="MoneyFlow")
class MoneyFlowNode:
    account: EntityNode
    accounts: list[EntityNode]
    links: list[FlowLinkNode]
    truncated: bool


@strawberry.input(name="EntityInput", description="An entity by type and normalised key.")
class EntityInput:
    type: GqlNodeType
    key: str


@strawberry.type(name="LabelReceipt", description="A label appended to the labels table.")
class LabelReceipt:
    entity_type: GqlNodeType
    entity_key: str
    label: GqlLabel
    author: str
    reason: str
    recorded_at: datetime


@strawberry.type(name="RingLabelReceipt")
class RingLabelReceipt:
    ring_id: str
    label: GqlLabel
    author: str
    reason: str
    members_labelled: int
    recorded_at: datetime


def _node_type(value: GqlNodeType) -> NodeType:
    return NodeType(value.value)


def _link_types(values: list[GqlLinkType] | None) -> list[LinkType] | None:
    return None if values is None else [LinkType(v.value) for v in values]


def _reason(reason: str) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidInput("reason must be a non-empty string")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(f"reason is longer than {MAX_REASON_LENGTH} characters")
    return text


@strawberry.type
class Query:
    @strawberry.field(description="An entity by type and key, with its risk and ring.")
    async def entity(self, info: Ctx, type: GqlNodeType, key: str) -> EntityNode:
        node_type, entity_key = _node_type(type), parse_key(key)

        def work(store: GraphStore) -> Entity:
            return store.get_entity(node_type, entity_key)

        return EntityNode.of(await info.context.gateway.call(work))

    @strawberry.field(description="An entity's neighbours, one page at a time.")
    async def neighbors(
        self,
        info: Ctx,
        type: GqlNodeType,
        key: str,
        link_types: list[GqlLinkType] | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> NeighborConnection:
        limit = _page(info, first)
        node_type, types = _node_type(type), _link_types(link_types)

        def work(store: GraphStore) -> Any:
            return neighbourhood(store, node_type, key, link_types=types, limit=limit, after=after)

        page = await info.context.gateway.call(work)
        return NeighborConnection(
            entity=EntityNode.of(page.entity),
            edges=[
                NeighborEdge(
                    cursor=n.cursor,
                    node=EntityNode.of(n.neighbour),
                    link=LinkNode.of(n.link),
                    direction=n.direction,
                )
                for n in page.neighbours
            ],
            page_info=PageInfo(has_next_page=page.truncated, end_cursor=page.next_after),
        )

    @strawberry.field(description="Accounts sharing identifiers with an account.")
    async def shared_identifiers(
        self,
        info: Ctx,
        account: str,
        first: int = 50,
        link_types: list[GqlLinkType] | None = None,
    ) -> SharedIdentifiersNode:
        limit = _page(info, first)
        types = _link_types(link_types)

        def work(store: GraphStore) -> Any:
            return shared_identifiers(store, account, link_types=types, limit=limit)

        found = await info.context.gateway.call(work)
        return SharedIdentifiersNode(
            account=EntityNode.of(found.account),
            identifiers=[
                IdentifierUseNode(
                    identifier=EntityNode.of(u.identifier),
                    link_type=GqlLinkType(u.link_type.value),
                    account_count=u.account_count,
                    expanded=u.expanded,
                )
                for u in found.identifiers[: info.context.settings.graphql_page_max]
            ],
            accounts=[
                SharingAccountNode(
                    account=EntityNode.of(a.account),
                    shared=[EntityNode.of(s) for s in a.shared],
                    rarest_account_count=a.rarest_account_count,
                )
                for a in found.accounts
            ],
            truncated=found.truncated,
        )

    @strawberry.field(description="A shortest path between two entities (null if none).")
    async def path(
        self,
        info: Ctx,
        from_: Annotated[EntityInput, strawberry.argument(name="from")],
        to: EntityInput,
        max_hops: int = 4,
    ) -> PathNode | None:
        hops = checked_range(max_hops, 1, MAX_PATH_HOPS, "maxHops")
        start = (_node_type(from_.type), parse_key(from_.key, "from.key"))
        end = (_node_type(to.type), parse_key(to.key, "to.key"))

        def work(store: GraphStore) -> Any:
            return shortest_path(store, start, end, max_hops=hops)

        found = await info.context.gateway.call(work)
        if found is None:
            return None
        return PathNode(
            nodes=[EntityNode.of(n) for n in found.nodes],
            hops=[HopNode(links=[LinkNode.of(k) for k in hop]) for hop in found.hops],
            length=found.length,
        )

    @strawberry.field(description="A ring of the latest flagging run.")
    async def ring(self, info: Ctx, id: str) -> RingNode:
        return RingNode.of(info.context.feature_service.rings.get(parse_key(id, "id")))

    @strawberry.field(description="Rings of the latest run, filtered and paged.")
    async def rings(
        self,
        info: Ctx,
        min_score: float = 0.0,
        typology: str | None = None,
        first: int = 20,
        after: str | None = None,
        order_by: GqlRingOrder = GqlRingOrder.SCORE_DESC,
    ) -> RingConnection:
        limit = _page(info, first)
        if min_score != min_score:
            raise InvalidInput("minScore must be a number")
        records, total, more = info.context.feature_service.rings.page(
            min_score=min_score,
            typology=typology,
            first=limit,
            after=after,
            order=order_by.value,
        )
        nodes = [RingNode.of(r) for r in records]
        return RingConnection(
            nodes=nodes,
            total_count=total,
            page_info=PageInfo(has_next_page=more, end_cursor=nodes[-1].id if nodes else None),
        )

    @strawberry.field(description="Transfers around an account, hop by hop.")
    async def money_flow(
        self,
        info: Ctx,
        account: str,
        depth: int = 2,
        direction: GqlFlowDirection = GqlFlowDirection.BOTH,
        first: int = 100,
    ) -> MoneyFlowNode:
        hops = checked_range(depth, 1, MAX_FLOW_DEPTH, "depth")
        limit = _page(info, first)

        def work(store: GraphStore) -> Any:
            return money_flow(store, account, depth=hops, direction=direction.value, limit=limit)

        found = await info.context.gateway.call(work)
        return MoneyFlowNode(
            account=EntityNode.of(found.account),
            accounts=[EntityNode.of(a) for a in found.accounts],
            links=[
                FlowLinkNode(link=LinkNode.of(f.link), hop=f.hop, direction=f.direction)
                for f in found.links
            ],
            truncated=found.truncated,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Append a fraud/legit label for an entity.")
    async def label_entity(
        self, info: Ctx, type: GqlNodeType, key: str, label: GqlLabel, reason: str
    ) -> LabelReceipt:
        node_type, entity_key, text = _node_type(type), parse_key(key), _reason(reason)
        author = info.context.author()
        now = datetime.now(UTC)

        def work(store: GraphStore) -> None:
            store.get_entity(node_type, entity_key)
            store.add_label(
                node_type,
                entity_key,
                label=label.value,
                source="api",
                author=author,
                reason=text,
                ts=now,
            )

        await info.context.gateway.call(work, write=True)
        return LabelReceipt(
            entity_type=type,
            entity_key=entity_key,
            label=label,
            author=author,
            reason=text,
            recorded_at=now,
        )

    @strawberry.mutation(description="Append a fraud/legit label for every member of a ring.")
    async def label_ring(
        self, info: Ctx, id: str, label: GqlLabel, reason: str
    ) -> RingLabelReceipt:
        record = info.context.feature_service.rings.get(parse_key(id, "id"))
        text = _reason(reason)
        author = info.context.author()
        now = datetime.now(UTC)
        members = list(record.members)

        def work(store: GraphStore) -> int:
            entities = store.get_entities(members)
            if len(entities) != len(members):
                raise EntityNotFound(f"members of ring {record.ring_id!r} are missing")
            for entity in entities:
                store.add_label(
                    entity.type,
                    entity.key,
                    label=label.value,
                    source=f"api:ring:{record.ring_id}",
                    author=author,
                    reason=text,
                    ts=now,
                )
            return len(entities)

        labelled = await info.context.gateway.call(work, write=True)
        return RingLabelReceipt(
            ring_id=record.ring_id,
            label=label,
            author=author,
            reason=text,
            members_labelled=labelled,
            recorded_at=now,
        )


class _Schema(strawberry.Schema):
    """The schema, logging only unexpected errors (expected ones carry a code instead)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [
            e
            for e in errors
            if e.original_error is not None and not isinstance(e.original_error, FraudGraphError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(settings: ApiSettings) -> strawberry.Schema:
    """The schema with its limits: depth, aliases, tokens, cost, error codes.

    Parameters
    ----------
    settings : ApiSettings

    Returns
    -------
    strawberry.Schema
    """
    return _Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: AddValidationRules(
                [cost_limit_rule(settings.graphql_max_cost, settings.graphql_page_max)]
            ),
            ErrorCodes,
        ],
    )
