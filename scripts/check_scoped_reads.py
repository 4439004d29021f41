"""Lint: every SELECT a loader builds must start from `loaders.scope.scoped`, the one door to tenant data.

A bare `select(...)` in loaders/ is allowed only on a line marked `# unscoped: <reason>` (for example the viewer's
own memberships across organizations). Run by `make lint`.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_FILES = {"scope.py"}


def violations(path: Path) -> list[str]:
    """Lines of `path` that call select() without the scope helper or an explanation."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name != "select":
            continue
        if "# unscoped:" in lines[node.lineno - 1]:
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: select() outside loaders.scope.scoped")
    return found


def main() -> int:
    problems = [
        problem
        for path in sorted((ROOT / "loaders").glob("*.py"))
        if path.name not in ALLOWED_FILES
        for problem in violations(path)
    ]
    for problem in problems:
        print(problem)
    if problems:
        print("Start tenant reads with loaders.scope.scoped(...), or mark the line `# unscoped: <reason>`.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
