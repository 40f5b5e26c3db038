"""Ring candidates: which communities are tested, which are kept, and how each kept ring
is scored, explained, typed and evidenced.

Communities of every Leiden level are candidates (:func:`candidates_of_every_level`), and
so are the accounts that took up one merchant together (:func:`sharers_of_identifiers`);
where they overlap, the one whose fraud evidence is most significant wins
(:func:`scoring.ring_selection.ring_groups`); each ring is then scored by that significance, corrected for the
number of candidates tested (:func:`score_candidates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, NodeType
from scoring.features import ring_core
from scoring.flow_candidates import (
    FAMILIES,
    FLOW_COLUMNS,
    candidate_family,
    family_channels,
    flow_candidate_table,
    flow_reasons,
    led_by_the_flow,
)
from scoring.graph_signals import GraphSignals
from scoring.projection import AccountProjection
from scoring.reasons import RING_RULES, reason_codes
from scoring.rings import content_hashes
from scoring.surprise import (
    LABELLED,
    MODEL,
    NETWORK,
    TELLING_SURPRISE,
    ChannelEvidence,
    ring_evidence,
)
from scoring.typology import ring_typology, told_typology, typology_guess

if TYPE_CHECKING:
    from scoring.analysis import AnalysisConfig

#: One evidence link of a ring.
EVIDENCE_TYPE: Final = pa.struct(
    [
        pa.field("src", pa.int64()),
        pa.field("dst", pa.int64()),
        pa.field("type", pa.string()),
        pa.field("key", pa.string()),
    ]
)


def candidates_of_every_level(
    projection: AccountProjection,
    signals: GraphSignals,
    config: AnalysisConfig,
    flow: pa.Table | None = None,
) -> pa.Table:
    """Ring candidates of every community level, and the sharers of the identifiers of
    ``config.identifier_candidates`` taken up together (:func:`sharers_of_identifiers`):
    ``candidate`` and ``members``, at least ``min_ring_size`` accounts each.

    A community candidate's label is its community's label offset by the level times
    ``(largest account id + 1)``; an identifier candidate's is the identifier's id offset
    by the number of levels times that, so that labels stay distinct. With
    ``config.flow_rings`` set, the money-flow candidates (``flow``, found by
    :func:`scoring.flow_rings.flow_ring_candidates` when not given) follow, labelled after
    every other, with their pattern and shape in the :data:`~scoring.flow_candidates.FLOW_COLUMNS` (null for the
    others).

    Notes
    -----
    O(n log n + m) per level, plus O(l log l) for l identifier links.
    """
    accounts = projection.accounts
    offset = int(accounts.max()) + 1 if accounts.size else 1
    labels: list[np.ndarray] = []
    members: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    kinds: list[str | None] = []
    for level, community in enumerate(signals.community_levels):
        core = ring_core(
            projection,
            community,
            config.features.core_fraction,
            config.features.core_reference_rank,
        )
        kept, label = accounts[core], community[core]
        order = np.lexsort((kept, label))
        kept, label = kept[order], label[order]
        candidate, size = np.unique(label, return_counts=True)
        big = size >= config.min_ring_size
        keep_member = np.repeat(big, size)
        labels.append(candidate[big] + level * offset)
        members.append(kept[keep_member])
        sizes.append(size[big])
        kinds += [None] * int(big.sum())
    if config.identifier_candidates:
        label, kind, kept, size = sharers_of_identifiers(
            projection,
            config.identifier_candidates,
            config.min_ring_size,
            int(config.projection.cojoin_days * 86_400e6),
        )
        labels.append(label + len(signals.community_levels) * offset)
        members.append(kept)
        sizes.append(size)
        name = {NODE_TYPE_CODE[t]: t.value for t in NodeType}
        kinds += [name[int(code)] for code in kind.tolist()]
    flow = flow_candidate_table(projection, config, labels, flow)
    if flow.num_rows:
        labels.append(flow.column("candidate").to_numpy())
        members.append(np.asarray(pc.list_flatten(flow.column("members")).to_numpy(), np.int64))
        sizes.append(np.asarray(pc.list_value_length(flow.column("members")).to_numpy(), np.int64))
        kinds += [None] * flow.num_rows
    size = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(size)]).astype(np.int32)
    flat = np.concatenate(members) if members else np.zeros(0, np.int64)
    table = pa.table(
        {
            "candidate": pa.array(np.concatenate(labels) if labels else [], pa.int64()),
            "members": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.int64())),
            "identifier_type": pa.array(kinds, pa.string()),
        }
    )
    others = table.num_rows - flow.num_rows
    for flow_column in FLOW_COLUMNS:
        column = flow.column(flow_column)
        nulls = pa.nulls(others, column.type)
        table = table.append_column(flow_column, pa.concat_arrays([nulls, column.combine_chunks()]))
    hashes = content_hashes(size, flat)
    same = np.isin(hashes[others:], hashes[:others])
    at = table.column_names.index("flow_as_community")
    return table.set_column(
        at,
        "flow_as_community",
        pa.concat_arrays([pa.nulls(others, pa.bool_()), pa.array(same, pa.bool_())]),
    )


def sharers_of_identifiers(
    projection: AccountProjection, kinds: tuple[NodeType, ...], min_size: int, within_us: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The accounts that took up one identifier together: for each identifier of
    ``kinds`` (super nodes left out) shared by at least ``min_size`` accounts whose first
    uses of it all fall within ``within_us`` microseconds, ``(identifier ids, their
    NODE_TYPE_CODE, members by identifier then id, sizes)``.

    The projection weighs a shared merchant lightly (paying the same shop is ordinary),
    so a group tied by one, such as a bust-out ring maxing out its cards at one small
    merchant within days, never forms a community: each member's household ties it more
    strongly elsewhere. Tested beside the communities, such a group is kept when its
    evidence is the stronger reading. A shop's regulars, who come to it over months, are
    no such group.

    Notes
    -----
    O(l log l) for l identifier links.
    """
    links = projection.memberships
    codes = np.array([NODE_TYPE_CODE[kind] for kind in kinds], np.uint8)
    keep = np.isin(links.node_type, codes) & ~links.super_node & (links.share_count >= min_size)
    identifier, account, first = links.identifier[keep], links.account[keep], links.first_ts[keep]
    node_type = links.node_type[keep]
    order = np.lexsort((first, account, identifier))
    identifier, account, first = identifier[order], account[order], first[order]
    new_pair = np.ones(identifier.size, np.bool_)
    new_pair[1:] = (identifier[1:] != identifier[:-1]) | (account[1:] != account[:-1])
    identifier, account, first = identifier[new_pair], account[new_pair], first[new_pair]
    node_type = node_type[order][new_pair]
    label, start, size = np.unique(identifier, return_index=True, return_counts=True)
    if label.size == 0:
        return label, node_type, account, size
    spread = np.maximum.reduceat(first, start) - np.minimum.reduceat(first, start)
    together = (size >= min_size) & (spread <= within_us)
    kind = node_type[start[together]]
    return label[together], kind, account[np.repeat(together, size)], size[together]


def score_candidates(
    rings: pa.Table,
    projection: AccountProjection,
    nodes: pa.Table,
    risk: np.ndarray,
    channels: ChannelEvidence,
    config: AnalysisConfig,
    *,
    tests: int | np.ndarray,
    attach: bool = True,
    taken_up_together: pa.Array | pa.ChunkedArray | None = None,
    flow_shape: pa.Table | None = None,
) -> pa.Table:
    """Score, explain, classify and evidence every ring.

    The score is the ring's significance (see :mod:`scoring.surprise`) mapped to [0, 1):
    how improbable the concentration of fraud evidence among its members would be for a
    random group of the same size, corrected for the ``tests`` candidates examined: a
    number, or the candidates of each family (see :func:`scoring.flow_candidates.candidate_family`; the
    money-flow shapes are tested pattern by pattern, see
    :func:`scoring.surprise.ring_evidence`).
    ``taken_up_together`` (one per ring, null for a community) names the identifier kind
    whose sharers made the ring (see :func:`sharers_of_identifiers`); such a ring's
    reasons start with ``TOOK_UP_ONE_<KIND>_TOGETHER``. ``flow_shape`` (one row per ring,
    the :data:`~scoring.flow_candidates.FLOW_COLUMNS`, null for a ring that is no money-flow candidate) gives the
    rings that money moving between strangers made: such a ring keeps all its members
    (its shape is the ring), is typed by its pattern (or, when its telling evidence names
    another typology than money passed on, or it is also a community whose evidence or
    features do, by that) and its reasons start
    with the shape
    (:func:`scoring.flow_candidates.flow_reasons`).
    """
    accounts = projection.accounts
    k = rings.num_rows
    members = rings.column("members").combine_chunks() if k else pa.array([], pa.list_(pa.int64()))
    flat = np.asarray(pc.list_flatten(members).to_numpy(), np.int64)
    sizes = np.asarray(pc.list_value_length(members).to_numpy(), np.int64)
    group = np.repeat(np.arange(k), sizes)
    rows = np.searchsorted(accounts, flat)
    flow_pattern = (
        flow_shape.column("flow_pattern").to_numpy(zero_copy_only=False)
        if flow_shape is not None
        else np.full(k, None, dtype=object)
    )
    is_flow = np.asarray([p is not None for p in flow_pattern], np.bool_)
    family = candidate_family(flow_shape, k)
    # A shape with exactly a community's members is tested as that community (family 0).
    as_community = is_flow & (family == 0)
    per_family = (
        np.asarray(tests, np.int64)
        if isinstance(tests, np.ndarray)
        else np.asarray([tests] + [0] * (FAMILIES - 1), np.int64)
    )
    evidence_of = ring_evidence(
        channels,
        rows,
        group,
        k,
        config.surprise,
        family=family,
        family_tests=per_family,
        family_channels=family_channels(channels.names),
    )
    significance = evidence_of.significance
    member_risk = risk[rows]
    score = significance / (significance + config.significance_half)
    alone = ~corroborated(evidence_of.surprise, channels.names)
    # A shape of money alone never makes a ring: it asks for a second witness always.
    alone |= is_flow & ~corroborated(evidence_of.surprise, channels.names, always=True)
    score = np.where(alone, score * config.uncorroborated_factor, score)
    mean_risk = np.bincount(group, weights=member_risk, minlength=k) / np.maximum(sizes, 1)
    max_risk = np.zeros(k)
    np.maximum.at(max_risk, group, member_risk)
    telling = telling_channels(channels, evidence_of.surprise)
    showing = shows_the_ring_evidence(channels.active, telling, rows, group)
    kept = showing | (member_risk >= config.member_risk_fraction * max_risk[group])
    kept |= is_flow[group]
    members, flat, group = kept_members(flat, group, kept, k, config.min_ring_size)
    if attach and config.attach_min_ties > 0:
        members, flat, group = attach_members(
            projection,
            flat,
            group,
            k,
            risk >= config.attach_min_risk,
            (score >= 0.5) & ~is_flow,
            config.attach_min_ties,
            (channels.active, telling),
        )
    # The members each ring's test counted (its reasons count them too).
    tested_rows, tested_group = rows, np.repeat(np.arange(k), sizes)
    surprise = evidence_of.surprise
    parent = np.arange(k)
    if config.piece_min_size > 0 and k:
        parent, flat, group = separate_pieces(
            projection, flat, group, k, config.piece_min_size, whole=is_flow
        )
        if parent.size > k:
            pieces = _Pieces.of(
                parent, flat, group, projection, channels, config, tests=int(per_family.sum())
            )
            rings = _with_piece_candidates(rings.take(pa.array(parent)), pieces.split)
            significance, mean_risk, max_risk = (
                significance[parent],
                mean_risk[parent],
                max_risk[parent],
            )
            score = np.where(pieces.split, np.minimum(score[parent], pieces.score), score[parent])
            alone = np.where(pieces.split, pieces.alone, alone[parent])
            surprise = np.where(pieces.split[:, None], pieces.surprise, surprise[parent])
            tested_rows, tested_group = pieces.tested(parent, tested_rows, tested_group)
            k = parent.size
            offsets = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=k))])
            members = pa.ListArray.from_arrays(
                pa.array(offsets, pa.int32()), pa.array(flat, pa.int64())
            )

    table = rings.append_column("mean_member_risk", pa.array(mean_risk))
    table = table.append_column("max_member_risk", pa.array(max_risk))
    table = table.append_column("significance", pa.array(significance))
    for j, name in enumerate(channels.names):
        table = table.append_column(f"evidence_{name}", pa.array(surprise[:, j]))
    table = table.set_column(
        table.column_names.index("size"),
        "size",
        pa.array(np.bincount(group, minlength=k).astype(np.float64)),
    )
    evidence, type_share = _evidence(projection, nodes, flat, group, k, config.evidence_links)
    typology = typology_guess(table, type_share)
    is_flow, flow_pattern = is_flow[parent], flow_pattern[parent]
    typology = ring_typology(
        typology, told_typology(table), flow_pattern.tolist(), as_community[parent]
    )
    reasons = _ring_reasons(table, channels, surprise, tested_rows, tested_group, config)
    if alone.any():
        listed = reasons.to_pylist()
        telling_any = surprise.max(axis=1) >= TELLING_SURPRISE
        for ring in np.flatnonzero(alone & telling_any).tolist():
            listed[ring] = [*listed[ring][: config.top_reasons - 1], UNCORROBORATED]
        reasons = pa.array(listed, pa.list_(pa.string()))
    if taken_up_together is not None:
        taken_up_together = pc.take(taken_up_together, pa.array(parent))
        reasons = led_by_what_was_taken_up(reasons, taken_up_together, config.top_reasons)
    if flow_shape is not None and is_flow.any():
        shape = flow_shape.take(pa.array(parent))
        reasons = led_by_the_flow(
            reasons, flow_reasons(shape, projection.money_flow, flat, group), config.top_reasons
        )
    front = pa.table(
        {
            "candidate": table.column("candidate"),
            "members": members,
            "score": pa.array(np.clip(score, 0.0, 1.0), pa.float64()),
            "reasons": reasons,
            "typology": pa.array(typology, pa.string()),
            "evidence": evidence,
        }
    )
    for name in table.column_names:
        if name not in front.column_names:
            front = front.append_column(name, table.column(name))
    if k == 0:
        return front
    # A group that attaching left smaller than a ring is no longer a candidate.
    whole = np.flatnonzero(np.bincount(group, minlength=k) >= config.min_ring_size)
    order = whole[np.lexsort((front.column("candidate").to_numpy()[whole], -score[whole]))]
    return front.take(pa.array(order))


@dataclass(frozen=True, slots=True)
class _Pieces:
    """The evidence of rings cut into pieces (see :func:`separate_pieces`), one row per
    new ring; ``split`` marks the pieces of a ring that was cut."""

    split: np.ndarray
    surprise: np.ndarray
    score: np.ndarray
    alone: np.ndarray
    rows: np.ndarray
    group: np.ndarray

    @classmethod
    def of(
        cls,
        parent: np.ndarray,
        flat: np.ndarray,
        group: np.ndarray,
        projection: AccountProjection,
        channels: ChannelEvidence,
        config: AnalysisConfig,
        *,
        tests: int,
    ) -> _Pieces:
        """A piece is tested as a ring of its own; its score never exceeds its ring's."""
        k = parent.size
        split = np.bincount(parent)[parent] >= 2
        rows = np.searchsorted(projection.accounts, flat)
        evidence = ring_evidence(channels, rows, group, k, config.surprise, tests=tests)
        score = evidence.significance / (evidence.significance + config.significance_half)
        alone = ~corroborated(evidence.surprise, channels.names)
        score = np.where(alone, score * config.uncorroborated_factor, score)
        return cls(split, evidence.surprise, score, alone, rows, group)

    def tested(
        self, parent: np.ndarray, rows: np.ndarray, group: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The members each new ring's reasons count: a whole ring's tested members, a
        piece's own members."""
        # A ring that attaching emptied has no piece, and its tested members map nowhere.
        new_of_whole = np.full(int(max(parent.max(), group.max(initial=0))) + 1, -1, np.int64)
        whole = np.flatnonzero(~self.split)
        new_of_whole[parent[whole]] = whole
        mapped = new_of_whole[group]
        keep = mapped >= 0
        piece = self.split[self.group]
        return (
            np.concatenate([rows[keep], self.rows[piece]]),
            np.concatenate([mapped[keep], self.group[piece]]),
        )


def _with_piece_candidates(rings: pa.Table, split: np.ndarray) -> pa.Table:
    """``rings`` (a split ring's row repeated per piece) with a fresh candidate number for
    every piece after the first of its ring: past the largest number in use, in order."""
    candidate = rings.column("candidate").to_numpy().copy()
    repeat = np.concatenate([[False], candidate[1:] == candidate[:-1]]) & split
    if repeat.any():
        start = int(candidate.max()) + 1
        candidate[repeat] = start + np.arange(int(repeat.sum()))
    return rings.set_column(
        rings.column_names.index("candidate"), "candidate", pa.array(candidate, pa.int64())
    )


#: Ring reason stems per evidence channel: ``<STEM>_<k>_OF_<size>``.
CHANNEL_REASONS: Final[dict[str, str]] = {
    "known_fraud": "NEAR_KNOWN_FRAUD",
    "device": "RISKY_DEVICES",
    "coordination": "OPENED_TOGETHER",
    "takeover": "TAKEN_OVER_TOGETHER",
    "money": "PASSING_MONEY_ON",
    "spending": "SPENDING_SPIKE_TOGETHER",
    NETWORK: "PROXY_OR_ROOTED",
    LABELLED: "CONFIRMED_FRAUD",
    MODEL: "HIGH_MODEL_RISK",
}


#: Ring reason of a ring scored down for showing one kind of evidence alone.
UNCORROBORATED: Final = "ONE_KIND_OF_EVIDENCE"

#: First reason of a ring made of the accounts that took up one identifier together.
TAKEN_UP_TOGETHER: Final = "TOOK_UP_ONE_{kind}_TOGETHER"


def corroborated(
    surprise: np.ndarray, names: tuple[str, ...], *, always: bool = False
) -> np.ndarray:
    """Whether each ring's evidence has a second witness.

    A ring is corroborated when at least two kinds of evidence are concentrated among
    its members (channel surprise >= 1, ten times the chance level), or confirmed fraud
    labels or the entity model's verdicts are. Benign groups share one behaviour as a
    group (a family opening its accounts together, a seller's buyers paying on, the
    customers of a shop's tablet); rings show several, or are known. The network channel
    (proxies, rooted phones: VPN users and hobbyists) is context and never the second
    kind. Without an entity
    model (no labels and nothing confident to learn from) there is no second witness to
    ask, and every ring counts as corroborated, unless ``always`` asks for two kinds of
    evidence (or labels) anyway, as for the shapes of money among strangers.

    Parameters
    ----------
    surprise : ndarray of float64, shape (k, c)
        Each ring's surprise per channel (:attr:`scoring.surprise.RingEvidence.surprise`).
    names : tuple of str
        The channels' names, in column order.

    Returns
    -------
    ndarray of bool, shape (k,)
    """
    if MODEL not in names and not always:
        return np.ones(surprise.shape[0], np.bool_)
    strong = surprise >= TELLING_SURPRISE
    channel = np.asarray(names, dtype=object)
    witness = np.isin(channel, [LABELLED, MODEL])
    kinds = strong[:, ~witness & (channel != NETWORK)].sum(axis=1)
    result: np.ndarray = (kinds >= 2) | strong[:, witness].any(axis=1)
    return result


def _ring_reasons(
    table: pa.Table,
    channels: ChannelEvidence,
    surprise: np.ndarray,
    rows: np.ndarray,
    group: np.ndarray,
    config: AnalysisConfig,
) -> pa.Array:
    """Evidence reasons (``OPENED_TOGETHER_5_OF_7``), most surprising channel first, then
    the descriptive ring rules, ``top_reasons`` in all."""
    k = table.num_rows
    size = np.bincount(group, minlength=k)
    per_ring: list[list[str]] = [[] for _ in range(k)]
    order = np.argsort(-surprise, axis=1, kind="stable") if k else np.zeros((0, 0), np.int64)
    hits = (
        np.column_stack(
            [
                np.bincount(group, weights=channels.active[rows, j].astype(float), minlength=k)
                for j in range(len(channels.names))
            ]
        )
        if channels.names
        else np.zeros((k, 0))
    )
    for ring in (
        np.flatnonzero(surprise.max(axis=1) >= TELLING_SURPRISE) if k and surprise.size else []
    ):
        for j in order[ring]:
            if surprise[ring, j] < TELLING_SURPRISE:
                break
            stem = CHANNEL_REASONS.get(channels.names[j], channels.names[j].upper())
            per_ring[ring].append(f"{stem}_{int(hits[ring, j])}_OF_{int(size[ring])}")
    descriptive = reason_codes(table, RING_RULES, top=config.top_reasons).to_pylist()
    merged = [
        (first + [r for r in rest if r not in first])[: config.top_reasons]
        for first, rest in zip(per_ring, descriptive, strict=True)
    ]
    return pa.array(merged, pa.list_(pa.string()))


def led_by_what_was_taken_up(
    reasons: pa.Array, taken_up_together: pa.Array | pa.ChunkedArray, top: int
) -> pa.Array:
    """``reasons`` (one list per ring), those of the rings made of the accounts that took
    up one identifier together (``taken_up_together``: its kind, null for a community)
    led by ``TOOK_UP_ONE_<KIND>_TOGETHER``, ``top`` reasons in all."""
    if taken_up_together.null_count == len(taken_up_together):
        return reasons
    listed = reasons.to_pylist()
    for ring, kind in enumerate(taken_up_together.to_pylist()):
        if kind is not None:
            first = TAKEN_UP_TOGETHER.format(kind=kind.upper())
            listed[ring] = [first, *listed[ring][: top - 1]]
    return pa.array(listed, pa.list_(pa.string()))


def attach_members(
    projection: AccountProjection,
    flat: np.ndarray,
    group: np.ndarray,
    k: int,
    eligible: np.ndarray,
    target: np.ndarray,
    min_ties: int,
    shows: tuple[np.ndarray, np.ndarray],
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The members of every ring, with the accounts attached to the ``target`` rings.

    An account joins a target ring when it is ``eligible`` (evidence of its own), belongs
    to no target ring, and at least ``min_ties`` of the ring's members are tied to it in
    the projection, and it is active in a channel that tells about that ring
    (``shows = (active, telling)``: ``active`` (n, c), each account's active channels;
    ``telling`` (k, c), the channels that tell about each ring): an account attached to a
    ring shows that ring's evidence, as a kept member does. Tied to several rings,
    it joins the one with most ties, then most weight.
    Ties count to the ring's members before attaching, so nothing chains through an
    attached account. An account moved out of a non-target ring leaves it.

    Returns the ``members`` list array (``k`` rings, members by id) and the flat ``flat``
    ids with their ``group``, ordered by group then id.

    Notes
    -----
    O(m + e log e) for m projected pairs and e pairs from a target ring to an eligible
    account.
    """
    accounts = projection.accounts
    if k == 0:
        empty = np.zeros(0, np.int64)
        return pa.array([], pa.list_(pa.int64())), empty, empty
    u = projection.src_row
    v = projection.dst_row
    slot = np.full(accounts.shape[0], -1, np.int64)
    slot[np.searchsorted(accounts, flat)] = group
    in_target = (slot >= 0) & target[np.maximum(slot, 0)]
    eligible = np.asarray(eligible, np.bool_) & ~in_target
    tied_u = in_target[u] & eligible[v]
    tied_v = in_target[v] & eligible[u]
    outside = np.concatenate([v[tied_u], u[tied_v]])
    ring = np.concatenate([slot[u][tied_u], slot[v][tied_v]])
    weight = np.concatenate([projection.weight[tied_u], projection.weight[tied_v]])
    pairs, inverse, ties = np.unique(outside * k + ring, return_inverse=True, return_counts=True)
    pair_weight = np.bincount(inverse, weights=weight, minlength=pairs.size)
    active, telling = shows
    strong = (ties >= min_ties) & (active[pairs // k] & telling[pairs % k]).any(axis=1)
    who, which = pairs[strong] // k, pairs[strong] % k
    order = np.lexsort((-pair_weight[strong], -ties[strong], who))
    who, which = who[order], which[order]
    first = np.concatenate([[True], who[1:] != who[:-1]]) if who.size else who.astype(np.bool_)
    slot[who[first]] = which[first]
    member = slot >= 0
    flat, group = accounts[member], slot[member]
    order = np.lexsort((flat, group))
    flat, group = flat[order], group[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=k))])
    members = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.int64()))
    return members, flat, group


def separate_pieces(
    projection: AccountProjection,
    flat: np.ndarray,
    group: np.ndarray,
    k: int,
    min_size: int,
    *,
    whole: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each ring cut into the groups its members form among themselves.

    Two rings the community search put in one candidate (two takeover crews of one
    organiser, a crew and the mules it pays out to) are often tied to each other only by
    two members living together (one home IP and address) or through accounts that
    pruning left out. Among the ring's members every link but those (money, a device, a
    card, a phone, an email, an IP or an address alone) joins members into pieces; when
    two or more pieces have ``min_size`` members, each becomes a ring of its own and the
    smaller pieces join the largest. A ring whose members are held together by shared
    homes alone, or with one large piece, stays whole, and so does every ring ``whole``
    marks (a shape of money: the shape is the ring).

    Returns ``parent`` (the ring each new ring came from, ascending) and the new ``flat``
    ids with their ``group``, ordered by group then id.

    Notes
    -----
    O(m + r log r) for m projected pairs and r ring members.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if flat.size == 0:
        return np.arange(k, dtype=np.int64), flat, group
    n = flat.size
    slot = np.full(projection.accounts.shape[0], -1, np.int64)
    slot[np.searchsorted(projection.accounts, flat)] = np.arange(n)
    u, v = slot[projection.src_row], slot[projection.dst_row]
    home_only = projection.living_together & (projection.transfer_weight <= 0)
    home_bits = (1 << NODE_TYPE_CODE[NodeType.IP]) | (1 << NODE_TYPE_CODE[NodeType.ADDRESS])
    home_only &= (projection.kinds_shared & ~home_bits) == 0
    inside = (u >= 0) & (v >= 0) & ~home_only
    inside &= group[np.maximum(u, 0)] == group[np.maximum(v, 0)]
    graph = coo_matrix((np.ones(int(inside.sum())), (u[inside], v[inside])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    piece, piece_of = np.unique(group * n + component, return_inverse=True)
    piece_ring = piece // n
    piece_size = np.bincount(piece_of, minlength=piece.size)
    big = piece_size >= min_size
    splits = np.bincount(piece_ring[big], minlength=k) >= 2
    if whole is not None:
        splits &= ~whole
    # The largest piece of every ring (the first on ties) takes the ring's small pieces,
    # and the whole ring when it does not split.
    order = np.lexsort((np.arange(piece.size), -piece_size, piece_ring))
    first = np.concatenate([[True], piece_ring[order][1:] != piece_ring[order][:-1]])
    largest = np.empty(k, np.int64)
    largest[piece_ring[order][first]] = order[first]
    target = np.where(big & splits[piece_ring], np.arange(piece.size), largest[piece_ring])
    kept_pieces, new_group_of_piece = np.unique(target, return_inverse=True)
    new_group = new_group_of_piece[piece_of].astype(np.int64)
    order = np.lexsort((flat, new_group))
    return piece_ring[kept_pieces].astype(np.int64), flat[order], new_group[order]


def shows_the_ring_evidence(
    active: np.ndarray, telling: np.ndarray, rows: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """Whether each member (``rows`` into ``active``, each account's active channels;
    ``group`` its ring) is active in a channel that tells about its ring (``telling``, from
    :func:`telling_channels`): a member of a ring passing money on shows it by passing
    money on, not by the VPN its household uses."""
    shows: np.ndarray = (active[rows] & telling[group]).any(axis=1)
    return shows


def telling_channels(channels: ChannelEvidence, surprise: np.ndarray) -> np.ndarray:
    """The channels that tell about each ring (surprise at least
    :data:`TELLING_SURPRISE`) among those that enter the ring test, shape (k, c)."""
    telling: np.ndarray = (surprise >= TELLING_SURPRISE) & channels.per_member
    return telling


def kept_members(
    flat: np.ndarray, group: np.ndarray, keep: np.ndarray, k: int, min_size: int
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The kept members of every ring; a ring that would shrink below ``min_size`` keeps
    everyone. Returns the ``members`` list array and the kept ``flat`` ids with ``group``."""
    too_small = np.bincount(group[keep], minlength=k) < min_size
    keep = keep | too_small[group]
    flat, group = flat[keep], group[keep]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=k))])
    members = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.int64()))
    return members, flat, group


def _evidence(
    projection: AccountProjection,
    nodes: pa.Table,
    flat: np.ndarray,
    group: np.ndarray,
    k: int,
    per_ring: int,
) -> tuple[pa.Array, np.ndarray]:
    """Strongest internal links per ring, and each ring's internal weight share per link type."""
    accounts = projection.accounts
    slot = np.full(accounts.shape[0], -1, np.int64)
    slot[np.searchsorted(accounts, flat)] = group
    u = projection.src_row
    v = projection.dst_row
    inside = np.flatnonzero((slot[u] >= 0) & (slot[u] == slot[v]))
    ring = slot[u][inside]
    n_types = len(LINK_TYPE_CODE)
    by_type = np.bincount(
        ring * n_types + projection.evidence_type[inside],
        weights=projection.weight[inside],
        minlength=k * n_types,
    ).reshape(k, n_types)
    type_share = by_type / np.maximum(by_type.sum(axis=1, keepdims=True), 1e-12)
    order = np.lexsort((inside, -projection.weight[inside], ring))
    ring, edge = ring[order], inside[order]
    rank = np.arange(ring.size) - np.searchsorted(ring, ring)
    keep = rank < per_ring
    ring, edge = ring[keep], edge[keep]
    type_names = np.array([t.value for t in LINK_TYPE_CODE], dtype=object)
    ident = projection.evidence_identifier[edge]
    node_ids = nodes.column("id").to_numpy()
    positions = np.searchsorted(node_ids, np.maximum(ident, 0))
    keys = (
        nodes.column("key")
        .combine_chunks()
        .take(pa.array(np.minimum(positions, max(len(node_ids) - 1, 0))))
    )
    keys = pc.if_else(pa.array(ident >= 0), keys, pa.scalar("", pa.string()))
    structs = pa.StructArray.from_arrays(
        [
            pa.array(projection.src[edge], pa.int64()),
            pa.array(projection.dst[edge], pa.int64()),
            pa.array(type_names[projection.evidence_type[edge]].tolist(), pa.string()),
            keys,
        ],
        fields=list(EVIDENCE_TYPE),
    )
    offsets = np.concatenate([[0], np.cumsum(np.bincount(ring, minlength=k))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), structs), type_share
