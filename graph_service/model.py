"""The entity-graph model: node types, link types and their endpoints.

Nodes are keyed by ``(NodeType, normalised key)``; each gets a dense integer id
(``0..n-1`` in creation order) so algorithms can work on CSR arrays. Links are
aggregated from events (one link per ``(src, dst, type)``, never one per event) and carry
``n_events, amount_sum, first_ts, last_ts``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

#: Characters trimmed from both ends of every natural key (and collapsed inside
#: addresses): Unicode white space, the C0 separators, zero-width space and the byte-order
#: mark, spelled out so pyarrow and Python agree on the set. Ingestion normalises keys with
#: it; anything that matches outside keys against the store (e.g. a ground-truth file)
#: trims them the same way.
KEY_WHITESPACE: Final = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\u200b\ufeff"
)


class NodeType(StrEnum):
    """The kinds of entity in the graph. The value is the Neo4j label."""

    ACCOUNT = "Account"
    DEVICE = "Device"
    IP = "IP"
    PHONE = "Phone"
    EMAIL = "Email"
    CARD = "Card"
    ADDRESS = "Address"
    MERCHANT = "Merchant"

    @classmethod
    def parse(cls, value: str) -> NodeType:
        """Parse a node type case-insensitively (``account``, ``Account``, ``ACCOUNT``).

        Raises
        ------
        ValueError
            If ``value`` names no node type.
        """
        folded = value.strip().lower()
        for member in cls:
            if member.value.lower() == folded or member.name.lower() == folded:
                return member
        raise ValueError(f"unknown node type {value!r}; expected one of {[m.value for m in cls]}")


class LinkType(StrEnum):
    """The kinds of aggregated link. The value is the Neo4j relationship type."""

    USES_DEVICE = "USES_DEVICE"
    LOGS_IN_FROM = "LOGS_IN_FROM"
    HAS_PHONE = "HAS_PHONE"
    HAS_EMAIL = "HAS_EMAIL"
    HAS_CARD = "HAS_CARD"
    HAS_ADDRESS = "HAS_ADDRESS"
    PAYS = "PAYS"
    TRANSFERS_TO = "TRANSFERS_TO"

    @classmethod
    def parse(cls, value: str) -> LinkType:
        """Parse a link type case-insensitively.

        Raises
        ------
        ValueError
            If ``value`` names no link type.
        """
        folded = value.strip().upper()
        for member in cls:
            if member.value == folded:
                return member
        raise ValueError(f"unknown link type {value!r}; expected one of {[m.value for m in cls]}")


#: Source and target node type of every link type. Every link starts at an Account.
LINK_ENDPOINTS: Final[dict[LinkType, tuple[NodeType, NodeType]]] = {
    LinkType.USES_DEVICE: (NodeType.ACCOUNT, NodeType.DEVICE),
    LinkType.LOGS_IN_FROM: (NodeType.ACCOUNT, NodeType.IP),
    LinkType.HAS_PHONE: (NodeType.ACCOUNT, NodeType.PHONE),
    LinkType.HAS_EMAIL: (NodeType.ACCOUNT, NodeType.EMAIL),
    LinkType.HAS_CARD: (NodeType.ACCOUNT, NodeType.CARD),
    LinkType.HAS_ADDRESS: (NodeType.ACCOUNT, NodeType.ADDRESS),
    LinkType.PAYS: (NodeType.ACCOUNT, NodeType.MERCHANT),
    LinkType.TRANSFERS_TO: (NodeType.ACCOUNT, NodeType.ACCOUNT),
}

#: The event column that names the target of each link type.
LINK_TARGET_COLUMN: Final[dict[LinkType, str]] = {
    LinkType.USES_DEVICE: "device_id",
    LinkType.LOGS_IN_FROM: "ip",
    LinkType.HAS_PHONE: "phone",
    LinkType.HAS_EMAIL: "email",
    LinkType.HAS_CARD: "card_id",
    LinkType.HAS_ADDRESS: "address",
    LinkType.PAYS: "merchant_id",
    LinkType.TRANSFERS_TO: "counterparty_account_id",
}

#: Stable small integer codes, used in the embedded store and in CSR exports.
NODE_TYPE_CODE: Final[dict[NodeType, int]] = {t: i for i, t in enumerate(NodeType)}
LINK_TYPE_CODE: Final[dict[LinkType, int]] = {t: i for i, t in enumerate(LinkType)}

#: Identifier node types: everything an account can share with another account.
IDENTIFIER_TYPES: Final[tuple[NodeType, ...]] = tuple(t for t in NodeType if t != NodeType.ACCOUNT)


class Label(StrEnum):
    """An investigator's or a system's verdict on an entity."""

    FRAUD = "fraud"
    LEGIT = "legit"
