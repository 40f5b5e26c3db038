"""One ``Settings`` object for the whole service, read from ``FRAUDGRAPH_*`` variables.

The defaults run the embedded demo with no configuration at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Neo4jSettings(BaseSettings):
    """Connection to a Neo4j server (``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``)."""

    model_config = SettingsConfigDict(env_prefix="NEO4J_", extra="ignore")

    uri: str = "bolt://127.0.0.1:7687"
    user: str = "neo4j"
    password: SecretStr = SecretStr("")
    database: str = "neo4j"
    query_timeout_s: float = 30.0
    write_batch_size: int = 20_000


class Settings(BaseSettings):
    """Service settings. Environment prefix ``FRAUDGRAPH_``.

    Attributes
    ----------
    environment : {"development", "test", "production"}
    backend : {"embedded", "neo4j"}
        Which ``GraphStore`` backend to open.
    store_dir : Path
        Where the embedded store (and every backend's ingest artefacts) live.
    batch_size : int
        Rows per ingestion batch (one transaction each).
    default_region : str
        Region for phone numbers written without a country code.
    duckdb_memory_limit : str
        Memory cap for the embedded engine.
    duckdb_threads : int
        Worker threads for the embedded engine (0 = all cores).
    """

    model_config = SettingsConfigDict(
        env_prefix="FRAUDGRAPH_", extra="ignore", populate_by_name=True
    )

    environment: Literal["development", "test", "production"] = "development"
    backend: Literal["embedded", "neo4j"] = "embedded"
    store_dir: Path = Field(
        default=Path("data/store"),
        validation_alias=AliasChoices("FRAUDGRAPH_STORE", "FRAUDGRAPH_STORE_DIR", "store_dir"),
    )
    batch_size: int = Field(default=1_000_000, ge=1, le=50_000_000)
    default_region: str = "GB"
    duckdb_memory_limit: str = "3GB"
    duckdb_threads: int = Field(default=0, ge=0)
    neo4j: Neo4jSettings = Field(default_factory=Neo4jSettings)

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if (
            self.environment == "production"
            and self.backend == "neo4j"
            and not self.neo4j.password.get_secret_value()
        ):
            raise ValueError("NEO4J_PASSWORD must be set in production")
        return self
