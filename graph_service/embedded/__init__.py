"""Embedded backend: DuckDB file + in-memory CSR; no server needed."""
