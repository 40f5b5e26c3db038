"""The accounts that share identifiers (device, IP, phone...) with an account."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from graph_service.errors import LimitExceeded
from graph_service.model import NODE_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore, link_type_of, node_type_of
from queries.backends import IDENTIFIER_LINK_TYPES, backend_for
from queries.limits import (
    DEFAULT_IDENTIFIER_ACCOUNTS,
    DEFAULT_PAGE,
    MAX_IDENTIFIER_ACCOUNTS,
    MAX_IDENTIFIERS,
    MAX_PAGE,
    checked_limit,
    parse_key,
    parse_link_types,
)
from queries.results import EntityRef, IdentifierUse, SharedIdentifiers, SharingAccount

log = logging.getLogger(__name__)


def shared_identifiers(
    store: GraphStore,
    account_key: str,
    *,
    link_types: Sequence[LinkType | str] | None = None,
    limit: int = DEFAULT_PAGE,
    max_identifier_accounts: int = DEFAULT_IDENTIFIER_ACCOUNTS,
) -> SharedIdentifiers:
    """The accounts sharing any identifier with an account, and what they share.

    Parameters
    ----------
    store : GraphStore
        Any backend.
    account_key : str
        The account's normalised key.
    link_types : sequence of LinkType or str, optional
        Which identifier links count (``USES_DEVICE``, ``LOGS_IN_FROM``, ``HAS_PHONE``,
        ``HAS_EMAIL``, ``HAS_CARD``, ``HAS_ADDRESS``, ``PAYS``); all by default.
    limit : int
        Most sharing accounts returned, from 0 to :data:`~queries.limits.MAX_PAGE`.
    max_identifier_accounts : int
        Identifiers linked to more accounts than this (carrier-NAT IPs, popular
        merchants) are listed with their count but their accounts are not looked up.

    Returns
    -------
    SharedIdentifiers
        Every identifier of the account with its account count (rarest first) and the
        sharing accounts, most identifiers shared first, then rarest shared identifier,
        then id; ``truncated`` when more accounts exist than ``limit``.

    Raises
    ------
    InvalidInput
        On an empty key, a negative limit, or a link type that does not lead to an
        identifier (``TRANSFERS_TO``).
    LimitExceeded
        If ``limit`` or ``max_identifier_accounts`` is above its cap, or the account
        uses more than :data:`~queries.limits.MAX_IDENTIFIERS` identifiers.
    EntityNotFound
        If no account has this key.

    Examples
    --------
    >>> found = shared_identifiers(store, "A1")  # doctest: +SKIP
    >>> [(a.account.key, [i.key for i in a.shared]) for a in found.accounts]  # doctest: +SKIP
    [('A2', ['D1', '10.0.0.1'])]

    Notes
    -----
    Three capped reads: the account's identifiers with their degrees, the sharing
    accounts ranked (O(sum of the expanded identifiers' degrees)), and the shared pairs
    of the returned page.
    """
    key = parse_key(account_key, "account_key")
    types = parse_link_types(link_types, allowed=IDENTIFIER_LINK_TYPES)
    page_size = checked_limit(limit, MAX_PAGE)
    expand_cap = checked_limit(
        max_identifier_accounts, MAX_IDENTIFIER_ACCOUNTS, "max_identifier_accounts"
    )
    account = EntityRef.of(store.get_entity(NodeType.ACCOUNT, key))
    backend = backend_for(store)
    use_rows = backend.identifier_uses(account.id, types, MAX_IDENTIFIERS + 1)
    if len(use_rows) > MAX_IDENTIFIERS:
        raise LimitExceeded(
            f"account {key!r} uses more than {MAX_IDENTIFIERS} identifiers; narrow link_types"
        )
    uses = sorted(
        (
            IdentifierUse(
                identifier=EntityRef(id=int(r[0]), type=node_type_of(int(r[1])), key=str(r[2])),
                link_type=link_type_of(int(r[3])),
                account_count=int(r[4]),
                expanded=int(r[4]) <= expand_cap,
            )
            for r in use_rows
        ),
        key=lambda u: (u.account_count, NODE_TYPE_CODE[u.identifier.type], u.identifier.id),
    )
    # Identifiers only this account uses have no one to share them with.
    wanted = [u for u in uses if u.expanded and u.account_count > 1]
    wanted_ids = np.array([u.identifier.id for u in wanted], np.int64)
    wanted_counts = np.array([u.account_count for u in wanted], np.int64)
    account_rows = backend.sharing_accounts(account.id, wanted_ids, wanted_counts, page_size + 1)
    truncated = len(account_rows) > page_size
    account_rows = account_rows[:page_size]
    page_ids = np.array([int(r[0]) for r in account_rows], np.int64)
    pair_cap = sum(int(r[3]) for r in account_rows)
    pairs = backend.shared_pairs(page_ids, wanted_ids, pair_cap)
    identifier_by_id = {u.identifier.id: u.identifier for u in wanted}
    shared: defaultdict[int, list[EntityRef]] = defaultdict(list)
    for account_id, identifier_id in pairs:
        shared[int(account_id)].append(identifier_by_id[int(identifier_id)])
    accounts = tuple(
        SharingAccount(
            account=EntityRef(id=int(r[0]), type=node_type_of(int(r[1])), key=str(r[2])),
            shared=tuple(sorted(shared[int(r[0])], key=lambda e: (NODE_TYPE_CODE[e.type], e.id))),
            rarest_account_count=int(r[4]),
        )
        for r in account_rows
    )
    log.debug(
        "shared identifiers",
        extra={"account_id": account.id, "identifiers": len(uses), "accounts": len(accounts)},
    )
    return SharedIdentifiers(account, tuple(uses), accounts, truncated)
