"""Real server processes for the tests (Airflow components, PostgreSQL): free ports, process groups, HTTP waits.

Each process starts in a session of its own with a marker in its environment: stopping it signals its
whole process group (every child it started), and `marked` still finds a child that left the group,
so a test can assert that nothing it started is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MARKER = "COSELL_TEST_PROCESS"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_side_ports() -> dict[str, str]:
    """Free ports for the servers an Airflow scheduler and triggerer start beside the API server (logs,
    health check), so two tests' Airflows (pytest-xdist workers) never meet on the defaults 8793/8794/8974."""
    return {
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
    }


def new_marker() -> str:
    return uuid.uuid4().hex


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[2])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    return [pid for pid in _pids() if (stat := _stat(pid)) and stat[1] == pgid and stat[0] not in ("Z", "X")]


def marked(marker: str) -> list[int]:
    """Live processes whose environment carries the marker (wherever they went)."""
    needle = f"{MARKER}={marker}\0".encode()
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ and _alive(pid):
            found.append(pid)
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def cmdline_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_marked(marker: str) -> list[int]:
    """SIGKILL what still carries the marker; returns those pids (a clean stop leaves none)."""
    left = marked(marker)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


@dataclass
class Started:
    name: str
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start(name: str, command: list[str], *, env: dict[str, str], cwd: Path, logs: Path, marker: str) -> Started:
    """Start a process in a new session (its own process group), output to <logs>/<name>.log."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, env={**env, MARKER: marker}, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    return Started(name, process, log)


def _gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        time.sleep(0.2)
    return not group_members(pgid)


def stop(started: Started, grace: float = 20.0) -> str:
    """Stop the whole process group: SIGINT (Ctrl-C in a terminal), then SIGTERM, then SIGKILL.

    Returns the signal that ended the last member ("SIGINT" for a clean stop). Under load, `airflow standalone`
    does not always end on Ctrl-C: its LocalExecutor's idle workers ignore SIGINT and the scheduler waits for them.
    """
    pgid = started.process.pid
    ended = "SIGINT"
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        ended = sig.name
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        if _gone(pgid, wait):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        started.process.wait(timeout=5)
    return ended


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_post_json(url: str, payload: dict, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(what: str, check: Callable[[], object], timeout: float, alive: Callable[[], bool] | None = None,
               why: Callable[[], str] | None = None, every: float = 0.5):
    """Poll `check` until it returns something truthy (returned); fail naming `what` on timeout or a dead process."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError, ValueError):
            result = None
        if result:
            return result
        if alive is not None and not alive():
            raise AssertionError(f"{what}: the process ended first\n{why() if why else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{why() if why else ''}")
        time.sleep(every)


def wait_for_http(url: str, timeout: float, alive: Callable[[], bool] | None = None,
                  why: Callable[[], str] | None = None) -> bytes:
    """The body of the first 200 answer of GET url."""
    def answered() -> bytes | None:
        status, body = http_get(url, timeout=5)
        return body if status == 200 else None

    return wait_until(f"GET {url} answering 200", answered, timeout, alive, why)


# --------------------------------------------------------------------------- PostgreSQL

def _postgres_bin() -> Path:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").exists():
            return folder
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise AssertionError("PostgreSQL server programs (initdb, pg_ctl) are missing: run scripts/ensure-postgresql "
                         "(Debian's postgresql package)")


def _server_user() -> str | None:
    """initdb and the server refuse to run as root: as root, they run as Debian's `postgres` user (else nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise AssertionError("running as root and there is neither a postgres nor a nobody user for PostgreSQL")


@contextlib.contextmanager
def postgres(marker: str, database: str = "airflow") -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (a free port, trust auth, no fsync); yields its SQLAlchemy URL.

    The cluster lives in a fresh folder under the system temp folder (the server's user must reach it) and is
    stopped and removed on exit.
    """
    binaries = _postgres_bin()
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="cosell-pg-"))
    data = root / "data"
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", MARKER: marker}
    as_user = {}
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def run(*command: str) -> None:
        process = subprocess.run([str(binaries / command[0]), *command[1:]], env=env, cwd=str(root),
                                 capture_output=True, text=True, check=False, **as_user)
        if process.returncode != 0:
            raise AssertionError(f"{command[0]} failed: {(process.stderr or process.stdout)[-2000:]}")

    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
               f"-c full_page_writes=off -c max_connections=100")
    try:
        run("initdb", "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync")
        run("pg_ctl", "start", "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "-o", options)
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", database)
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/{database}"
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError):
                run("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w", "-t", "30")
        shutil.rmtree(root, ignore_errors=True)
