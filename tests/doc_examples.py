"""The examples of README.md and docs/*.md, read as fenced code blocks with an explicit convention.

Every fenced block is an example a test runs or checks, chosen by its info string (what follows the opening fence):

- ```graphql: an operation is validated against the live schema, then run after the file's shell session as its
  signed-in user, its elided ids (`"UHJvZHVjdDo..."`, `Product:` in base64) and `"<product id>"` replaced by the
  session's own objects and a `DateTime` variable an hour ago, unless it sends a `version`, needs another variable
  or names a type the session has none of;
  type definitions (SDL) are compared field by field with `schema.graphql`.
- ```sh holding `curl`: a session, run in one bash per file (blocks in document order, so variables carry over)
  against the test app served on a loopback port. A comment line right after a command that starts with `# [` or
  `# {` is the output it shows, compared with what it printed (`...` ends a string that is compared by its start,
  `{...}` stands for any value).
- ```sh without `curl`: commands, each checked against what exists (`prism` subcommands and their options, make
  targets, compose files and services, the benchmark's options, environment variables).
- anything else (```json, ```text, untagged) needs a marker.

A marker is an HTML comment on the line before the fence: `<!-- docs-test: skip <why> -->` for a block that is
deliberately illustrative (counted, so skipping stays visible), or `<!-- docs-test: check <name> -->` for a block a
named checker in tests/test_docs.py compares with the running code.
"""

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^`\s]*)\s*$")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<action>skip|check)\s+(?P<argument>.+?)\s*-->$")
SHOWN_OUTPUT = re.compile(r"^# (?=[\[{])")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its info string, its text and the marker before it (if any)."""

    path: Path
    line: int
    info: str
    text: str
    marker: tuple[str, str] | None = None

    @property
    def where(self) -> str:
        try:
            name = self.path.relative_to(ROOT)
        except ValueError:
            name = self.path
        return f"{name}:{self.line}"

    @property
    def kind(self) -> str:
        """What a test does with the block: skip, check:<name>, session, commands, graphql-sdl, graphql, unknown."""
        if self.marker is not None:
            action, argument = self.marker
            return "skip" if action == "skip" else f"check:{argument}"
        if self.info == "graphql":
            return "graphql-sdl" if re.match(r"\s*(type|input|enum|interface)\s", self.text) else "graphql"
        if self.info == "sh":
            return "session" if re.search(r"(^|[\s$(])curl\s", self.text) else "commands"
        return "unknown"


def blocks_of(text: str, path: Path) -> list[Block]:
    """The fenced code blocks of a markdown text, in order."""
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        start = index
        previous = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.match(previous)
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != opening["fence"]:
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise ValueError(f"{path}:{start + 1}: a fenced block is never closed")
        found.append(
            Block(
                path=path,
                line=start + 1,
                info=opening["info"],
                text="\n".join(body) + "\n",
                marker=(marker["action"], marker["argument"]) if marker else None,
            )
        )
        index += 1
    return found


def document_blocks() -> list[Block]:
    """Every fenced block of README.md and docs/*.md."""
    return [block for path in DOCUMENTS for block in blocks_of(path.read_text(), path)]


@dataclass(frozen=True)
class Command:
    """One complete shell command of a session block, with the output shown after it (if any)."""

    text: str
    line: int
    shown_output: str | None


def _complete(text: str) -> bool:
    return subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True).returncode == 0


def commands_of(block: Block) -> Iterator[Command]:
    """The complete commands of a shell block (bash decides where one ends), each with its shown output."""
    lines = block.text.splitlines()
    pending: list[str] = []
    first = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                index += 1
                continue
            first = index
        pending.append(line)
        index += 1
        text = "\n".join(pending)
        if line.endswith("\\") or not _complete(text + "\n"):
            continue
        shown: list[str] = []
        while index < len(lines) and SHOWN_OUTPUT.match(lines[index]):
            shown.append(lines[index][2:])
            index += 1
        yield Command(text=text, line=block.line + 1 + first, shown_output="\n".join(shown) or None)
        pending = []
    if pending:
        raise ValueError(f"{block.where}: the shell block ends inside a command")


ANY_VALUE = "\u2026any value\u2026"


def shown_value(shown: str) -> object:
    """The JSON a session shows after a command, `{...}` read as any value."""
    return json.loads(shown.replace("{...}", json.dumps(ANY_VALUE)))


def mismatches(expected: object, actual: object, path: str = "$") -> list[str]:
    """Where `actual` differs from the shown `expected` (empty when it matches)."""
    if expected == ANY_VALUE:
        return []
    if isinstance(expected, str) and expected.endswith("..."):
        prefix = expected[:-3].rstrip()
        ok = isinstance(actual, str) and actual.startswith(prefix)
        return [] if ok else [f"{path}: {actual!r} does not start with {prefix!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return [f"{path}: {actual!r} has not the keys {sorted(expected)}"]
        return [problem for key in expected for problem in mismatches(expected[key], actual[key], f"{path}.{key}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} is not a list of {len(expected)}"]
        return [
            p for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for p in mismatches(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {actual!r} is not {expected!r}"]


def json_values(output: str) -> list[object]:
    """The JSON values a command printed one after another (none when it printed something else)."""
    decoder = json.JSONDecoder()
    values: list[object] = []
    position = 0
    text = output.strip()
    while position < len(text):
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return []
        values.append(value)
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    return values


def documented_answers(endpoint: str) -> list[tuple[int, object]]:
    """The answers docs/operations.md's table of endpoints shows for `GET <endpoint>`: (status, JSON body) pairs."""
    guide = (ROOT / "docs" / "operations.md").read_text()
    row = next(line for line in guide.splitlines() if line.startswith(f"| `GET {endpoint}` |"))
    return [(int(status), json.loads(body)) for status, body in re.findall(r"`(\d{3}) (\{[^`]*\})`", row)]
