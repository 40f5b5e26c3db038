"""The one settings tree: sections, the old variable names, the Redis fallback."""

from __future__ import annotations

import pytest

from graph_service.settings import (
    DEFAULT_REDIS_URL,
    FEATURE_KEY_PREFIX,
    ApiSettings,
    JobSettings,
    Neo4jSettings,
    Settings,
)
from scoring.feature_cache import RedisFeatureCache

_ALL = (
    "FRAUDGRAPH_REDIS_URL",
    "FRAUDGRAPH_API_REDIS_URL",
    "FRAUDGRAPH_JOBS_BROKER_URL",
    "FRAUDGRAPH_JOBS_FEATURE_REDIS_URL",
    *(
        f"{prefix}NEO4J_{name}"
        for prefix in ("", "FRAUDGRAPH_")
        for name in ("URI", "USER", "PASSWORD")
    ),
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ALL:
        monkeypatch.delenv(name, raising=False)


def test_the_root_holds_every_section() -> None:
    """One Settings() gives the store, neo4j, redis, api and jobs sections, with defaults."""
    settings = Settings()
    assert settings.backend == "embedded"
    assert settings.neo4j.uri == "bolt://127.0.0.1:7687"
    assert settings.redis.url is None and settings.redis.feature_prefix == FEATURE_KEY_PREFIX
    assert isinstance(settings.api, ApiSettings) and settings.api.redis_url == DEFAULT_REDIS_URL
    assert isinstance(settings.jobs, JobSettings) and settings.jobs.broker_url is None


def test_neo4j_reads_the_prefixed_names_without_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """FRAUDGRAPH_NEO4J_* are the names; reading them warns of nothing."""
    monkeypatch.setenv("FRAUDGRAPH_NEO4J_URI", "bolt://graph:7687")
    monkeypatch.setenv("FRAUDGRAPH_NEO4J_PASSWORD", "s3cret")
    neo4j = Settings().neo4j
    assert (neo4j.uri, neo4j.password.get_secret_value()) == ("bolt://graph:7687", "s3cret")


def test_old_neo4j_names_still_work_with_a_deprecation_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NEO4J_USER alone is read, and the warning names the variable to set instead."""
    monkeypatch.setenv("NEO4J_USER", "legacy")
    with pytest.warns(DeprecationWarning, match="NEO4J_USER: set FRAUDGRAPH_NEO4J_USER"):
        neo4j = Neo4jSettings()
    assert neo4j.user == "legacy"


def test_the_prefixed_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both set: the FRAUDGRAPH_ one is used and nothing is deprecated."""
    monkeypatch.setenv("NEO4J_URI", "bolt://old:7687")
    monkeypatch.setenv("FRAUDGRAPH_NEO4J_URI", "bolt://new:7687")
    assert Neo4jSettings().uri == "bolt://new:7687"


def test_every_redis_url_falls_back_to_the_stack_wide_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """FRAUDGRAPH_REDIS_URL alone serves the API cache, the broker and the publisher."""
    monkeypatch.setenv("FRAUDGRAPH_REDIS_URL", "redis://shared:6379/0")
    settings = Settings()
    assert settings.redis.url == "redis://shared:6379/0"
    assert settings.api.redis_url == "redis://shared:6379/0"
    assert settings.jobs.broker_url == "redis://shared:6379/0"
    assert settings.jobs.feature_redis_url == "redis://shared:6379/0"


def test_specific_redis_urls_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """A section's own variable beats the stack-wide one; the publisher follows the API's
    cache when it has no variable of its own."""
    monkeypatch.setenv("FRAUDGRAPH_REDIS_URL", "redis://shared:6379/0")
    monkeypatch.setenv("FRAUDGRAPH_API_REDIS_URL", "redis://api:6379/0")
    monkeypatch.setenv("FRAUDGRAPH_JOBS_BROKER_URL", "redis://broker:6379/1")
    settings = Settings()
    assert settings.api.redis_url == "redis://api:6379/0"
    assert settings.jobs.broker_url == "redis://broker:6379/1"
    assert settings.jobs.feature_redis_url == "redis://api:6379/0"


def test_the_feature_key_prefix_is_declared_once() -> None:
    """The API's default prefix and the cache's default prefix are the same constant."""
    assert ApiSettings().redis_prefix == FEATURE_KEY_PREFIX
    default = RedisFeatureCache.__init__.__kwdefaults__
    assert default is not None and default["prefix"] == FEATURE_KEY_PREFIX
