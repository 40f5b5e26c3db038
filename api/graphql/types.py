"""The object, input and enum types of the investigators' GraphQL schema.

Types that reach beyond their own fields resolve it here: an ``Entity``'s features, risk,
reasons and ring come from the per-request feature DataLoader; a ``Ring``'s members from
the snapshot (the store only for members it lacks), its subgraph from :mod:`queries`.
The root ``Query`` and ``Mutation`` are in :mod:`api.graphql.schema`.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from api.graphql.context import RequestContext
from api.ring_catalog import RingRecord
from graph_service.store import Entity, GraphStore
from queries import ring_flow, ring_subgraph
from queries.limits import (
    MAX_RING_MEMBERS,
    checked_limit,
)
from queries.results import EntityRef, FlowLink, Link, MoneyFlow, RingFlow
from scoring.feature_cache import EntityFeatures

Ctx = Info[RequestContext, None]


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

    @strawberry.field(
        description="Money into, out of and within the ring, and its longest time-respecting "
        "chain of internal transfers."
    )
    async def flow(self, info: Ctx) -> RingFlowNode:
        members = list(self._record.members)

        def work(store: GraphStore) -> RingFlow:
            return ring_flow(store, members)

        return RingFlowNode.of(await info.context.gateway.call(work))

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


@strawberry.type(name="FlowLink", description="A transfer link reached following the money.")
class FlowLinkNode:
    link: LinkNode
    hop: int
    direction: str
    arrival_ts: datetime | None = strawberry.field(
        default=None,
        description="Time-respecting flows, links followed out: the earliest time money from "
        "the account can arrive at the link's dst over it.",
    )
    departure_ts: datetime | None = strawberry.field(
        default=None,
        description="Time-respecting flows, links followed in: the latest time money on the "
        "link can leave its src and still reach the account.",
    )
    moved_amount: float | None = strawberry.field(
        default=None,
        description="Time-respecting flows: the sum of the link's transfers within its time "
        "bound (amountSum on the link is its whole sum).",
    )
    moved_events: int | None = strawberry.field(
        default=None, description="Time-respecting flows: transfers movedAmount adds up."
    )

    @classmethod
    def of(cls, flow: FlowLink) -> FlowLinkNode:
        return cls(
            link=LinkNode.of(flow.link),
            hop=flow.hop,
            direction=flow.direction,
            arrival_ts=flow.arrival_ts,
            departure_ts=flow.departure_ts,
            moved_amount=flow.moved_amount,
            moved_events=flow.moved_events,
        )


@strawberry.type(name="MoneyFlow")
class MoneyFlowNode:
    account: EntityNode
    accounts: list[EntityNode]
    links: list[FlowLinkNode]
    truncated: bool
    time_respecting: bool

    @classmethod
    def of(cls, flow: MoneyFlow) -> MoneyFlowNode:
        return cls(
            account=EntityNode.of(flow.account),
            accounts=[EntityNode.of(a) for a in flow.accounts],
            links=[FlowLinkNode.of(f) for f in flow.links],
            truncated=flow.truncated,
            time_respecting=flow.time_respecting,
        )


@strawberry.type(
    name="RingFlow",
    description="A ring's money: in from outside, out to outside, within, retained (in - out), "
    "and hops, the transfers in its longest chain of internal transfers each made strictly "
    "later than the one before, from the member that one paid.",
)
class RingFlowNode:
    member_count: int
    total_in: float
    in_events: int
    sources: int
    total_out: float
    out_events: int
    destinations: int
    internal: float
    internal_events: int
    retained: float
    hops: int

    @classmethod
    def of(cls, flow: RingFlow) -> RingFlowNode:
        return cls(
            member_count=len(flow.members),
            total_in=flow.total_in,
            in_events=flow.in_events,
            sources=flow.sources,
            total_out=flow.total_out,
            out_events=flow.out_events,
            destinations=flow.destinations,
            internal=flow.internal,
            internal_events=flow.internal_events,
            retained=flow.retained,
            hops=flow.hops,
        )


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
