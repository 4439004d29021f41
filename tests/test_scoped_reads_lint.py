"""The tenant seam is enforced: `scripts/check_scoped_reads.py` (run by `make lint`) rejects a select that bypasses
`prism.db.tenancy`, and the tree as it stands has none."""

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_scoped_reads", ROOT / "scripts" / "check_scoped_reads.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "reads.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_a_bare_select_is_reported_with_its_line(lint: ModuleType, tmp_path: Path) -> None:
    path = _module(
        tmp_path,
        """
        import sqlalchemy as sa
        from sqlmodel import select

        from prism.db.tables import Requirement

        core = sa.select(Requirement.__table__).where(Requirement.__table__.c.organization_id == None)
        orm = select(Requirement)
        """,
    )

    problems = lint.violations(path)

    assert [problem.split(": ")[0] for problem in problems] == [f"{path}:7", f"{path}:8"]


def test_a_select_marked_with_a_reason_passes_and_one_without_a_reason_does_not(
    lint: ModuleType, tmp_path: Path
) -> None:
    path = _module(
        tmp_path,
        """
        import sqlalchemy as sa

        lock = sa.select(sa.func.pg_advisory_xact_lock(1))  # unscoped: an advisory lock, reads no table
        lazy = sa.select(sa.func.now())  # unscoped:
        """,
    )

    assert [problem.split(": ")[0] for problem in lint.violations(path)] == [f"{path}:5"]


def test_textual_sql_that_reads_is_reported_and_other_sql_is_not(lint: ModuleType, tmp_path: Path) -> None:
    path = _module(
        tmp_path,
        """
        import sqlalchemy as sa

        read = sa.text("select * from requirement")
        built = sa.text(" ".join(["SELECT", "1"]))
        recursive = sa.text("WITH t AS (SELECT 1) SELECT * FROM t")
        ddl = sa.text("CREATE ROLE someone")
        """,
    )

    assert [problem.split(": ")[0] for problem in lint.violations(path)] == [f"{path}:4", f"{path}:5", f"{path}:6"]


def test_every_package_that_reads_is_checked_except_the_seam_and_the_migrations(lint: ModuleType) -> None:
    checked = {path.relative_to(ROOT).as_posix() for path in lint.checked_files()}

    for module in (
        "loaders/rows.py",
        "resolvers/requirements.py",
        "prism/services/requirements.py",
        "prism/services/validation.py",
        "prism/auth/access.py",
        "prism/web/sso.py",
        "prism/seed/demo.py",
        "prism/seed/writer.py",
        "prism/db/lookups.py",
    ):
        assert module in checked
    assert "prism/db/tenancy.py" not in checked
    assert not any(path.startswith("prism/db/migrations/") for path in checked)


def test_no_select_in_the_tree_bypasses_the_seam(lint: ModuleType) -> None:
    problems = [problem for path in lint.checked_files() for problem in lint.violations(path)]

    assert problems == []


def test_driver_sql_that_reads_is_checked_like_text(lint: ModuleType, tmp_path: Path) -> None:
    path = _module(
        tmp_path,
        """
        async def read(conn, statement):
            await conn.exec_driver_sql("SELECT id FROM requirement")
            await conn.exec_driver_sql(statement)
            await conn.exec_driver_sql(statement)  # unscoped: sets the scope, reads no table
            await conn.exec_driver_sql("UPDATE api_key SET last_used_at = now()")
        """,
    )

    problems = lint.violations(path)

    assert [problem.split(": ")[0] for problem in problems] == [f"{path}:3", f"{path}:4"]
