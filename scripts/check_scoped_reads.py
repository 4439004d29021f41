"""Lint: every select starts from the tenant seam, `prism.db.tenancy` (`tenant_select`, `user_select`).

Checked: every module of loaders/, resolvers/ and prism/ (services, auth, web, the seed and any package added later),
except the seam itself and the migrations. A `select(...)` call (`sa.select`, `sqlmodel.select`, `table.select`)
there fails, and so does SQL in `text(...)` or `exec_driver_sql(...)` that reads (a literal starting with SELECT or
WITH, or SQL built at run time), unless its first line carries `# unscoped: <reason>`: a select that reads no table
(an advisory lock), that
reads only selects built by the seam (a subquery, a CTE), or that crosses the seam on purpose (the viewer's own
memberships across organizations, the SECURITY DEFINER look-ups of sign-in). Run by `make lint`;
`--list-unscoped` prints the marked lines for review.
"""

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("loaders", "resolvers", "prism")
SEAM = ROOT / "prism" / "db" / "tenancy.py"
EXEMPT_DIRECTORIES = (ROOT / "prism" / "db" / "migrations",)
MARK = re.compile(r"#\s*unscoped:\s*\S")
READING_SQL = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)


def checked_files() -> list[Path]:
    """The modules the seam applies to."""
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path != SEAM and not any(path.is_relative_to(directory) for directory in EXEMPT_DIRECTORIES)
    )


def _name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _reads(call: ast.Call) -> bool:
    """Whether a call builds a statement that reads rows: a select, or textual SQL that may be one."""
    name = _name(call)
    if name == "select":
        return True
    if name not in ("text", "exec_driver_sql") or not call.args:
        return False
    sql = call.args[0]
    if isinstance(sql, ast.Constant) and isinstance(sql.value, str):
        return READING_SQL.match(sql.value) is not None
    return True


def _reading_calls(path: Path) -> Iterator[tuple[int, str]]:
    source = path.read_text()
    lines = source.splitlines()
    calls = [node for node in ast.walk(ast.parse(source, filename=str(path))) if isinstance(node, ast.Call)]
    for lineno in sorted(call.lineno for call in calls if _reads(call)):
        yield lineno, lines[lineno - 1]


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def violations(path: Path) -> list[str]:
    """Lines of `path` that build a select outside the seam without `# unscoped: <reason>`."""
    return [
        f"{_shown(path)}:{lineno}: select outside prism.db.tenancy"
        for lineno, line in _reading_calls(path)
        if not MARK.search(line)
    ]


def unscoped(path: Path) -> list[str]:
    """Lines of `path` marked `# unscoped: <reason>`, for review."""
    return [f"{_shown(path)}:{lineno}: {line.strip()}" for lineno, line in _reading_calls(path) if MARK.search(line)]


def main(argv: list[str]) -> int:
    files = checked_files()
    if "--list-unscoped" in argv:
        for path in files:
            for line in unscoped(path):
                print(line)
        return 0
    problems = [problem for path in files for problem in violations(path)]
    for problem in problems:
        print(problem)
    if problems:
        print(
            "Start reads with prism.db.tenancy.tenant_select(...) or user_select(...), "
            "or mark the line `# unscoped: <reason>`."
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
