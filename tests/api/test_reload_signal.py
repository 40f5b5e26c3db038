"""The reload signal of a run directory: atomic generations, watchers that reload once per
signal of another worker, and files that are corrupt or unreadable (logged, ignored)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from api.reload_signal import SIGNAL_FILE, ReloadSignal, ReloadWatcher, UnreadableSignal
from graph_service.errors import BackendUnavailable

EVERY_S = 0.02


class Reloads:
    """A reload function that counts its calls and fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.calls = 0
        self.failures = failures

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise BackendUnavailable("store locked by a batch job")
        return {"version": f"v{self.calls}", "swapped": True}


def watcher(run_dir: Path, reloads: Reloads, **options: Any) -> ReloadWatcher:
    """A watcher of ``run_dir`` checking every :data:`EVERY_S` seconds."""
    return ReloadWatcher(ReloadSignal(run_dir), reloads, every_s=EVERY_S, **options)


def run_watching(watchers: list[ReloadWatcher], body: Callable[[], Awaitable[None]]) -> None:
    """Start ``watchers`` in an event loop, run ``body``, stop them."""

    async def main() -> None:
        for each in watchers:
            each.start()
        try:
            await body()
        finally:
            for each in watchers:
                await each.stop()

    anyio.run(main)


async def wait_for(check: Callable[[], bool], within_s: float = 2.0) -> None:
    """Wait until ``check()`` holds; fail after ``within_s``."""
    with anyio.fail_after(within_s):
        while not check():
            await anyio.sleep(EVERY_S / 2)


def test_bump_writes_a_new_generation_by_rename(tmp_path: Path) -> None:
    """Nothing signalled reads None; each bump writes a distinct generation that reads
    back, creating the run directory and leaving no temporary file beside it."""
    signal = ReloadSignal(tmp_path / "run")
    assert signal.read() is None and signal.stat() is None
    first = signal.bump()
    second = signal.bump()
    assert first != second and signal.read() == second
    assert [p.name for p in (tmp_path / "run").iterdir()] == [SIGNAL_FILE]


@pytest.mark.parametrize(
    "content", [b"", b"not json", b"[1, 2]", b'{"pid": 1}', b'{"generation": 5}']
)
def test_read_refuses_what_bump_did_not_write(tmp_path: Path, content: bytes) -> None:
    """A file that holds no generation raises UnreadableSignal."""
    (tmp_path / SIGNAL_FILE).write_bytes(content)
    with pytest.raises(UnreadableSignal):
        ReloadSignal(tmp_path).read()


def test_a_signal_of_another_worker_reloads_every_other_watcher_once(tmp_path: Path) -> None:
    """A broadcast makes the other watchers reload once each; the broadcasting watcher,
    which reloaded before signalling, does not; all take the generation as applied."""
    reloads = [Reloads(), Reloads(), Reloads()]
    watchers = [watcher(tmp_path, each) for each in reloads]

    async def body() -> None:
        generation = await anyio.to_thread.run_sync(watchers[0].broadcast)
        await wait_for(lambda: reloads[1].calls == reloads[2].calls == 1)
        await anyio.sleep(10 * EVERY_S)
        assert [each.calls for each in reloads] == [0, 1, 1]
        assert {each.generation for each in watchers} == {generation}

    run_watching(watchers, body)


def test_a_signal_older_than_the_watcher_is_not_applied(tmp_path: Path) -> None:
    """A generation written before the worker started (it loads the latest snapshot at
    start anyway) causes no reload."""
    ReloadSignal(tmp_path).bump()
    reloads = Reloads()

    async def body() -> None:
        await anyio.sleep(10 * EVERY_S)
        assert reloads.calls == 0

    run_watching([watcher(tmp_path, reloads)], body)


def test_a_corrupt_signal_is_logged_and_the_next_one_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage in the signal file logs a warning and reloads nothing; the watcher keeps
    running and applies the next valid generation."""
    reloads = Reloads()

    async def body() -> None:
        (tmp_path / SIGNAL_FILE).write_bytes(b"\x00garbage")
        await wait_for(lambda: "reload signal ignored" in caplog.text)
        await anyio.sleep(10 * EVERY_S)
        assert reloads.calls == 0
        ReloadSignal(tmp_path).bump()
        await wait_for(lambda: reloads.calls == 1)

    with caplog.at_level(logging.WARNING, logger="api.reload_signal"):
        run_watching([watcher(tmp_path, reloads)], body)
    assert sum("reload signal ignored" in r.getMessage() for r in caplog.records) == 1


def test_an_unreadable_signal_is_logged_and_the_next_one_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A signal path that cannot be read (a directory in its place) logs a warning and
    reloads nothing; once a valid generation is written the watcher applies it."""
    reloads = Reloads()

    async def body() -> None:
        (tmp_path / SIGNAL_FILE).mkdir()
        await wait_for(lambda: "cannot read" in caplog.text)
        assert reloads.calls == 0
        (tmp_path / SIGNAL_FILE).rmdir()
        ReloadSignal(tmp_path).bump()
        await wait_for(lambda: reloads.calls == 1)

    with caplog.at_level(logging.WARNING, logger="api.reload_signal"):
        run_watching([watcher(tmp_path, reloads)], body)


def test_a_failed_reload_is_retried_until_it_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reload that fails (store locked) is logged and tried again after a back-off; the
    generation counts as applied only once a reload succeeded."""
    reloads = Reloads(failures=2)
    watching = watcher(tmp_path, reloads, retry_s=EVERY_S)

    async def body() -> None:
        generation = ReloadSignal(tmp_path).bump()
        await wait_for(lambda: reloads.calls >= 1)
        assert watching.generation != generation
        await wait_for(lambda: watching.generation == generation)
        assert reloads.calls == 3

    with caplog.at_level(logging.WARNING, logger="api.reload_signal"):
        run_watching([watching], body)
    assert sum("reload on signal failed" in r.getMessage() for r in caplog.records) == 2
