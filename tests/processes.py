"""Real processes for tests over real sockets: `prism serve` and a private `redis-server`, each on a free port of
127.0.0.1, each stopped by its PID (SIGTERM, then SIGKILL after a grace period), whatever the test did."""

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from prism.config import Settings

__all__ = [
    "RedisProcess",
    "ServerProcess",
    "free_port",
    "npm_installed",
    "running_redis",
    "running_servers",
    "server_environment",
    "unavailable",
]

STOP_GRACE_SECONDS = 10.0
START_TIMEOUT_SECONDS = 60.0
UNLIMITED = "1000000000/minute"
REQUIRE_SERVICES = os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1"


def unavailable(message: str) -> None:
    """Skip a test whose outside tool is missing, or fail it where every service is required (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (PRISM_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def npm_installed(directory: Path, files: tuple[str, ...], name: str) -> Path:
    """A copy of `files` from `directory` with the node_modules `npm ci` installed from its lockfile, once per content
    (kept in the temporary directory, keyed by the files' digest); `unavailable` without Node.js or npm."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        unavailable(f"Node.js and npm are needed for {directory.name}'s {name}")
    assert npm is not None
    digest = hashlib.sha256(b"".join((directory / file).read_bytes() for file in files)).hexdigest()
    installed = Path(tempfile.gettempdir()) / f"prism-{name}-{digest[:16]}"
    if not (installed / "node_modules" / ".package-lock.json").exists():
        staging = Path(tempfile.mkdtemp(prefix=f"prism-{name}-"))
        for file in files:
            shutil.copy(directory / file, staging / file)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            unavailable(f"npm ci could not install tests/{directory.name}'s dependencies:\n{done.stderr[-2000:]}")
        try:
            staging.rename(installed)
        except OSError:  # another run installed it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return installed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes] | None, sig: signal.Signals = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_GRACE_SECONDS)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def server_environment(settings: Settings, redis_url: str | None, home: Path, **overrides: str) -> dict[str, str]:
    """The environment of a `prism serve` on the test database (as the test app's login role), with its secret key
    (so the suite's tokens are valid there) and `redis_url` (None: in-process stores and broker); none of the
    caller's PRISM_*, DATABASE_* or REDIS_*."""
    inherited = ("PRISM_", "OTEL_", "DATABASE_", "REDIS_")
    environment = {name: value for name, value in os.environ.items() if not name.startswith(inherited)}
    assert settings.database_url is not None
    assert settings.secret_key is not None
    environment.update(
        {
            "DATABASE_URL": settings.database_url,
            "PRISM_HOME": str(home),
            "PRISM_SECRET_KEY": settings.secret_key.get_secret_value(),
            "PRISM_ENVIRONMENT": "test",
            "PRISM_AUTO_MIGRATE": "false",
            "PRISM_LOG_FORMAT": "console",
            "PRISM_LOG_LEVEL": "WARNING",
            "PRISM_SHUTDOWN_GRACE_SECONDS": "2",
            "PRISM_RATE_LIMIT_PER_IDENTITY": UNLIMITED,
            "PRISM_RATE_LIMIT_PER_IP": UNLIMITED,
            "PRISM_RATE_LIMIT_ANONYMOUS_PER_IP": UNLIMITED,
            "OTEL_SDK_DISABLED": "true",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
    )
    if redis_url is not None:
        environment["REDIS_URL"] = redis_url
    environment.update(overrides)
    return environment


@dataclass
class ServerProcess:
    """`prism serve` on a free port, its output in `log_path`."""

    environment: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def launch(self) -> None:
        command = Path(sys.executable).with_name("prism")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(command), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self) -> None:
        """Until /readyz answers 200 (database and Redis reachable, the lifespan done); fails with the server's log."""
        assert self.process is not None
        try:
            async with (
                asyncio.timeout(START_TIMEOUT_SECONDS),
                httpx.AsyncClient(base_url=self.url, timeout=5) as client,
            ):
                while True:
                    if self.process.poll() is not None:
                        raise AssertionError(f"prism serve exited with {self.process.returncode}:\n{self.log_tail()}")
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(
                f"prism serve was not ready within {START_TIMEOUT_SECONDS:.0f} s:\n{self.log_tail()}"
            ) from None

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL after a grace period."""
        _stop(self.process)

    def log_tail(self) -> str:
        return _tail(self.log_path)


@asynccontextmanager
async def running_servers(
    count: int, environment: dict[str, str], directory: Path
) -> AsyncIterator[list[ServerProcess]]:
    """`count` servers started together, ready when yielded, stopped by PID afterwards whatever happened."""
    servers = [ServerProcess(environment, directory / f"server-{i}.log") for i in range(count)]
    try:
        for server in servers:
            server.launch()
        async with asyncio.TaskGroup() as starting:  # one failing cancels the others' waits
            for server in servers:
                starting.create_task(server.wait_ready())
        yield servers
    finally:
        await asyncio.gather(*(asyncio.to_thread(server.stop) for server in servers))


def _spawn_worker(environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        command = [str(Path(sys.executable).with_name("prism")), "worker"]
        return subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)


@asynccontextmanager
async def running_worker(environment: dict[str, str], directory: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`prism worker` (jobs, the event relay among them), registered with the queue when yielded (so a test that then
    stops Redis or the database does not race its start-up checks), stopped by PID afterwards whatever happened."""
    database = environment["DATABASE_URL"].replace("+asyncpg", "")
    conn = await asyncpg.connect(database)
    try:
        registered = await conn.fetchval("SELECT coalesce(max(id), 0) FROM procrastinate_workers")
    finally:
        await conn.close()
    log_path = directory / "worker.log"
    process = _spawn_worker(environment, log_path)
    try:
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"prism worker exited with {process.returncode}:\n{_tail(log_path)}")
                conn = await asyncpg.connect(database)
                try:
                    if await conn.fetchval("SELECT count(*) FROM procrastinate_workers WHERE id > $1", registered):
                        break
                finally:
                    await conn.close()
                await asyncio.sleep(0.1)
        yield process
    finally:
        await asyncio.to_thread(_stop, process)


def redis_server_binary() -> str | None:
    """`redis-server` on the PATH (or /usr/bin); None when absent: the test skips, or fails when services are
    required (PRISM_TEST_REQUIRE_SERVICES=1)."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        message = "redis-server is needed to restart a Redis of the test's own"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} (PRISM_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    return found


@dataclass
class RedisProcess:
    """A private, memory-only `redis-server` on a free port, which a test may stop and start again on that port."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _launch(self) -> Path:
        binary = redis_server_binary()
        assert binary is not None
        log_path = self.directory / f"redis-{self.port}.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return log_path

    async def start(self) -> None:
        """Start it on its port (again, after `kill()`); returns once it answers PING."""
        log_path = self._launch()
        assert self.process is not None
        try:
            async with asyncio.timeout(START_TIMEOUT_SECONDS):
                while not await self._answers():
                    if self.process.poll() is not None:
                        raise AssertionError(f"redis-server exited with {self.process.returncode}:\n{_tail(log_path)}")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"redis-server did not answer within {START_TIMEOUT_SECONDS:.0f} s") from None

    async def _answers(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return (await reader.readline()).startswith(b"+PONG")
        except OSError:
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL by PID): connections drop, and nothing it held survives (nothing is saved)."""
        _stop(self.process, signal.SIGKILL)
        self.process = None

    def stop(self) -> None:
        _stop(self.process)
        self.process = None


@asynccontextmanager
async def running_redis(directory: Path) -> AsyncIterator[RedisProcess]:
    """A private Redis for the block, stopped by PID afterwards (also when the test stopped and restarted it)."""
    redis = RedisProcess(directory)
    try:
        await redis.start()
        yield redis
    finally:
        redis.stop()
