"""Graph signals: propagation, triangles, money flow and communities against networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from graph_service.embedded.algorithms import EmbeddedAlgorithms
from graph_service.errors import InvalidInput
from graph_service.model import LinkType, NodeType
from scoring.graph_signals import (
    compute_graph_signals,
    money_flow_signals,
    personalised_pagerank,
    seed_folds,
    seeded_propagation,
    triangles_and_clustering,
    weighted_adjacency,
)
from scoring.projection import AccountProjection, project_tables
from tests.scoring.graphs import links_table, nodes_table

A, D = NodeType.ACCOUNT, NodeType.DEVICE


def _graph() -> nx.Graph:
    g = nx.Graph()
    g.add_weighted_edges_from(
        [(0, 1, 1.0), (1, 2, 2.0), (2, 0, 1.0), (2, 3, 0.5), (3, 4, 1.0), (4, 5, 3.0), (5, 3, 1.0)]
    )
    g.add_node(6)
    return g


def _adjacency(g: nx.Graph) -> sp.csr_array:
    return sp.csr_array(nx.to_scipy_sparse_array(g, nodelist=sorted(g.nodes), weight="weight"))


def test_personalised_pagerank_matches_networkx() -> None:
    """Power iteration equals networkx pagerank with the same personalisation and weights."""
    g = _graph()
    restart = np.zeros((7, 1))
    restart[[0, 4], 0] = 0.5
    ours = personalised_pagerank(_adjacency(g), restart, damping=0.85, max_iterations=200)[:, 0]
    theirs = nx.pagerank(
        g,
        alpha=0.85,
        personalization={0: 0.5, 4: 0.5},
        weight="weight",
        tol=1e-12,
        dangling={0: 0.5, 4: 0.5},
    )
    assert ours == pytest.approx([theirs[i] for i in range(7)], abs=1e-6)


def test_a_seed_label_never_feeds_its_own_score() -> None:
    """Leave-group-out: a lone seed scores 0, and a seed's score does not change with its own label."""
    g = _graph()
    adjacency = _adjacency(g)
    accounts = np.arange(7)
    lone = seeded_propagation(adjacency, accounts, np.array([1]), folds=2)
    assert lone[1] == 0.0
    assert lone[0] > 0 and lone[6] == 0.0
    # The score of seed 1 is the same whether or not seeds of its own fold are present;
    # it only depends on the seeds of the other folds.
    seeds = np.array([1, 4, 5])
    folds = seed_folds(seeds, 2, 42)
    with_all = seeded_propagation(adjacency, accounts, seeds, folds=2)
    other = seeds[folds != folds[0]]
    restart = np.zeros((7, 1))
    restart[other, 0] = 1.0 / other.size
    expected = personalised_pagerank(adjacency, restart)[1, 0] * 7 if other.size else 0.0
    assert with_all[1] == pytest.approx(expected)


def test_seeded_score_reaches_neighbours_of_fraud() -> None:
    """Accounts near seeds score above accounts far from them."""
    scores = seeded_propagation(_adjacency(_graph()), np.arange(7), np.array([0, 1]), folds=2)
    assert scores[2] > scores[4] > scores[6]


def test_triangles_and_clustering_match_networkx() -> None:
    """Triangle counts and local clustering equal networkx's (unweighted)."""
    g = nx.gnp_random_graph(40, 0.2, seed=3)
    adjacency = sp.csr_array(nx.to_scipy_sparse_array(g, nodelist=range(40)))
    triangles, clustering = triangles_and_clustering(adjacency, block_entries=16)
    assert triangles.tolist() == [nx.triangles(g)[i] for i in range(40)]
    assert clustering == pytest.approx([nx.clustering(g)[i] for i in range(40)])


def test_money_flow_cycles_and_fans() -> None:
    """0->1->2->0 is a cycle; 3 pays 0; 0 has fan-in 2 and fan-out 1; 3 is on no cycle."""
    nodes = nodes_table([(i, A, {}) for i in range(5)])
    money = {"amount_sum": 10.0}
    links = links_table(
        [
            (0, 1, LinkType.TRANSFERS_TO, money),
            (1, 2, LinkType.TRANSFERS_TO, money),
            (2, 0, LinkType.TRANSFERS_TO, money),
            (3, 0, LinkType.TRANSFERS_TO, money),
        ]
    )
    flow = money_flow_signals(project_tables(nodes, links))
    assert flow["in_cycle"].tolist() == [True, True, True, False, False]
    assert flow["cycle_size"].tolist() == [3, 3, 3, 1, 1]
    assert flow["fan_in"].tolist() == [2, 1, 1, 0, 0]
    assert flow["fan_out"].tolist() == [1, 1, 1, 1, 0]
    assert flow["amount_in"][0] == pytest.approx(20.0)


def _two_rings() -> AccountProjection:
    # Two groups of five accounts, each on its own device, joined by one transfer.
    nodes = nodes_table([(i, A, {}) for i in range(10)] + [(10, D, {}), (11, D, {})])
    links = links_table(
        [(i, 10, LinkType.USES_DEVICE) for i in range(5)]
        + [(i, 11, LinkType.USES_DEVICE) for i in range(5, 10)]
        + [(4, 5, LinkType.TRANSFERS_TO)]
    )
    return project_tables(nodes, links)


def test_communities_are_the_two_groups_and_deterministic() -> None:
    """Leiden separates the two device groups; two runs give identical signals."""
    projection = _two_rings()
    engine = EmbeddedAlgorithms(None)
    first = compute_graph_signals(projection, engine, np.array([0]))
    second = compute_graph_signals(projection, engine, np.array([0]))
    assert first.community.tolist() == [0] * 5 + [5] * 5
    assert first.component.tolist() == [0] * 10
    assert np.array_equal(first.seeded_score, second.seeded_score)
    assert np.array_equal(first.pagerank, second.pagerank)


def test_weighted_adjacency_is_symmetric() -> None:
    """The scipy adjacency holds each projected edge both ways with its weight."""
    adjacency = weighted_adjacency(_two_rings())
    assert (adjacency != adjacency.T).nnz == 0
    assert adjacency[4, 5] == pytest.approx(1.0)


def test_invalid_folds_are_refused() -> None:
    """folds below 2 is InvalidInput."""
    with pytest.raises(InvalidInput):
        compute_graph_signals(_two_rings(), EmbeddedAlgorithms(None), np.array([0]), folds=1)


def test_community_detection_skips_light_edges_but_keeps_every_account() -> None:
    """With community_min_weight above the device ties, only the transfer pair stays together."""
    projection = _two_rings()
    signals = compute_graph_signals(
        projection,
        EmbeddedAlgorithms(None),
        np.array([0]),
        community_min_weight=0.9,
    )
    assert signals.community.shape == (10,)
    assert signals.community[4] == signals.community[5] == 4
    assert len(set(signals.community.tolist())) == 9
    assert signals.component.tolist() == [0] * 10
