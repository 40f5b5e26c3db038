"""Settings of the batch jobs (env prefix ``FRAUDGRAPH_JOBS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["JobSettings"]


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
        validation_alias=AliasChoices(
            "FRAUDGRAPH_JOBS_BROKER_URL", "FRAUDGRAPH_REDIS_URL", "broker_url"
        ),
    )
    visibility_timeout_s: int = Field(default=4 * 3600, ge=1)
    restore_interval_s: float = Field(default=10.0, gt=0.0)
    lock_ttl_s: int | None = Field(default=None, ge=1)
    step_lock_ttl_s: int = Field(default=30, ge=1)
    store_wait_s: float = Field(default=60.0, ge=0.0)
    wait_s: float = Field(default=0.0, ge=0.0)
    inbox: Path | None = None
    truth: Path | None = None
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    pipeline_every_s: float = Field(default=3600.0, ge=0.0)
    gnn_train_every_s: float = Field(default=7 * 24 * 3600.0, ge=0.0)
    gnn_epochs: int = Field(default=40, ge=1)
    feature_redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "FRAUDGRAPH_JOBS_FEATURE_REDIS_URL",
            "FRAUDGRAPH_API_REDIS_URL",
            "FRAUDGRAPH_REDIS_URL",
            "feature_redis_url",
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
