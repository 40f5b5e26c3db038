"""One ``Settings`` tree for the whole service, read from ``FRAUDGRAPH_*`` variables.

The root holds the store's settings; typed sections hold the rest: ``neo4j``
(``FRAUDGRAPH_NEO4J_*``), ``redis`` (``FRAUDGRAPH_REDIS_*``), ``api``
(``FRAUDGRAPH_API_*``) and ``jobs`` (``FRAUDGRAPH_JOBS_*``). Each value is declared once, here;
``api.settings.ApiSettings`` and ``fraudgraph.jobs.settings.JobSettings`` are these sections.
The defaults run the embedded demo with no configuration at all.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Final, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_REDIS_URL",
    "FEATURE_KEY_PREFIX",
    "REDIS_URL_ENV",
    "ApiSettings",
    "JobSettings",
    "Neo4jSettings",
    "RedisSettings",
    "Settings",
    "redis_url_aliases",
]

log = logging.getLogger(__name__)

#: The stack-wide Redis URL variable, the fallback of every more specific one.
REDIS_URL_ENV: Final = "FRAUDGRAPH_REDIS_URL"
#: Where Redis is when nothing says otherwise (a local server, database 0).
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
#: Key prefix of the feature snapshots in Redis.
FEATURE_KEY_PREFIX: Final = "fraudgraph:features"


def redis_url_aliases(*specific: str, field: str) -> AliasChoices:
    """The variables one Redis URL is read from: the ``specific`` ones in order, then
    ``FRAUDGRAPH_REDIS_URL`` (the one place that fallback is declared)."""
    return AliasChoices(*specific, REDIS_URL_ENV, field)


_NEO4J_FIELDS: Final = (
    "uri",
    "user",
    "password",
    "database",
    "query_timeout_s",
    "write_batch_size",
)


def _neo4j_alias(name: str) -> AliasChoices:
    return AliasChoices(f"FRAUDGRAPH_NEO4J_{name.upper()}", f"NEO4J_{name.upper()}", name)


class Neo4jSettings(BaseSettings):
    """Connection to a Neo4j server (``FRAUDGRAPH_NEO4J_URI``, ``_USER``, ``_PASSWORD``,
    ``_DATABASE``, ``_QUERY_TIMEOUT_S``, ``_WRITE_BATCH_SIZE``).

    The older names without the ``FRAUDGRAPH_`` prefix (``NEO4J_URI``...) are still read,
    with a deprecation warning, when the new one is not set.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    uri: str = Field(default="bolt://127.0.0.1:7687", validation_alias=_neo4j_alias("uri"))
    user: str = Field(default="neo4j", validation_alias=_neo4j_alias("user"))
    password: SecretStr = Field(default=SecretStr(""), validation_alias=_neo4j_alias("password"))
    database: str = Field(default="neo4j", validation_alias=_neo4j_alias("database"))
    query_timeout_s: float = Field(default=30.0, validation_alias=_neo4j_alias("query_timeout_s"))
    write_batch_size: int = Field(default=20_000, validation_alias=_neo4j_alias("write_batch_size"))

    @model_validator(mode="after")
    def _warn_about_old_names(self) -> Neo4jSettings:
        old = deprecated_variables()
        if old:
            message = (
                f"deprecated variable(s) {', '.join(old)}: set "
                f"{', '.join('FRAUDGRAPH_' + name for name in old)} instead"
            )
            log.warning(message)
            warnings.warn(message, DeprecationWarning, stacklevel=2)
        return self


def deprecated_variables() -> list[str]:
    """``NEO4J_*`` variables set in the environment whose ``FRAUDGRAPH_NEO4J_*`` name is not."""
    return [
        f"NEO4J_{name.upper()}"
        for name in _NEO4J_FIELDS
        if f"NEO4J_{name.upper()}" in os.environ
        and f"FRAUDGRAPH_NEO4J_{name.upper()}" not in os.environ
    ]


class RedisSettings(BaseSettings):
    """The stack-wide Redis (``FRAUDGRAPH_REDIS_URL``): the fallback of every Redis URL of
    the API and the jobs, and the key prefix of the feature cache.

    Attributes
    ----------
    url : str or None
        ``FRAUDGRAPH_REDIS_URL``; ``None`` when not set (each user then has its own default).
    feature_prefix : str
        Key prefix of the feature snapshots in Redis (``FRAUDGRAPH_REDIS_FEATURE_PREFIX``).
    """

    model_config = SettingsConfigDict(env_prefix="FRAUDGRAPH_REDIS_", extra="ignore")

    url: str | None = None
    feature_prefix: str = FEATURE_KEY_PREFIX


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
    redis_timeout_s : float
        Seconds a Redis feature read may take before the in-process snapshot answers
        instead (the scorer's whole budget is ~10 ms).
    redis_version_poll_s : float
        Seconds between reads of the Redis snapshot pointer: the most a near-cached
        feature can lag a newly published version.
    near_cache_entries : int
        Feature bodies each server keeps from the Redis version served now (0: none).
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
    precompute_bodies : bool
        Serialise every entity's feature body once per loaded snapshot, so an in-process
        GET answers with a slice of it (a few seconds and about 0.5 KB per entity, in a
        memory-mapped file that the workers share under ``run_dir``, else a private one).
    run_dir : Path, optional
        Directory the worker processes of one server share: ``POST
        /v1/admin/snapshot/reload`` on any worker bumps a generation file there and every
        worker watching it reloads within about a second. ``fraudgraph serve --workers N``
        (N > 1) creates a private one when this is unset; set it to make several servers
        on one host reload together. Unset with one worker: reloads reach that process only.
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
        default=DEFAULT_REDIS_URL,
        validation_alias=redis_url_aliases("FRAUDGRAPH_API_REDIS_URL", field="redis_url"),
    )
    redis_prefix: str = FEATURE_KEY_PREFIX
    redis_timeout_s: float = Field(default=0.1, gt=0, le=10)
    redis_version_poll_s: float = Field(default=0.25, gt=0, le=60)
    near_cache_entries: int = Field(default=100_000, ge=0, le=50_000_000)
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
    precompute_bodies: bool = True
    run_dir: Path | None = None


class JobSettings(BaseSettings):
    """Where the broker is, the schedule, and how runs are locked and delivered.

    Attributes
    ----------
    broker_url : str or None
        Celery broker and result backend (Redis), e.g. ``redis://redis:6379/1``
        (``FRAUDGRAPH_JOBS_BROKER_URL``, else the stack-wide ``FRAUDGRAPH_REDIS_URL``). Without
        it, runs are inline only and the pipeline lock is a file in the store directory;
        with it, the lock lives in this Redis so that workers on several hosts share it.
    visibility_timeout_s : int
        Seconds after which a task taken by a worker that died (no ack) is delivered again.
        It must exceed the longest step, or a step still running is delivered twice (which
        the run ledger makes harmless, but wasteful).
    restore_interval_s : float
        How often a worker looks for tasks of dead workers past the visibility timeout.
    lock_ttl_s : int or None
        Lease of the pipeline lock, renewed while a step runs. Default: the visibility
        timeout plus 10 minutes with a broker (a run whose worker died keeps its lock
        until its task is delivered again), 120 s inline.
    step_lock_ttl_s : int
        Lease of the per-step lock that makes duplicate deliveries run one after another.
    store_wait_s : float
        How long a step waits for the embedded store while another process has it open
        (an API server between reads, a CLI query) before it fails.
    wait_s : float
        How long a new run waits for the lock held by another run before it is refused.
    inbox : Path or None
        Files or directories the scheduled pipeline ingests (already ingested files are
        skipped by checksum). Default: ``STORE/inbox``.
    truth : Path or None
        Ground truth the pipeline evaluates against (development and acceptance runs).
    threshold : float
        Ring score from which a ring is flagged.
    pipeline_every_s, gnn_train_every_s : float
        Beat schedule: the pipeline (hourly) and GNN retraining with champion-challenger
        (weekly). 0 leaves the entry out.
    gnn_epochs : int
        Most epochs of a scheduled GNN training.
    feature_redis_url : str or None
        Also publish the feature snapshot to this Redis, the API's feature cache
        (``FRAUDGRAPH_JOBS_FEATURE_REDIS_URL``, else ``FRAUDGRAPH_API_REDIS_URL``, else
        ``FRAUDGRAPH_REDIS_URL``).
    webhook_url : str or None
        Where flagged clusters are POSTed (the case-management system).
    webhook_secret : SecretStr or None
        HMAC-SHA256 key of the webhook signature; required with ``webhook_url``.
    webhook_secret_file : Path or None
        Read the key from this file instead (a mounted secret), when ``webhook_secret`` is
        not set.
    webhook_attempts : int
        Attempts per delivery (exponential backoff from ``webhook_backoff_s``).
    webhook_timeout_s : float
    keep_runs : int
        Runs kept in the ledger (older run folders are removed).
    """

    model_config = SettingsConfigDict(
        env_prefix="FRAUDGRAPH_JOBS_", extra="ignore", populate_by_name=True
    )

    broker_url: str | None = Field(
        default=None,
        validation_alias=redis_url_aliases("FRAUDGRAPH_JOBS_BROKER_URL", field="broker_url"),
    )
    visibility_timeout_s: int = Field(default=4 * 3600, ge=1)
    restore_interval_s: float = Field(default=10.0, gt=0.0)
    lock_ttl_s: int | None = Field(default=None, ge=1)
    step_lock_ttl_s: int = Field(default=30, ge=1)
    store_wait_s: float = Field(default=60.0, ge=0.0)
    wait_s: float = Field(default=0.0, ge=0.0)
    inbox: Path | None = None
    truth: Path | None = None
    # scoring.flagging.FLAG_THRESHOLD (graph_service imports none of ours).
    threshold: float = Field(default=0.64, ge=0.0, le=1.0)
    pipeline_every_s: float = Field(default=3600.0, ge=0.0)
    gnn_train_every_s: float = Field(default=7 * 24 * 3600.0, ge=0.0)
    gnn_epochs: int = Field(default=40, ge=1)
    feature_redis_url: str | None = Field(
        default=None,
        validation_alias=redis_url_aliases(
            "FRAUDGRAPH_JOBS_FEATURE_REDIS_URL",
            "FRAUDGRAPH_API_REDIS_URL",
            field="feature_redis_url",
        ),
    )
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None
    webhook_attempts: int = Field(default=5, ge=1, le=20)
    webhook_backoff_s: float = Field(default=1.0, ge=0.0)
    webhook_timeout_s: float = Field(default=10.0, gt=0.0)
    keep_runs: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> JobSettings:
        if self.webhook_url and self.webhook_secret is None and self.webhook_secret_file:
            try:
                text = self.webhook_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"webhook secret file {self.webhook_secret_file}: {exc}") from exc
            self.webhook_secret = SecretStr(text)
        if self.webhook_url and not (
            self.webhook_secret and self.webhook_secret.get_secret_value()
        ):
            raise ValueError(
                "FRAUDGRAPH_JOBS_WEBHOOK_URL is set without FRAUDGRAPH_JOBS_WEBHOOK_SECRET: "
                "deliveries must be signed"
            )
        return self

    def pipeline_lock_ttl_s(self) -> int:
        """The pipeline lock's lease (see ``lock_ttl_s``)."""
        if self.lock_ttl_s is not None:
            return self.lock_ttl_s
        return self.visibility_timeout_s + 600 if self.broker_url else 120


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
    redis: RedisSettings = Field(default_factory=RedisSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if (
            self.environment == "production"
            and self.backend == "neo4j"
            and not self.neo4j.password.get_secret_value()
        ):
            raise ValueError("FRAUDGRAPH_NEO4J_PASSWORD must be set in production")
        return self
