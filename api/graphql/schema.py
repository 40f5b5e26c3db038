"""The investigators' GraphQL schema: the root query and mutation, and its limits.

Queries: ``entity``, ``neighbours`` (``neighbors``, its deprecated old spelling, answers
the same), ``sharedIdentifiers``, ``path``, ``ring`` (with its ``flow``), ``rings``,
``moneyFlow`` (``timeRespecting`` for time-respecting paths only); mutations:
``labelEntity``, ``labelRing``. Relationship reads go through :mod:`queries` (both
backends); features, risk, reasons and rings come from the feature snapshot and the ring
catalog, batched per request by DataLoaders, so listing fifty neighbours with their risk
is one cache read, not fifty. Every list has a server-side cap. The types the queries
return are in :mod:`api.graphql.types`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.types import ExecutionContext

from api.graphql.limits import ErrorCodes, cost_limit_rule
from api.graphql.types import (
    Ctx,
    EntityInput,
    EntityNode,
    GqlFlowDirection,
    GqlLabel,
    GqlLinkType,
    GqlNodeType,
    GqlRingOrder,
    HopNode,
    IdentifierUseNode,
    LabelReceipt,
    LinkNode,
    MoneyFlowNode,
    NeighborConnection,
    NeighborEdge,
    PageInfo,
    PathNode,
    RingConnection,
    RingLabelReceipt,
    RingNode,
    SharedIdentifiersNode,
    SharingAccountNode,
)
from api.settings import ApiSettings
from graph_service.errors import EntityNotFound, FraudGraphError, InvalidInput
from graph_service.labels import LabelEntry
from graph_service.model import LinkType, NodeType
from graph_service.store import Entity, GraphStore
from queries import MoneyFlow, money_flow, neighbourhood, shared_identifiers, shortest_path
from queries.limits import (
    MAX_FLOW_DEPTH,
    MAX_PATH_HOPS,
    checked_limit,
    checked_range,
    parse_key,
)

#: Longest reason text a label may carry.
MAX_REASON_LENGTH = 1_000


def _page(info: Ctx, first: int, what: str = "first") -> int:
    return checked_limit(first, info.context.settings.graphql_page_max, what)


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


async def _neighbours(
    info: Ctx,
    type: GqlNodeType,
    key: str,
    link_types: list[GqlLinkType] | None = None,
    first: int = 50,
    after: str | None = None,
) -> NeighborConnection:
    """One page of an entity's neighbours: the resolver of ``neighbours`` and ``neighbors``."""
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


#: Why ``neighbors`` is deprecated (it answers exactly as ``neighbours``).
NEIGHBORS_DEPRECATION = "Use `neighbours`, the product's spelling; `neighbors` answers the same."


@strawberry.type
class Query:
    @strawberry.field(description="An entity by type and key, with its risk and ring.")
    async def entity(self, info: Ctx, type: GqlNodeType, key: str) -> EntityNode:
        node_type, entity_key = _node_type(type), parse_key(key)

        def work(store: GraphStore) -> Entity:
            return store.get_entity(node_type, entity_key)

        return EntityNode.of(await info.context.gateway.call(work))

    neighbours: NeighborConnection = strawberry.field(
        resolver=_neighbours, description="An entity's neighbours, one page at a time."
    )
    neighbors: NeighborConnection = strawberry.field(
        resolver=_neighbours,
        description="An entity's neighbours, one page at a time (old spelling).",
        deprecation_reason=NEIGHBORS_DEPRECATION,
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

    @strawberry.field(
        description="Transfers around an account, hop by hop; with timeRespecting only along "
        "paths where money moves on at or after it arrived, with each link's time bound and "
        "the amount moved within it."
    )
    async def money_flow(
        self,
        info: Ctx,
        account: str,
        depth: int = 2,
        direction: GqlFlowDirection = GqlFlowDirection.BOTH,
        first: int = 100,
        time_respecting: bool = False,
    ) -> MoneyFlowNode:
        hops = checked_range(depth, 1, MAX_FLOW_DEPTH, "depth")
        limit = _page(info, first)

        def work(store: GraphStore) -> MoneyFlow:
            return money_flow(
                store,
                account,
                depth=hops,
                direction=direction.value,
                limit=limit,
                time_respecting=time_respecting,
            )

        return MoneyFlowNode.of(await info.context.gateway.call(work))


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
            store.add_labels(
                [
                    LabelEntry(
                        entity.type,
                        entity.key,
                        label.value,
                        source=f"api:ring:{record.ring_id}",
                        author=author,
                        reason=text,
                        ts=now,
                    )
                    for entity in entities
                ]
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
