"""Fixtures for the scoring tests: the session's local Neo4j + GDS (see tests/graph_service)."""

from __future__ import annotations

from tests.graph_service.conftest import _stop_shared_neo4j, neo4j_server, neo4j_store

__all__ = ["_stop_shared_neo4j", "neo4j_server", "neo4j_store"]
