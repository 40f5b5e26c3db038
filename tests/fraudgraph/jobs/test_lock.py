"""Pipeline and step leases, on lock files and on Redis: one behaviour, two backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudgraph.jobs.lock import FileLeases, LeaseBackend, PipelineBusy, RedisLeases, acquire, hold
from graph_service.errors import StoreLocked
from tests.conftest import RedisServer


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LeaseBackend]:
    """Leases of each backend."""
    if request.param == "file":
        yield FileLeases(tmp_path / "locks")
        return
    import redis

    redis_server: RedisServer = request.getfixturevalue("redis_server")
    client = redis.Redis.from_url(redis_server.url)
    yield RedisLeases(client, prefix=f"test-locks:{tmp_path.name}")
    client.close()


def test_a_second_owner_is_refused_with_the_holder_named(backend: LeaseBackend) -> None:
    """While run A holds the lock, run B is refused (409) with a message naming A."""
    with (
        hold(backend, "pipeline", owner="run-A", ttl_s=30),
        pytest.raises(PipelineBusy, match="run-A") as refused,
    ):
        acquire(backend, "pipeline", owner="run-B", ttl_s=30)
    assert isinstance(refused.value, StoreLocked) and refused.value.http_status == 409
    assert backend.holder("pipeline") is None


def test_the_same_owner_takes_its_lock_again(backend: LeaseBackend) -> None:
    """A re-delivered step of the run holding the lock is let in."""
    first = acquire(backend, "pipeline", owner="run-A", ttl_s=30)
    second = acquire(backend, "pipeline", owner="run-A", ttl_s=30)
    holder = backend.holder("pipeline")
    assert holder is not None and holder.owner == "run-A" and holder.token == second.token
    second.release()
    first.detach()
    assert backend.holder("pipeline") is None


def test_a_lapsed_lease_is_free(backend: LeaseBackend) -> None:
    """A holder that stops renewing (a killed worker) loses the lock after its TTL."""
    acquire(backend, "pipeline", owner="run-A", ttl_s=0.5).detach()
    with pytest.raises(PipelineBusy):
        acquire(backend, "pipeline", owner="run-B", ttl_s=30)
    time.sleep(0.7)
    acquire(backend, "pipeline", owner="run-B", ttl_s=30).release()


def test_a_held_lease_is_renewed_past_its_ttl(backend: LeaseBackend) -> None:
    """A live holder keeps the lock for longer than one TTL."""
    with hold(backend, "step", owner="delivery-1", ttl_s=0.6):
        time.sleep(1.5)
        with pytest.raises(PipelineBusy):
            acquire(backend, "step", owner="delivery-2", ttl_s=1)


def test_a_waiting_owner_gets_the_lock_when_it_is_released(backend: LeaseBackend) -> None:
    """With a wait, run B gets the lock as soon as run A releases it."""
    lease = acquire(backend, "pipeline", owner="run-A", ttl_s=30)
    timer = threading.Timer(0.5, lease.release)
    timer.start()
    started = time.monotonic()
    acquire(backend, "pipeline", owner="run-B", ttl_s=30, wait_s=10).release()
    assert 0.4 < time.monotonic() - started < 5
    timer.join()


def test_release_by_a_stale_token_does_nothing(backend: LeaseBackend) -> None:
    """An old holder releasing after its lease lapsed and was taken leaves the new holder."""
    acquire(backend, "pipeline", owner="run-A", ttl_s=0.3).detach()
    time.sleep(0.5)
    stale = backend.holder("pipeline")
    assert stale is None
    fresh = acquire(backend, "pipeline", owner="run-B", ttl_s=30)
    backend.release("pipeline", "not-the-token")
    holder = backend.holder("pipeline")
    assert holder is not None and holder.owner == "run-B"
    fresh.release()


def test_two_deliveries_of_one_run_both_keep_its_lock_alive(backend: LeaseBackend) -> None:
    """Two deliveries of a run's step hold the run's lock together: neither loses it."""
    first = acquire(backend, "pipeline", owner="run-A", ttl_s=0.6)
    second = acquire(backend, "pipeline", owner="run-A", ttl_s=0.6)
    time.sleep(1.5)
    assert not first.lost.is_set() and not second.lost.is_set()
    with pytest.raises(PipelineBusy):
        acquire(backend, "pipeline", owner="run-B", ttl_s=1)
    first.detach()
    second.release()
