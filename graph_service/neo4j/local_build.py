"""Build the local Neo4j + GDS server: the Maven project in ``graph_service/neo4j_local/``.

:func:`build` runs ``mvn package`` unless the output in ``target/`` is present and up to
date (a hash of ``pom.xml`` and the Java sources, kept in ``target/build.sha256``).
Concurrent callers serialise on a file lock. ``graph_service.neo4j.launcher`` calls it
before it starts a server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from graph_service.errors import BackendUnavailable

logger = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[2]
_PROJECT_DIR = _REPO_ROOT / "graph_service" / "neo4j_local"
_POM = _PROJECT_DIR / "pom.xml"
_TARGET_DIR = _PROJECT_DIR / "target"
LAUNCHER_JAR = _TARGET_DIR / "neo4j-local-launcher.jar"
LIB_DIR = _TARGET_DIR / "lib"
PLUGINS_DIR = _TARGET_DIR / "plugins"
_BUILD_STAMP = _TARGET_DIR / "build.sha256"
_BUILD_LOCK = _TARGET_DIR / "build.lock"

_BUILD_TIMEOUT_S = 1800.0
#: Lines of a log or of Maven's output quoted in an error message.
LOG_TAIL_LINES = 6


def build(force: bool = False) -> Path:
    """Build the Maven project unless its output is present and up to date.

    The output is fresh when ``target/build.sha256`` matches a hash of ``pom.xml`` and the Java
    sources and the launcher jar, ``target/lib`` and ``target/plugins`` exist. Resolved
    artifacts are cached in ``~/.m2``, so only the first build downloads (~150 MiB).

    Parameters
    ----------
    force : bool, default False
        Rebuild even when the output looks fresh.

    Returns
    -------
    Path
        The ``target`` directory: ``neo4j-local-launcher.jar``, ``lib/`` and ``plugins/``.

    Raises
    ------
    BackendUnavailable
        The Maven project is missing, ``mvn`` is not on ``PATH``, or the build failed (the
        message ends with the tail of Maven's output).

    Notes
    -----
    A cached check hashes a handful of small files (milliseconds); a Maven run with a warm
    ``~/.m2`` takes a few seconds. Concurrent callers serialise on a file lock.
    """
    if not _POM.is_file():
        raise BackendUnavailable(f"Maven project not found at {_POM}; is this a source checkout?")
    _TARGET_DIR.mkdir(exist_ok=True)
    with _exclusive_lock(_BUILD_LOCK):
        digest = _source_digest()
        if not force and _build_is_fresh(digest):
            logger.debug("neo4j-local build is up to date", extra={"target": str(_TARGET_DIR)})
            return _TARGET_DIR
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BackendUnavailable(
                "Maven (mvn) not found on PATH; install Maven 3.8+ and a JDK 17+ to build "
                "graph_service/neo4j_local"
            )
        # Stale jars from an older dependency set would end up on the classpath.
        for stale in (LIB_DIR, PLUGINS_DIR):
            shutil.rmtree(stale, ignore_errors=True)
        _BUILD_STAMP.unlink(missing_ok=True)
        command = [mvn, "-q", "-B", "-f", str(_POM), "package"]
        logger.info("building neo4j-local", extra={"command": " ".join(command)})
        started = time.monotonic()
        try:
            completed = subprocess.run(
                command,
                cwd=_PROJECT_DIR,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=_BUILD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            output = error.output.decode(errors="replace") if error.output else ""
            raise BackendUnavailable(
                f"Maven build of graph_service/neo4j_local timed out after {_BUILD_TIMEOUT_S:.0f}s"
                f": {_one_line_tail(output)}"
            ) from error
        output = completed.stdout.decode(errors="replace")
        if completed.returncode != 0 or not _outputs_exist():
            logger.error("neo4j-local build failed", extra={"maven_output": output[-4000:]})
            raise BackendUnavailable(
                f"Maven build of graph_service/neo4j_local failed (exit {completed.returncode}): "
                f"{_one_line_tail(output)}"
            )
        _BUILD_STAMP.write_text(digest + "\n", encoding="utf-8")
        logger.info(
            "built neo4j-local",
            extra={"seconds": round(time.monotonic() - started, 1), "target": str(_TARGET_DIR)},
        )
        return _TARGET_DIR


def _source_digest() -> str:
    digest = hashlib.sha256()
    sources = [_POM, *sorted(p for p in (_PROJECT_DIR / "src").rglob("*") if p.is_file())]
    for path in sources:
        digest.update(str(path.relative_to(_PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _outputs_exist() -> bool:
    return (
        LAUNCHER_JAR.is_file()
        and any(LIB_DIR.glob("neo4j-5*.jar"))
        and any(PLUGINS_DIR.glob("proc-*.jar"))
    )


def _build_is_fresh(digest: str) -> bool:
    return _outputs_exist() and read_text(_BUILD_STAMP).strip() == digest


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _one_line_tail(output: str) -> str:
    """Maven's [ERROR] lines without its generic advice, else its last lines, on one line."""
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    advice = re.compile(
        r"\[ERROR\]\s*(->|To see the full|Re-run Maven|For more information|\[Help)"
    )
    lines = [ansi.sub("", line).strip() for line in output.splitlines()]
    errors = [
        line
        for line in lines
        if line.startswith("[ERROR]") and line != "[ERROR]" and not advice.match(line)
    ]
    tail = (errors or [line for line in lines if line])[-LOG_TAIL_LINES:]
    return truncate(" | ".join(tail)) if tail else "(no output)"


def truncate(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]
