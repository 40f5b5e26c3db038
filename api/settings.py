"""Settings of the API server, read from ``FRAUDGRAPH_API_*`` variables.

The graph store itself is configured by :class:`graph_service.settings.Settings`
(``FRAUDGRAPH_BACKEND``, ``FRAUDGRAPH_STORE``, ``NEO4J_*``); this object holds what only
the server needs: where its API keys are, which feature cache to serve from, and the caps
and timeouts of every endpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """API server settings. Environment prefix ``FRAUDGRAPH_API_``.

    Attributes
    ----------
    host, port : str, int
        Where ``fraudgraph serve`` listens.
    keys_file : Path, optional
        JSON file of API keys: ``[{"name", "role", "sha256"}]`` (hashes only).
    keys : SecretStr, optional
        The same inline: ``name:role:sha256hex`` entries separated by commas.
    feature_cache : {"memory", "redis"}
        Serve features from the in-process snapshot or from Redis.
    redis_url : str
        Redis to read (and fall back from) when ``feature_cache`` is ``redis``
        (``FRAUDGRAPH_API_REDIS_URL``, else the stack-wide ``FRAUDGRAPH_REDIS_URL``).
    feature_batch_max : int
        Most entities one ``POST /v1/features/batch`` may ask for.
    on_demand_features : bool
        Answer an entity missing from the snapshot from the graph (bounded), instead of 404.
    snapshot_poll_s : float
        Seconds between checks for a newer published snapshot (0 = never; reload with
        ``POST /v1/admin/snapshot/reload``).
    graphql_max_depth, graphql_max_aliases, graphql_max_tokens, graphql_max_cost : int
        Limits every GraphQL document must stay within.
    graphql_page_max : int
        Largest ``first`` of any GraphQL list.
    query_timeout_s : float
        Seconds a GraphQL operation's store work may take.
    store_pool_size : int
        Store connections shared by GraphQL requests.
    embedded_hold_s : float
        Embedded backend: seconds the server keeps the DuckDB file open after the last
        read (batch jobs can open it for writing only while the server does not hold it).
    """

    model_config = SettingsConfigDict(
        env_prefix="FRAUDGRAPH_API_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    keys_file: Path | None = None
    keys: SecretStr | None = None
    feature_cache: Literal["memory", "redis"] = "memory"
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices(
            "FRAUDGRAPH_API_REDIS_URL", "FRAUDGRAPH_REDIS_URL", "redis_url"
        ),
    )
    redis_prefix: str = "fraudgraph:features"
    feature_batch_max: int = Field(default=1_000, ge=1, le=100_000)
    on_demand_features: bool = False
    snapshot_poll_s: float = Field(default=30.0, ge=0)
    graphql_max_depth: int = Field(default=8, ge=1)
    graphql_max_aliases: int = Field(default=15, ge=1)
    graphql_max_tokens: int = Field(default=2_000, ge=10)
    graphql_max_cost: int = Field(default=20_000, ge=1)
    graphql_page_max: int = Field(default=200, ge=1, le=1_000)
    query_timeout_s: float = Field(default=10.0, gt=0)
    store_pool_size: int = Field(default=4, ge=1, le=64)
    embedded_hold_s: float = Field(default=2.0, ge=0)
