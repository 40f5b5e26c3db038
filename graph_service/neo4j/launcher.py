"""Build, start, stop and inspect a local Neo4j Community + Graph Data Science server.

The server is the small Maven project in ``graph_service/neo4j_local/``: embedded Neo4j 5.26
with the Bolt connector on ``127.0.0.1`` and the GDS 2.13 procedures, assembled from Maven
Central artifacts (no Docker, no tarball). It is meant for development and the ``neo4j``
test marker, not for production. The Maven build itself is in
``graph_service.neo4j.local_build`` (:func:`build` is available here too); this module
controls the server process.

Files a running server keeps in its ``data_dir``:

- ``neo4j-local.pid``: the Java process id (its own session and process group);
- ``neo4j-local.json``: uri, port and the versions verified at start;
- ``conf/neo4j.conf``: the settings the launcher generated;
- ``default-database``: the default database's name, when a bulk import switched it
  (``graph_service.neo4j.bulk_import``); absent means ``neo4j``;
- ``logs/launcher.log`` (the process's stdout and stderr) and Neo4j's ``logs/debug.log``;
- ``data/``: the store.

Example
-------
>>> from pathlib import Path
>>> from graph_service.neo4j import launcher
>>> server = launcher.start(port=7687, data_dir=Path("/tmp/fraudgraph-neo4j"))  # doctest: +SKIP
>>> server.uri  # doctest: +SKIP
'bolt://127.0.0.1:7687'
>>> launcher.stop(server.data_dir)  # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from graph_service.errors import BackendUnavailable, InvalidInput
from graph_service.neo4j.local_build import (
    LAUNCHER_JAR,
    LIB_DIR,
    LOG_TAIL_LINES,
    PLUGINS_DIR,
    build,
    read_text,
    truncate,
)

__all__ = [
    "LocalNeo4j",
    "LocalNeo4jStatus",
    "build",
    "default_database",
    "set_default_database",
    "start",
    "status",
    "stop",
]

logger = logging.getLogger(__name__)

_MAIN_CLASS = "org.fraudgraph.neo4jlocal.Launcher"
_PID_FILE = "neo4j-local.pid"
_STATE_FILE = "neo4j-local.json"
_LAUNCHER_LOG = Path("logs") / "launcher.log"
_DEFAULT_DATABASE_FILE = "default-database"
#: Neo4j's setting naming the default database; Community serves that one user database.
DEFAULT_DATABASE_SETTING = "initial.dbms.default_database"
_DATABASE_NAME = re.compile(r"^[a-z][a-z0-9.-]{2,62}$")
_READY_PREFIX = "READY bolt://"
_MIN_JAVA = 17
_KILL_WAIT_S = 15.0
_SIZE_PATTERN = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")

# JVM flags from Neo4j's own neo4j.conf that matter for an embedded server on Java 17+.
_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


@dataclass(frozen=True, slots=True)
class LocalNeo4j:
    """A local Neo4j + GDS server that answered ``RETURN 1`` and ``gds.version()``.

    Attributes
    ----------
    uri : str
        Bolt URI, ``bolt://127.0.0.1:<port>``.
    pid : int
        Process id of the Java process (also the id of its process group).
    data_dir : Path
        The server's home: store, logs, generated config, pid file.
    gds_version : str
        What ``CALL gds.version()`` returned, e.g. ``"2.13.9"``.
    neo4j_version : str
        The Neo4j kernel version, e.g. ``"5.26.30"``.
    """

    uri: str
    pid: int
    data_dir: Path
    gds_version: str
    neo4j_version: str

    @property
    def log_file(self) -> Path:
        """The Java process's stdout and stderr."""
        return self.data_dir / _LAUNCHER_LOG


@dataclass(frozen=True, slots=True)
class LocalNeo4jStatus:
    """What ``status`` found in a data dir.

    Attributes
    ----------
    running : bool
        The recorded process is alive and is the neo4j-local launcher.
    pid : int | None
        The recorded process id, when there is one.
    uri : str | None
        The recorded Bolt URI, when there is one.
    gds_version : str | None
        The GDS version verified when the server started.
    accepting : bool
        Something accepts TCP connections on the recorded Bolt port.
    """

    running: bool
    pid: int | None
    uri: str | None
    gds_version: str | None
    accepting: bool


def start(
    *,
    port: int = 7687,
    data_dir: Path,
    password: str | None = None,
    heap: str = "1g",
    page_cache: str = "128m",
    settings: Mapping[str, str] | None = None,
    timeout_s: float = 180,
) -> LocalNeo4j:
    """Start a local Neo4j + GDS server in the background and wait until it answers.

    The Java process runs detached in its own session and process group, so it outlives the
    caller until ``stop`` is called. Readiness means: the launcher printed its ``READY`` line,
    ``RETURN 1`` succeeded over Bolt and ``CALL gds.version()`` answered.

    Parameters
    ----------
    port : int, default 7687
        Bolt port on ``127.0.0.1``.
    data_dir : Path
        Server home (created if missing); an existing store in it is reused.
    password : str | None, default None
        Password for user ``neo4j`` (at least 8 characters); ``None`` disables auth. It reaches
        the JVM through the environment, never the command line.
    heap : str, default "1g"
        JVM maximum heap (``-Xmx``), e.g. ``"512m"``, ``"2g"``. GDS graphs live on the heap.
    page_cache : str, default "128m"
        Neo4j page cache (off-heap), e.g. ``"64m"``.
    settings : Mapping[str, str] | None, default None
        Extra Neo4j settings, e.g. ``{"db.logs.query.enabled": "OFF"}``. Without
        ``initial.dbms.default_database`` the server serves :func:`default_database`.
    timeout_s : float, default 180
        How long to wait for readiness.

    Returns
    -------
    LocalNeo4j
        The running server.

    Raises
    ------
    InvalidInput
        A malformed port, heap, page cache size or password.
    BackendUnavailable
        A server already runs in ``data_dir``, the port is taken, Java 17+ is missing, the build
        failed, the process exited during startup or readiness timed out. The message names the
        cause and ends with the last lines of the server log; a half-started process is stopped.
    """
    _check_arguments(port=port, heap=heap, page_cache=page_cache, password=password)
    data_dir = data_dir.resolve()
    current = status(data_dir)
    if current.running:
        raise BackendUnavailable(
            f"a neo4j-local server already runs in {data_dir} (pid {current.pid}, {current.uri}); "
            "stop it first"
        )
    _clear_state(data_dir)
    if not _port_is_free(port):
        raise BackendUnavailable(
            f"port {port} on 127.0.0.1 is already in use; pass another port to start() or stop "
            "whatever listens there"
        )
    java = _find_java()
    target = build()

    log_path = data_dir / _LAUNCHER_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        java,
        f"-Xmx{heap}",
        *_JVM_FLAGS,
        f"-XX:ErrorFile={log_path.parent / 'hs_err_pid%p.log'}",
        "-cp",
        f"{target / LAUNCHER_JAR.name}{os.pathsep}{target / LIB_DIR.name / '*'}",
        _MAIN_CLASS,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--plugins-dir",
        str(target / PLUGINS_DIR.name),
        "--page-cache",
        page_cache,
        "--auth",
        "off" if password is None else "on",
    ]
    effective = {DEFAULT_DATABASE_SETTING: default_database(data_dir), **(settings or {})}
    for key, value in effective.items():
        command += ["--setting", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_LOCAL_")}
    if password is not None:
        env["NEO4J_LOCAL_PASSWORD"] = password

    uri = f"bolt://127.0.0.1:{port}"
    logger.info("starting neo4j-local", extra={"uri": uri, "data_dir": str(data_dir), "heap": heap})
    started = time.monotonic()
    # posix_spawn rather than Popen: the server must outlive this interpreter, and a Popen
    # object for a process we never wait on warns (ResourceWarning) when collected.
    pid = os.posix_spawn(
        java,
        command,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    (data_dir / _PID_FILE).write_text(f"{pid}\n", encoding="utf-8")
    _write_state(data_dir, {"pid": pid, "uri": uri, "port": port})

    try:
        gds_version, neo4j_version = _await_ready(
            pid, uri=uri, password=password, log_path=log_path, deadline=started + timeout_s
        )
    except BaseException:
        stop(data_dir)
        raise
    server = LocalNeo4j(
        uri=uri,
        pid=pid,
        data_dir=data_dir,
        gds_version=gds_version,
        neo4j_version=neo4j_version,
    )
    _write_state(
        data_dir,
        {
            "pid": pid,
            "uri": uri,
            "port": port,
            "gds_version": gds_version,
            "neo4j_version": neo4j_version,
        },
    )
    logger.info(
        "neo4j-local ready",
        extra={
            "uri": uri,
            "pid": server.pid,
            "gds_version": gds_version,
            "neo4j_version": neo4j_version,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    return server


def default_database(data_dir: Path) -> str:
    """The database a server started in ``data_dir`` serves as its default.

    Parameters
    ----------
    data_dir : Path
        The server's data dir.

    Returns
    -------
    str
        The name recorded by :func:`set_default_database`, else ``"neo4j"``.
    """
    name = read_text(data_dir / _DEFAULT_DATABASE_FILE).strip()
    return name or "neo4j"


def set_default_database(data_dir: Path, name: str) -> None:
    """Record the default database of ``data_dir``; the next :func:`start` serves it.

    Parameters
    ----------
    data_dir : Path
        The server's data dir (created if missing).
    name : str
        A Neo4j database name: lower-case letter first, then letters, digits, dots or
        dashes, 3 to 63 characters.

    Raises
    ------
    InvalidInput
        If ``name`` is not a valid database name.
    """
    check_database_name(name)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / _DEFAULT_DATABASE_FILE).write_text(name + "\n", encoding="utf-8")


def check_database_name(name: str) -> None:
    """Raise ``InvalidInput`` unless ``name`` is a database name Neo4j accepts."""
    if name == "system" or not _DATABASE_NAME.match(name):
        raise InvalidInput(
            f"{name!r} is not a usable Neo4j database name (lower-case letter first, then "
            "letters, digits, dots or dashes; 3-63 characters; not 'system')"
        )


def stop(data_dir: Path, timeout_s: float = 60) -> bool:
    """Stop the server recorded in ``data_dir``: SIGTERM, wait, then SIGKILL.

    SIGTERM runs the launcher's shutdown hook, which shuts the DBMS down cleanly (checkpoint,
    store closed). The whole process group is signalled, so no stray JVM remains.

    Parameters
    ----------
    data_dir : Path
        The ``data_dir`` given to ``start``.
    timeout_s : float, default 60
        How long to wait after SIGTERM before SIGKILL.

    Returns
    -------
    bool
        True if a running server was stopped, False if none was running.

    Raises
    ------
    BackendUnavailable
        The process survived SIGKILL (it is not ours to signal, or the kernel is stuck).
    """
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    if pid is None or not _is_launcher(pid):
        _clear_state(data_dir)
        return False
    logger.info("stopping neo4j-local", extra={"pid": pid, "data_dir": str(data_dir)})
    started = time.monotonic()
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout_s):
        logger.warning("neo4j-local ignored SIGTERM, killing it", extra={"pid": pid})
        _signal_group(pid, signal.SIGKILL)
        if not _wait_gone(pid, _KILL_WAIT_S):
            raise BackendUnavailable(f"neo4j-local process {pid} survived SIGKILL")
    _clear_state(data_dir)
    logger.info(
        "stopped neo4j-local", extra={"pid": pid, "seconds": round(time.monotonic() - started, 1)}
    )
    return True


def status(data_dir: Path) -> LocalNeo4jStatus:
    """Report whether the server recorded in ``data_dir`` is running.

    Parameters
    ----------
    data_dir : Path
        The ``data_dir`` given to ``start``.

    Returns
    -------
    LocalNeo4jStatus
        ``running`` checks the recorded pid is alive and is the launcher (not a reused pid);
        ``accepting`` checks the Bolt port with a TCP connect, no credentials needed.
    """
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    state = _read_state(data_dir)
    uri = state.get("uri")
    gds_version = state.get("gds_version")
    port = state.get("port")
    running = pid is not None and _is_launcher(pid)
    accepting = running and isinstance(port, int) and _port_accepts(port)
    return LocalNeo4jStatus(
        running=running,
        pid=pid,
        uri=uri if isinstance(uri, str) else None,
        gds_version=gds_version if isinstance(gds_version, str) else None,
        accepting=accepting,
    )


def _check_arguments(*, port: int, heap: str, page_cache: str, password: str | None) -> None:
    if not 1 <= port <= 65535:
        raise InvalidInput(f"port must be in 1..65535, got {port}")
    for name, value in (("heap", heap), ("page_cache", page_cache)):
        if not _SIZE_PATTERN.match(value):
            raise InvalidInput(f"{name} must look like 512m or 2g, got {value!r}")
    if password is not None and len(password) < 8:
        raise InvalidInput("password must have at least 8 characters (Neo4j's minimum)")


def _await_ready(
    pid: int,
    *,
    uri: str,
    password: str | None,
    log_path: Path,
    deadline: float,
) -> tuple[str, str]:
    """Wait for the READY line, then for ``RETURN 1`` and ``gds.version()`` over Bolt."""
    # Imported here so that build/stop/status work without the optional driver installed.
    try:
        from neo4j import GraphDatabase
        from neo4j.exceptions import AuthError, ClientError, DriverError, Neo4jError
    except ImportError as error:
        raise BackendUnavailable(
            "the neo4j driver is not installed; install the 'neo4j' extra (pip install .[neo4j])"
        ) from error

    last_error = "no READY line yet"
    while time.monotonic() < deadline:
        exit_code = _reap(pid)
        if exit_code is not None:
            raise BackendUnavailable(
                f"neo4j-local exited during startup (exit {exit_code}): {_log_tail(log_path)}"
            )
        if _READY_PREFIX not in read_text(log_path):
            time.sleep(0.25)
            continue
        auth = None if password is None else ("neo4j", password)
        try:
            with GraphDatabase.driver(uri, auth=auth) as driver:
                driver.execute_query("RETURN 1 AS ok")
                gds = driver.execute_query("CALL gds.version() YIELD gdsVersion RETURN gdsVersion")
                kernel = driver.execute_query(
                    "CALL dbms.components() YIELD name, versions "
                    "WHERE name = 'Neo4j Kernel' RETURN versions[0] AS version"
                )
            return str(gds.records[0]["gdsVersion"]), str(kernel.records[0]["version"])
        except AuthError as error:
            raise BackendUnavailable(
                f"neo4j-local at {uri} rejected the password: {error}"
            ) from error
        except ClientError as error:
            raise BackendUnavailable(
                f"neo4j-local at {uri} answers but GDS is not usable ({error.code}): "
                f"{error.message}; {_log_tail(log_path)}"
            ) from error
        except (DriverError, Neo4jError, OSError) as error:
            last_error = f"{type(error).__name__}: {error}"
            time.sleep(0.5)
    raise BackendUnavailable(
        f"neo4j-local did not become ready on {uri} in time ({last_error}): {_log_tail(log_path)}"
    )


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise BackendUnavailable(
            f"Java not found (JAVA_HOME unset and no java on PATH); install a JDK {_MIN_JAVA}+"
        )
    try:
        completed = subprocess.run(
            [java, "-version"], capture_output=True, timeout=60, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BackendUnavailable(f"cannot run {java} -version: {error}") from error
    match = re.search(r'version "(\d+)(?:\.(\d+))?', completed.stderr)
    if match is None:
        raise BackendUnavailable(f"cannot read the Java version from {java} -version")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_x" style
        major = int(match.group(2))
    if major < _MIN_JAVA:
        raise BackendUnavailable(
            f"{java} is Java {major}; Neo4j 5.26 + GDS 2.13 need Java {_MIN_JAVA}+ (set JAVA_HOME)"
        )
    return java


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR as Netty sets it: TIME_WAIT leftovers don't count, a listener does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return not _port_accepts(port)


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _is_launcher(pid: int) -> bool:
    """Alive and running our main class (guards against a reused pid)."""
    if not _is_alive(pid):
        return False
    cmdline = Path("/proc") / str(pid) / "cmdline"
    if not cmdline.parent.exists():  # no procfs (macOS): trust the pid file
        return True
    try:
        return _MAIN_CLASS in cmdline.read_bytes().decode(errors="replace")
    except OSError:
        return False


def _is_alive(pid: int) -> bool:
    """The process exists and has not exited; our own exited children are reaped."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child, or already reaped: ask the kernel below
    else:
        # Our child: alive until it can be reaped. A JVM's leader thread shows as a zombie
        # while its other threads are still exiting, so procfs alone would answer too early.
        return reaped != pid
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path("/proc") / str(pid)
    stat = read_text(proc / "stat")
    if not stat or stat.rsplit(")", 1)[-1].split()[0] != "Z":
        return True
    try:  # a zombie leader with live threads is still exiting
        return len(list((proc / "task").iterdir())) > 1
    except OSError:
        return False


def _reap(pid: int) -> int | None:
    """Collect ``pid`` if it is an exited child of ours; return its exit code then.

    An unreaped child stays a zombie that still answers ``kill(pid, 0)``. Processes started by
    another interpreter are not our children; their new parent (init) reaps them.
    """
    try:
        reaped, wait_status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(wait_status) if reaped == pid else None


def _signal_group(pid: int, signum: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout_s: float) -> bool:
    # _is_alive, not _is_launcher: an exiting process's cmdline reads empty before it is gone.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _is_alive(pid):
            return True
        time.sleep(0.1)
    return not _is_alive(pid)


def _read_pid(data_dir: Path) -> int | None:
    text = read_text(data_dir / _PID_FILE).strip()
    return int(text) if text.isdigit() else None


def _read_state(data_dir: Path) -> dict[str, object]:
    text = read_text(data_dir / _STATE_FILE)
    if not text:
        return {}
    try:
        state = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(data_dir: Path, state: Mapping[str, object]) -> None:
    (data_dir / _STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def _clear_state(data_dir: Path) -> None:
    for name in (_PID_FILE, _STATE_FILE):
        (data_dir / name).unlink(missing_ok=True)


def _log_tail(log_path: Path) -> str:
    """The launcher's own error lines, else the last lines of Neo4j's debug.log, on one line."""
    own = _nonblank_lines(log_path)
    errors = [line for line in own if line.startswith("neo4j-local:")]
    debug_log = log_path.parent / "debug.log"
    if errors:
        tail, source = errors[-LOG_TAIL_LINES:], log_path
    elif debug_lines := [line for line in _nonblank_lines(debug_log) if line[:1].isdigit()]:
        tail, source = debug_lines[-LOG_TAIL_LINES:], debug_log
    else:
        tail, source = own[-LOG_TAIL_LINES:], log_path
    text = " | ".join(tail) if tail else "(log is empty)"
    return f"{truncate(text)} (log: {source})"


def _nonblank_lines(path: Path) -> list[str]:
    return [line.strip() for line in read_text(path).splitlines() if line.strip()]
