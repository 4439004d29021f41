"""Apply, revert and inspect Alembic migrations programmatically (used by the CLI, the app and the tests)."""

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy.engine import Connection

from prism.db.engine import build_engine

__all__ = [
    "OPTIONAL_INDEXES",
    "QUEUE_TABLE_PREFIX",
    "Migration",
    "MigrationStatus",
    "alembic_config",
    "current_revision",
    "downgrade",
    "include_object",
    "status",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

OPTIONAL_INDEXES = frozenset({"ix_requirement_title_trgm", "ix_requirement_description_trgm", "ix_product_name_trgm"})
"""Indexes that exist only where the server offers an extension (migration 0006), not declared on the models."""


QUEUE_TABLE_PREFIX = "procrastinate_"
"""The job queue's tables (migration 0017) are procrastinate's schema, not models of PRISM's."""


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """What autogenerate compares with the models: everything but the optional indexes and the job queue's tables."""
    if type_ == "table" and name is not None and name.startswith(QUEUE_TABLE_PREFIX):
        return False
    return not (type_ == "index" and name in OPTIONAL_INDEXES)


_ALEMBIC = threading.Lock()
"""Alembic installs its `context` and `op` proxies process-wide, so two commands running at once in one process
(threads) would remove each other's. Within a process they take turns here; across processes, see env.py."""


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at PRISM's migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database up to `revision` (blocking; run it in a thread from async code)."""
    with _ALEMBIC:
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    """Revert the database to `revision`."""
    with _ALEMBIC:
        command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None when no migration has run."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def run() -> str | None:
        engine = build_engine(url, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@dataclass(frozen=True)
class Migration:
    """One migration script: its revision and the first line of its docstring."""

    revision: str
    title: str


@dataclass(frozen=True)
class MigrationStatus:
    """Where a database stands against the migrations this PRISM ships."""

    current: str | None
    head: str
    pending: list[Migration]
    known: bool
    """False when the database is at a revision these scripts do not contain (a newer PRISM migrated it)."""

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def status(url: str) -> MigrationStatus:
    """The database's revision, this code's head, and the migrations between them, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    assert head is not None, "PRISM ships at least one migration"
    current = current_revision(url)
    try:
        between = list(scripts.iterate_revisions(head, current or "base"))
    except RevisionError:
        return MigrationStatus(current=current, head=head, pending=[], known=False)
    pending = [Migration(script.revision, script.doc) for script in reversed(between) if script.revision != current]
    return MigrationStatus(current=current, head=head, pending=pending, known=True)
