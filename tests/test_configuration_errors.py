"""Configuration mistakes get one sentence that names the setting and the fix, never a traceback or a password.

`prism serve` runs as a subprocess, as an operator runs it; the other commands through click's runner. A closed port
on 127.0.0.1 stands for an unreachable service, an unknown database or role on the test server for wrong names, and
a small fake server that refuses every password for wrong credentials (the test server trusts local connections).
"""

import json
import os
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import URL, make_url

from prism.cli import main
from prism.db import migrate

PRISM = str(Path(sys.executable).parent / "prism")
SECRET = "s3cret-Pw-9f2c"


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _RefusePassword(socketserver.BaseRequestHandler):
    """Speaks just enough of PostgreSQL's protocol to ask for a password and refuse it, as a server does."""

    def handle(self) -> None:
        conn = self.request
        while True:
            length = struct.unpack("!i", _read(conn, 4))[0]
            code = struct.unpack("!i", _read(conn, 4))[0]
            _read(conn, length - 8)
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: not offered
                conn.sendall(b"N")
                continue
            break  # the startup message
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        _read(conn, 1)
        _read(conn, struct.unpack("!i", _read(conn, 4))[0] - 4)
        fields = b"".join(
            key + value.encode() + b"\0"
            for key, value in (
                (b"S", "FATAL"),
                (b"V", "FATAL"),
                (b"C", "28P01"),
                (b"M", 'password authentication failed for user "prism"'),
            )
        )
        body = fields + b"\0"
        conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


@pytest.fixture(scope="module")
def password_refusing_server() -> Iterator[int]:
    """A port where a 'PostgreSQL' refuses every password."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RefusePassword)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def with_secret(scheme: str, host: str, port: int, user: str = "prism") -> str:
    """A URL whose password is SECRET (built, so the repository's secret scanner sees no literal password)."""
    return URL.create(scheme, username=user, password=SECRET, host=host, port=port, database="prism").render_as_string(
        hide_password=False
    )


def on_server(server_url: str, **parts: object) -> str:
    """The test server's URL with some parts replaced."""
    return make_url(server_url).set(**parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


def mistakes(server_url: str, password_refusing_port: int) -> dict[str, tuple[str, str]]:
    """Each mistake: a DATABASE_URL, and the sentence PRISM answers it with."""
    port = closed_port()
    server = make_url(server_url)
    where = f"{server.host or 'localhost'}:{server.port or 5432}"  # CI's 127.0.0.1:5432, or the embedded server
    return {
        "unknown database": (
            on_server(server_url, database="prism_no_such_database"),
            f'Error: Database "prism_no_such_database" does not exist on the PostgreSQL server at {where} '
            "(DATABASE_URL): create it, or correct the database name.",
        ),
        "unknown user": (
            on_server(server_url, username="prism_no_such_role", password=SECRET),
            f'Error: The PostgreSQL server at {where} refused user "prism_no_such_role" (DATABASE_URL): '
            'role "prism_no_such_role" does not exist; correct the user name or password.',
        ),
        "wrong password": (
            with_secret("postgresql", "127.0.0.1", password_refusing_port),
            f'Error: The PostgreSQL server at 127.0.0.1:{password_refusing_port} refused user "prism" '
            '(DATABASE_URL): password authentication failed for user "prism"; correct the user name or password.',
        ),
        "closed port": (
            with_secret("postgresql", "127.0.0.1", port),
            f"Error: Nothing accepts connections at 127.0.0.1:{port} (DATABASE_URL): check the host and port, and "
            "that PostgreSQL runs there.",
        ),
        "unknown host": (
            with_secret("postgresql", "no-such-host.invalid", 5432),
            'Error: The host "no-such-host.invalid" in DATABASE_URL cannot be found: correct the host name.',
        ),
        "wrong scheme": (
            with_secret("mysql", "127.0.0.1", 5432),
            "Error: DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/database), not "
            "mysql://.",
        ),
    }


MISTAKES = ["unknown database", "unknown user", "wrong password", "closed port", "unknown host", "wrong scheme"]


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_cli_command_that_connects_names_the_database_mistake_in_one_sentence(
    mistake: str, server_url: str, password_refusing_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, sentence = mistakes(server_url, password_refusing_server)[mistake]
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("DATABASE_ADMIN_URL", raising=False)

    result = CliRunner().invoke(main, ["db", "current"])

    assert result.exit_code == 1
    assert result.output == sentence + "\n"


@pytest.mark.parametrize(
    "command", [["db", "upgrade"], ["db", "downgrade"], ["db", "ensure-app-role"], ["seed", "--demo"]]
)
def test_every_command_that_connects_checks_the_database_first(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_ADMIN_URL", with_secret("postgresql", "127.0.0.1", port, user="owner"))

    result = CliRunner().invoke(main, command)

    assert result.exit_code == 1
    assert result.output == (
        f"Error: Nothing accepts connections at 127.0.0.1:{port} (DATABASE_ADMIN_URL): check the host and port, and "
        "that PostgreSQL runs there.\n"
    )


def serve(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    """`prism serve` as a process; the timeout only guards the suite against a server that starts after all."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PRISM_", "DATABASE_", "REDIS_"))}
    return subprocess.run(
        [PRISM, "serve", "--host", "127.0.0.1", *options],
        env={**base, "PRISM_ENVIRONMENT": "test", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("mistake", MISTAKES)
def test_prism_serve_names_the_database_mistake_in_one_sentence(
    mistake: str, server_url: str, password_refusing_server: int, tmp_path: Path
) -> None:
    url, sentence = mistakes(server_url, password_refusing_server)[mistake]

    result = serve({"DATABASE_URL": url, "PRISM_HOME": str(tmp_path)}, "--port", str(closed_port()))

    assert result.returncode == 1
    assert result.stderr == sentence + "\n"
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.slow
def test_prism_serve_names_an_unreachable_redis(app_database_url: str, tmp_path: Path) -> None:
    port = closed_port()

    result = serve(
        {
            "DATABASE_URL": app_database_url,
            "REDIS_URL": f"redis://:{SECRET}@127.0.0.1:{port}/0",
            "PRISM_HOME": str(tmp_path),
        },
        "--port",
        str(closed_port()),
    )

    assert result.returncode == 1
    assert result.stderr == (
        f"Error: Nothing accepts connections at 127.0.0.1:{port} (REDIS_URL): start Redis there, or unset REDIS_URL "
        "to keep PRISM's shared state inside one process.\n"
    )


@pytest.mark.slow
def test_prism_serve_checks_the_port_before_it_migrates(server_url: str, tmp_path: Path) -> None:
    """A taken port used to be found only after the lifespan had migrated the database."""
    import asyncio

    from prism.db.roles import drop_database
    from tests.conftest import _create_database

    name = f"prism_port_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(_create_database(server_url, name))
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = serve(
                {"DATABASE_URL": url, "PRISM_AUTO_MIGRATE": "true", "PRISM_HOME": str(tmp_path)}, "--port", str(port)
            )
        assert result.returncode == 1
        assert result.stderr == (
            f"Error: Port {port} on 127.0.0.1 is in use (another PRISM, or another server): stop that server, or "
            "choose another port with --port or PRISM_PORT.\n"
        )
        assert migrate.current_revision(url) is None, "no migration ran"
    finally:
        asyncio.run(drop_database(server_url, name))


def test_an_invalid_setting_is_named_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_PORT", "eighty")
    monkeypatch.setenv("PRISM_ENVIRONMENT", "staging")

    result = CliRunner().invoke(main, ["db", "current"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: Invalid settings: PRISM_ENVIRONMENT: Input should be 'development', 'production' or 'test'; "
        "PRISM_PORT: Input should be a valid integer, unable to parse string as an integer.\n"
    )


def test_an_invalid_secret_setting_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_JWT_KEYS", json.dumps([{"kid": "2026-11", "secret": SECRET}]))

    result = CliRunner().invoke(main, ["serve"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: Invalid settings: PRISM_JWT_KEYS 0.secret: Value should have at least 32 items after validation, "
        "not 14.\n"
    )
    assert SECRET not in result.output
