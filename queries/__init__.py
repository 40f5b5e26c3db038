"""Relationship queries (neighbourhood, shared identifiers, paths, ring subgraphs, money flow)."""
