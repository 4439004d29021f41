"""The `prism` command's own behaviour: its version, what it says about the database, and its refusals."""

import asyncio
import re
from importlib.metadata import version
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result

from prism.cli import main
from prism.db import migrate

OPERATIONS_GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()


def _shown(pattern: str) -> str:
    """What docs/operations.md shows a command printing."""
    found = re.search(pattern, OPERATIONS_GUIDE)
    assert found, f"docs/operations.md no longer shows {pattern!r}"
    return found[1]


def test_prism_version_prints_the_installed_version_as_the_operations_guide_shows() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"prism {version('prism')}\n"
    assert result.output == _shown(r"\(`(prism [\d.]+)`\)") + "\n"


def prism(*arguments: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(arguments), input=input)


SCRIPTS = ScriptDirectory.from_config(migrate.alembic_config("postgresql://unused/unused"))
HEAD = SCRIPTS.get_current_head()
MIGRATIONS = list(reversed(list(SCRIPTS.walk_revisions())))
"""Every migration this PRISM ships, oldest first (the tests hold no revision number that a new migration changes)."""


def after(revision: str | None) -> list[str]:
    """The lines `prism db current` lists for the migrations after `revision`."""
    index = 0 if revision is None else [m.revision for m in MIGRATIONS].index(revision) + 1
    return [f"  {migration.revision}  {migration.doc}" for migration in MIGRATIONS[index:]]


def test_db_current_lists_the_migrations_a_database_behind_head_still_needs(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_ADMIN_URL", empty_database)
    migrate.upgrade(empty_database, "0003")

    result = prism("db", "current")

    assert result.exit_code == 0, result.output
    pending = after("0003")
    assert result.output.splitlines() == [
        f"database at 0003, {len(pending)} migrations behind head {HEAD}:",
        *pending,
        "run `prism db upgrade` to apply them",
    ]
    assert pending[0].startswith("  0004  row-level security on every tenant table")


def test_db_current_says_an_empty_database_has_every_migration_pending(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_ADMIN_URL", empty_database)

    result = prism("db", "current")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        f"database at base (no migration applied), {len(MIGRATIONS)} migrations behind head {HEAD}:",
        "  0001  create the product-management model",
    ]


def test_db_current_says_a_database_at_head_is_up_to_date(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_ADMIN_URL", database_url)

    result = prism("db", "current")

    assert result.exit_code == 0, result.output
    assert result.output == f"database at {HEAD} (head): up to date\n"
    assert result.output == _shown(r"`(database at \w+ \(head\): up to date)`") + "\n"
    assert prism("db", "current", "--check").exit_code == 0


def test_db_current_check_fails_when_migrations_are_pending_so_a_deploy_script_can_stop(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_ADMIN_URL", empty_database)
    one_before = MIGRATIONS[-2].revision
    migrate.upgrade(empty_database, one_before)

    result = prism("db", "current", "--check")

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"database at {one_before}, 1 migration behind head {HEAD}:",
        *after(one_before),
        "run `prism db upgrade` to apply it",
    ]


def test_db_current_says_when_a_newer_prism_migrated_the_database(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_ADMIN_URL", empty_database)
    migrate.upgrade(empty_database)

    async def jump_ahead() -> None:
        conn = await asyncpg.connect(empty_database)
        try:
            await conn.execute("UPDATE alembic_version SET version_num = 'f999'")
        finally:
            await conn.close()

    asyncio.run(jump_ahead())

    result = prism("db", "current", "--check")

    assert result.exit_code == 1
    assert result.output == (
        f"database at f999, a revision this PRISM does not know (head is {HEAD}): a newer PRISM migrated it; "
        f"run that version, or its `prism db downgrade {HEAD}`\n"
    )


def test_seed_demo_refuses_production_because_the_demo_password_is_published(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRISM_ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_ADMIN_URL", empty_database)

    result = prism("seed", "--demo")

    assert result.exit_code == 1
    assert result.output == (
        "Error: PRISM_ENVIRONMENT is production and the demo accounts share a published password "
        "(prism-demo-password): anyone could sign in as their owner; pass --force to seed them anyway.\n"
    )
    assert migrate.current_revision(empty_database) is None, "nothing was touched"


def test_seed_demo_force_seeds_production_with_a_warning(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_ADMIN_URL", empty_database)

    result = prism("seed", "--demo", "--force")

    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Warning: seeding the demo organization in production (--force)")
    assert result.stdout.startswith("Demo organization created:")
