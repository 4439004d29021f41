"""A PRISM server in a subprocess (uvicorn, one process), its CPU time, and stopping it by PID."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

__all__ = ["ServerProcess", "free_port"]

SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"  # noqa: S105 - signs tokens of a throwaway server
STOP_GRACE_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UNLIMITED = "1000000000/minute"
"""Rate limits the benchmark cannot reach: the limiter still runs on every request, it never refuses one."""


def _environment(database_url: str, home: Path, baseline: bool, extra: dict[str, str]) -> dict[str, str]:
    # Self-contained: no Redis (in-process stores), no admin URL, no tracing, none of the caller's PRISM_* settings.
    inherited = ("PRISM_", "OTEL_", "DATABASE_", "REDIS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update(
        {
            "DATABASE_URL": database_url,
            "PRISM_AUTO_MIGRATE": "false",
            "PRISM_LOG_LEVEL": "WARNING",
            "PRISM_HOME": str(home),
            "PRISM_SECRET_KEY": SECRET_KEY,
            "PRISM_ENVIRONMENT": "development",
            "PRISM_PERF_BASELINE": "true" if baseline else "false",
            "PRISM_RATE_LIMIT_PER_IDENTITY": UNLIMITED,
            "PRISM_RATE_LIMIT_PER_IP": UNLIMITED,
            "PRISM_RATE_LIMIT_ANONYMOUS_PER_IP": UNLIMITED,
            "PRISM_QUERY_COST_BUDGET_PER_MINUTE": str(10**15),
            # The fan-out benchmark subscribes one identity many times: it measures delivery, not the limit.
            "PRISM_WS_MAX_SUBSCRIPTIONS_PER_IDENTITY": str(10**6),
            "OTEL_SDK_DISABLED": "true",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
    )
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """`python -m uvicorn prism.main:app` on a free port of 127.0.0.1, with its output in `home/server.log`."""

    database_url: str
    home: Path
    baseline: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    """Settings beyond the self-contained defaults (the fan-out benchmark's REDIS_URL for two replicas)."""
    uvicorn_options: tuple[str, ...] = ()
    """Options added to uvicorn's command line (the fan-out benchmark's `--ws` implementation)."""
    app: str = "prism.main:app"
    """The ASGI app uvicorn serves (the fan-out benchmark's `bench.collected_app:app`)."""
    port: int = field(default_factory=free_port)
    readiness_checks: int = 0
    """How many /readyz requests reached the app (each one is a database transaction)."""
    _process: subprocess.Popen[bytes] | None = None
    _log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not running"
        return self._process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until /readyz says the database is reachable."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._log_path = self.home / f"server-{self.port}.log"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    self.app,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    # As `prism serve` runs it (prism/cli.py server_options).
                    "--no-server-header",
                    "--no-proxy-headers",
                    "--ws-per-message-deflate",
                    "false",
                    "--http",
                    "prism.web.http_protocol:HttpProtocol",
                    # A client that finished its warm-up waits for the others; its connection must outlive uvicorn's
                    # default 5 s keep-alive, or its next request races the server closing it.
                    "--timeout-keep-alive",
                    "300",
                    *self.uvicorn_options,
                ],
                env=_environment(self.database_url, self.home, self.baseline, self.environment),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self._process.returncode}:\n{self.log_tail()}")
                try:
                    response = client.get("/readyz")
                    self.readiness_checks += 1
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        """The server's resident memory."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully, closing its connections), then SIGKILL after a grace period."""
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
        """The end of the server's output, for error messages."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
