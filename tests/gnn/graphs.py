"""Small export tables with a planted fraud signal, for the GNN tests.

``planted_graph`` builds ``export_nodes`` / ``export_links`` / ``labels`` tables: legit
accounts each with their own device and phone, a few two-person households sharing an
address, everyone on one carrier IP and a popular merchant; fraud rings of four accounts
share one emulator device and one phone. Accounts are created over 100 days and labelled
thirty days after creation, so a time split has every class in every part.
:func:`fraud_only` drops the legit labels (a positive-unlabelled split then follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.store import LINK_EXPORT_SCHEMA, NODE_EXPORT_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    """``T0`` plus ``n`` days."""
    return T0 + timedelta(days=n)


@dataclass
class GraphTables:
    """Export-shaped tables and the planted truth."""

    nodes: pa.Table
    links: pa.Table
    labels: pa.Table
    fraud: list[int]
    legit: list[int]
    future_device: int
    last_label: datetime


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []

    def node(self, node_type: NodeType, first: datetime, **attributes: Any) -> int:
        node_id = len(self.nodes)
        row: dict[str, Any] = dict.fromkeys(NODE_EXPORT_SCHEMA.names)
        row.update(
            id=node_id,
            type=NODE_TYPE_CODE[node_type],
            key=f"{node_type.name[0]}{node_id:05d}",
            first_ts=first,
            last_ts=first,
            **attributes,
        )
        self.nodes.append(row)
        return node_id

    def link(self, src: int, dst: int, link_type: LinkType, first: datetime) -> None:
        self.links.append(
            {
                "src": src,
                "dst": dst,
                "type": LINK_TYPE_CODE[link_type],
                "n_events": 1,
                "amount_sum": 0.0,
                "first_ts": first,
                "last_ts": first,
            }
        )


def planted_graph(
    *, legit: int = 160, rings: int = 10, future_signal: bool = False, past_signal: bool = False
) -> GraphTables:
    """Tables with ``rings`` fraud rings of four among ``legit`` legit accounts.

    Parameters
    ----------
    future_signal : bool
        Link every fraud account to one shared emulator device one day after the last
        label (an event no example may see).
    past_signal : bool
        The same links, but first seen at each fraud account's creation.
    """
    b = _Builder()
    nat_ip = b.node(NodeType.IP, day(0))
    merchant = b.node(NodeType.MERCHANT, day(0))
    future_device = b.node(NodeType.DEVICE, day(0), is_emulator=True)
    labels: list[dict[str, Any]] = []
    fraud_ids: list[int] = []
    legit_ids: list[int] = []
    n_total = legit + 4 * rings
    created_at = [day(100 * i / n_total) for i in range(n_total)]
    # Each ring signs up in one burst; the bursts are spread over the period.
    ring_of = {int((r + 0.5) * n_total / rings) - 2 + k: r for r in range(rings) for k in range(4)}
    ring_device: dict[int, int] = {}
    ring_phone: dict[int, int] = {}
    household_address: int | None = None
    for i in range(n_total):
        created = created_at[i]
        account = b.node(NodeType.ACCOUNT, created)
        b.link(account, nat_ip, LinkType.LOGS_IN_FROM, created)
        b.link(account, merchant, LinkType.PAYS, created + timedelta(hours=1))
        if i in ring_of:
            r = ring_of[i]
            if r not in ring_device:
                ring_device[r] = b.node(NodeType.DEVICE, created, is_emulator=True)
                ring_phone[r] = b.node(NodeType.PHONE, created)
            b.link(account, ring_device[r], LinkType.USES_DEVICE, created)
            b.link(account, ring_phone[r], LinkType.HAS_PHONE, created)
            fraud_ids.append(account)
            label = "fraud"
        else:
            device = b.node(NodeType.DEVICE, created)
            phone = b.node(NodeType.PHONE, created)
            b.link(account, device, LinkType.USES_DEVICE, created)
            b.link(account, phone, LinkType.HAS_PHONE, created)
            if i % 10 == 0:
                household_address = b.node(NodeType.ADDRESS, created)
            if i % 10 in (0, 1) and household_address is not None:
                b.link(account, household_address, LinkType.HAS_ADDRESS, created)
            legit_ids.append(account)
            label = "legit"
        labels.append(
            {
                "entity_id": account,
                "entity_type": "Account",
                "entity_key": f"A{account:05d}",
                "label": label,
                "source": "test",
                "author": "analyst_001",
                "reason": "planted",
                "ts": created + timedelta(days=30),
            }
        )
    last_label = max(row["ts"] for row in labels)
    if future_signal or past_signal:
        for account in fraud_ids:
            when = last_label + timedelta(days=1) if future_signal else b.nodes[account]["first_ts"]
            b.link(account, future_device, LinkType.USES_DEVICE, when)
    return GraphTables(
        nodes=pa.Table.from_pylist(b.nodes, schema=NODE_EXPORT_SCHEMA),
        links=pa.Table.from_pylist(b.links, schema=LINK_EXPORT_SCHEMA),
        labels=pa.Table.from_pylist(labels).cast(
            pa.schema(
                [
                    pa.field("entity_id", pa.int64()),
                    pa.field("entity_type", pa.string()),
                    pa.field("entity_key", pa.string()),
                    pa.field("label", pa.string()),
                    pa.field("source", pa.string()),
                    pa.field("author", pa.string()),
                    pa.field("reason", pa.string()),
                    pa.field("ts", pa.timestamp("us", tz="UTC")),
                ]
            )
        ),
        fraud=fraud_ids,
        legit=legit_ids,
        future_device=future_device,
        last_label=last_label,
    )


def fraud_only(labels: pa.Table, *, keep_legit: int = 0) -> pa.Table:
    """``labels`` without its legit rows (the first ``keep_legit`` of them kept), as a bank
    that confirms fraud but rarely confirms legitimacy has them."""
    legit = np.flatnonzero(np.asarray(labels.column("label").to_pylist()) == "legit")
    drop = np.zeros(labels.num_rows, bool)
    drop[legit[keep_legit:]] = True
    return labels.filter(pa.array(~drop))
