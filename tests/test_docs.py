"""The examples in README.md and docs/*.md run, or are checked, against the code as it is.

The convention is in tests/doc_examples.py: each fenced block is run or checked by its info string, or carries a
`<!-- docs-test: skip|check ... -->` marker. Shell sessions run for real (bash, curl and jq, as a reader runs them)
against the test app served on a loopback port, with four substitutions a reader makes too: the server's address,
a fresh email address per file (the database is shared by the whole run), the token the app mailed, and the
`TOKEN=...` a reader fills in from the answer before.

Why not Sybil or pytest-examples: both run Python blocks in a namespace (Sybil can take other languages through
custom parsers and evaluators); ours are bash sessions that need the async app fixtures of tests/conftest.py and state
carried from block to block, and GraphQL documents to validate. What they would add, finding fenced blocks, is forty
lines here, with the marker convention and the counts we want to see.
"""

import ast
import asyncio
import base64
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import click.testing
import graphql
import httpx
import pytest
import uvicorn
import yaml  # type: ignore[import-untyped]
from pydantic import AliasChoices, TypeAdapter
from starlette.applications import Starlette

from prism import cli, seed
from prism.auth.mailer import RecordingMailer
from prism.config import Settings
from prism.db import event_catalog
from prism.domain.events import Action, DomainEvent, EntityChange, RelationChange
from prism.errors import Code
from prism.observability.logging import configure_logging
from resolvers.schema import build_schema
from tests.doc_examples import (
    ROOT,
    Block,
    commands_of,
    document_blocks,
    json_values,
    mismatches,
    shown_value,
)
from tests.helpers import Account

BLOCKS = document_blocks()
SCHEMA = build_schema()._schema
ELIDED_ID = re.compile(r'"[A-Za-z0-9+/=]*\.\.\."')
PLACEHOLDER = re.compile(r'"<[^">]+>"')
SENTINEL = f"__docs_test_done_{uuid.uuid4().hex}__"


def _of_kind(*kinds: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind in kinds]


def _ids(blocks: list[Block]) -> list[str]:
    return [block.where for block in blocks]


# --- The convention -----------------------------------------------------------------------------------------------


def test_every_block_is_run_checked_or_marked_illustrative_and_few_are_illustrative() -> None:
    unknown = [block.where for block in BLOCKS if block.kind == "unknown"]
    assert not unknown, f"blocks no test runs or checks (give them an info string or a marker): {unknown}"
    unnamed = [block.where for block in BLOCKS if block.kind.startswith("check:") and block.kind[6:] not in CHECKERS]
    assert not unnamed, f"markers naming no checker of tests/test_docs.py: {unnamed}"
    skipped = _of_kind("skip")
    assert len(skipped) * 8 <= len(BLOCKS), f"more than one block in 8 is illustrative: {_ids(skipped)}"


# --- GraphQL ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", _of_kind("graphql"), ids=_ids(_of_kind("graphql")))
def test_graphql_documents_are_valid_against_the_schema(block: Block) -> None:
    for document in _graphql_documents(block.text):
        errors = graphql.validate(SCHEMA, graphql.parse(document))
        assert not errors, f"{block.where}: {[error.message for error in errors]}"


def _graphql_documents(text: str) -> list[str]:
    """A block may show several one-line operations; each is validated on its own."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and all(re.match(r"(query|mutation)\b.*\}\s*$", line) for line in lines):
        return lines
    return [text]


@pytest.mark.parametrize("block", _of_kind("graphql-sdl"), ids=_ids(_of_kind("graphql-sdl")))
def test_type_definitions_shown_match_schema_graphql(block: Block) -> None:
    schema = graphql.build_schema((ROOT / "schema.graphql").read_text())
    for name, body in re.findall(r"(?:type|input|interface)\s+(\w+)\s*\{(.*?)\n\}", block.text, re.DOTALL):
        definition = schema.get_type(name)
        assert isinstance(definition, graphql.GraphQLObjectType | graphql.GraphQLInputObjectType), name
        shown = dict(re.findall(r"^\s*(\w+)\s*:\s*([\w!\[\]]+)", body, re.MULTILINE))
        actual = {field_name: str(field.type) for field_name, field in definition.fields.items()}
        wrong = {f: t for f, t in shown.items() if actual.get(f) != t}
        assert not wrong, f"{block.where}: {name} has no such fields: {wrong} (schema.graphql: {actual})"


def _elided_type(literal: str) -> str | None:
    """The type an elided global id names (`"UHJvZHVjdDo..."` is `Product:` in base64), if it can be read."""
    prefix = literal.strip('"').removesuffix("...")
    for candidate in (prefix + "=" * (-len(prefix) % 4), prefix[: len(prefix) // 4 * 4]):
        try:
            decoded = base64.b64decode(candidate).decode()
        except (ValueError, UnicodeDecodeError):
            continue
        if ":" in decoded:
            return decoded.split(":", 1)[0]
    return None


def _filled(document: str, ids: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    """The operation with its placeholders and elided ids replaced by the session's own, and its variables (a
    `DateTime` is an hour ago, a nullable other is left out), or None when it cannot run as it is: it sends a
    `version` (which depends on the history before it), needs another kind of variable, or names an object the
    session has none of."""
    if re.search(r"\bversion:", document):
        return None
    variables: dict[str, Any] = {}
    for definition in graphql.parse(document).definitions:
        for variable in getattr(definition, "variable_definitions", None) or ():
            declared = graphql.print_ast(variable.type)
            if declared.rstrip("!") == "DateTime":
                variables[variable.variable.name.value] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            elif declared.endswith("!"):
                return None
    for literal in set(ELIDED_ID.findall(document)) | set(PLACEHOLDER.findall(document)):
        named = "Product" if literal == '"<product id>"' else _elided_type(literal)
        if named not in ids:
            return None
        document = document.replace(literal, json.dumps(ids[named]))
    return document, variables


# --- Shell sessions -----------------------------------------------------------------------------------------------


@dataclass
class ShellSession:
    """One bash process that runs a file's commands one after another, as a reader's terminal would."""

    process: asyncio.subprocess.Process
    outputs: list[str] = field(default_factory=list)

    @classmethod
    async def start(cls, workdir: Path) -> "ShellSession":
        missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
        assert not missing, f"the docs' sessions need {missing} on PATH (apt-get install {' '.join(missing)})"
        process = await asyncio.create_subprocess_exec(
            "bash",
            "--noprofile",
            "--norc",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=workdir,
            env={"PATH": os.environ["PATH"], "HOME": str(workdir), "LANG": "C.UTF-8"},
        )
        return cls(process)

    async def run(self, command: str) -> tuple[int, str]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{command}\nprintf '\\n{SENTINEL} %s\\n' $?\n".encode())
        await self.process.stdin.drain()
        lines: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout=60)
            assert raw, f"bash ended while running {command!r}: {''.join(lines)}"
            line = raw.decode()
            if line.startswith(SENTINEL):
                output = "".join(lines)
                self.outputs.append(output)
                return int(line.split()[1]), output
            lines.append(line)

    async def value(self, name: str) -> str:
        status, output = await self.run(f'printf %s "${name}"')
        assert status == 0
        return output.rstrip("\n")

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture(scope="session")
async def live_url(app: Starlette) -> AsyncIterator[str]:
    """The test app served over TCP on a free loopback port, for curl."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the docs' server did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def _mailed_token(app: Starlette, email: str) -> str:
    mailer = app.state.runtime().mailer
    assert isinstance(mailer, RecordingMailer)
    for message in reversed(mailer.sent):
        found = re.search(r"with the verifyEmail mutation: (\S+)", message.body)
        if message.to == email and found:
            return found.group(1)
    raise AssertionError(f"no confirmation was mailed to {email}")


def _find(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if value.get(key):
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            if (found := _find(item, key)) is not None:
                return found
    return None


def _problems(values: list[object]) -> list[object]:
    """Top-level errors and non-empty userErrors in what a command printed."""
    found: list[object] = []
    for value in values:
        if isinstance(value, dict) and value.get("errors"):
            found.append(value["errors"])
        stack: list[object] = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("userErrors"):
                    found.append(item["userErrors"])
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return found


SESSION_FILES = sorted({block.path for block in _of_kind("session", "check:after-session")})


@pytest.mark.parametrize("path", SESSION_FILES, ids=[str(path.relative_to(ROOT)) for path in SESSION_FILES])
async def test_the_curl_sessions_of_a_file_run_in_order_and_answer_what_they_show(
    path: Path, app: Starlette, live_url: str, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    shell = await ShellSession.start(tmp_path)
    in_file = [block for block in BLOCKS if block.path == path]
    deferred = [block for block in in_file if block.kind == "check:after-session"]
    try:
        ran = 0
        for block in [block for block in in_file if block.kind == "session"] + deferred:
            email = f"ada-{uuid.uuid4().hex[:12]}@example.com"  # one address per block: each block signs up anew
            for command in commands_of(block):
                text = command.text.replace("http://localhost:8000", live_url)
                text = text.replace("http://127.0.0.1:8000", live_url).replace("ada@example.com", email)
                if "<token from the mail>" in text:
                    text = text.replace("<token from the mail>", _mailed_token(app, email))
                if re.match(r"TOKEN=\.\.\.", text):
                    token = _find([json_values(output) for output in shell.outputs], "accessToken")
                    assert token, f"{block.where}: no accessToken was answered before `TOKEN=...`"
                    text = f"TOKEN={token}"
                status, output = await shell.run(text)
                where = f"{path.name}:{command.line}"
                assert status == 0, f"{where}: `{command.text}` exited {status}: {output}"
                values = json_values(output)
                if command.shown_output is not None:
                    assert len(values) == 1, f"{where}: expected one JSON answer, got {output!r}"
                    wrong = mismatches(shown_value(command.shown_output), values[0])
                    assert not wrong, f"{where}: the answer is not what the docs show: {wrong}"
                else:
                    # Whatever a command prints must be JSON: an HTML or plain-text answer (a 404, a 500) is drift.
                    assert values or not output.strip(), f"{where}: `{command.text}` printed no JSON: {output!r}"
                    assert not _problems(values), f"{where}: `{command.text}` answered errors: {output}"
                ran += 1
        assert ran
        token = await shell.value("TOKEN")
        assert token.startswith("ey"), f"{path.name}: the session ends without a signed-in TOKEN ({token!r})"
        assert await _run_graphql_blocks(path, http, token) >= 2, f"{path.name}: fewer GraphQL examples ran than before"
    finally:
        await shell.close()


async def _run_graphql_blocks(path: Path, http: httpx.AsyncClient, token: str) -> int:
    """After the file's session, its GraphQL examples that can run as they are run as its user and answer no error;
    returns how many ran."""
    headers = {"Authorization": f"Bearer {token}"}
    own = await http.post(
        "/graphql",
        json={"query": "{ products(first: 1) { nodes { id } } requirements(first: 1) { nodes { id } } }"},
        headers=headers,
    )
    ids = {
        type_name: nodes[0]["id"]
        for type_name, field_name in (("Product", "products"), ("Requirement", "requirements"))
        if (nodes := own.json()["data"][field_name]["nodes"])
    }
    ran = 0
    for block in (b for b in BLOCKS if b.path == path and b.kind == "graphql"):
        for document in _graphql_documents(block.text):
            filled = _filled(document, ids)
            if filled is None:
                continue
            query, variables = filled
            answer = (
                await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
            ).json()
            assert not _problems([answer]), f"{block.where}: {answer}"
            assert answer["data"], f"{block.where}: {answer}"
            ran += 1
    return ran


# --- Commands -----------------------------------------------------------------------------------------------------


def _environment_names() -> set[str]:
    """Every environment variable PRISM, its tests, its tools and its deployment files read."""
    names = {"PRISM_TEST_HOME", "PRISM_TEST_REQUIRE_SERVICES", "TEST_DATABASE_URL", "TEST_REDIS_URL"}
    names |= {"PRISM_TOKEN"}  # the credential of the graphql-ws client in tests/js/subscribe.mjs
    names |= {"BENCH_DATABASE_URL", "PGSERVER_POSTGRES_VERSION", "PYTEST_ARGS", "BENCH_ARGS", "CI"}
    for name, setting in Settings.model_fields.items():
        names.add(f"PRISM_{name.upper()}")  # pydantic-settings reads the prefixed name of an aliased field too
        alias = setting.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        else:
            names.add(alias if isinstance(alias, str) else f"PRISM_{name.upper()}")
    for deployment_file in ("deploy/compose.yaml", "deploy/.env.example", "deploy/Dockerfile"):
        text = (ROOT / deployment_file).read_text()
        names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", text))
        names |= set(re.findall(r"^\s*(?:ENV\s+)?([A-Z][A-Z0-9_]+)[:=]", text, re.MULTILINE))
    return names


ENVIRONMENT = _environment_names()
MAKE_TARGETS = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
COMPOSE_SERVICES = set(yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"])


def _prism_command_problems(words: list[str]) -> list[str]:
    """What is wrong with `prism <words>`: a subcommand or an option the CLI does not have."""
    command: click.Command = cli.main
    path = ["prism"]
    rest = list(words)
    while isinstance(command, click.Group) and rest and re.match(r"^[a-z][a-z-]*$", rest[0]):
        name = rest.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return [f"`{' '.join(path)}` has no subcommand {name!r}"]
        command, path = sub, [*path, name]
    options = {option for parameter in command.params for option in getattr(parameter, "opts", [])}
    options |= {"--help", "-h"} | ({"--version"} if command is cli.main else set())
    used = {re.sub(r"[=\]].*$", "", word.lstrip("[")) for word in rest if word.lstrip("[").startswith("-")}
    return [f"`{' '.join(path)}` has no option {option}" for option in sorted(used - options)]


def _command_problems(line: str) -> list[str]:
    """What is wrong with one line of commands: each command must exist, with the options it is given."""
    problems: list[str] = []
    line = re.sub(r"(^|\s)#.*$", "", line).strip()
    for part in re.split(r"\s*(?:\|\||&&|;|\|)\s*|\$\(", line):
        words = part.replace(")", " ").split()
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            name = words.pop(0).split("=", 1)[0]
            if name.isupper() and name not in ENVIRONMENT and name not in ("KEY", "TOKEN"):
                problems.append(f"nothing reads the environment variable {name}")
        if not words:
            continue
        program, arguments = words[0], words[1:]
        if program in ("prism", ".venv/bin/prism"):
            problems += _prism_command_problems(arguments)
        elif program == "make":
            problems += [
                f"the Makefile has no target {t!r}" for t in arguments if "=" not in t and t not in MAKE_TARGETS
            ]
        elif program == "sh":
            problems += [f"no file {arguments[0]}"] if not (ROOT / arguments[0]).exists() else []
        elif program == "node":
            problems += [f"no script {arguments[0]}"] if not (ROOT / arguments[0]).is_file() else []
        elif program == "npm" and arguments[:2] == ["ci", "--prefix"]:
            lockfile = ROOT / arguments[2] / "package-lock.json"
            problems += [f"no lockfile for npm ci in {arguments[2]}"] if not lockfile.is_file() else []
        elif program == "docker":
            problems += _docker_problems(arguments)
        elif program in (".venv/bin/python", "python") and arguments[:2] == ["-m", "bench"]:
            options = set(re.findall(r"--[a-z][\w-]*", BENCH_HELP))
            problems += [f"the benchmark has no option {word}" for word in arguments[2:] if word not in options]
        elif program not in ("cd", "export", "echo"):
            problems.append(f"a command the docs test cannot check: {program} (mark the block)")
    return problems


BENCH_HELP = subprocess.run(
    [sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
).stdout


def _docker_problems(arguments: list[str]) -> list[str]:
    problems = [f"no file {arguments[i + 1]}" for i, word in enumerate(arguments[:-1]) if word == "-f"]
    problems = [problem for problem in problems if not (ROOT / problem.removeprefix("no file ")).exists()]
    if "compose" in arguments:
        for verb in ("run", "exec", "logs"):
            if verb in arguments:
                service = next(w for w in arguments[arguments.index(verb) + 1 :] if not w.startswith("-"))
                if service not in COMPOSE_SERVICES:
                    problems.append(f"deploy/compose.yaml has no service {service!r}")
    if "prism" in arguments[1:]:
        at = len(arguments) - 1 - arguments[::-1].index("prism")
        problems += _prism_command_problems(arguments[at + 1 :])
    return problems


@pytest.mark.parametrize("block", _of_kind("commands"), ids=_ids(_of_kind("commands")))
def test_the_commands_shown_exist_with_the_options_they_are_given(block: Block) -> None:
    joined = re.sub(r"\\\n\s*", " ", block.text)
    problems = [f"{block.where}: {problem}" for line in joined.splitlines() for problem in _command_problems(line)]
    assert not problems, problems


# --- Blocks compared with the code by a named checker -------------------------------------------------------------

API_GUIDE = (ROOT / "docs" / "api.md").read_text()
OPERATIONS_GUIDE = (ROOT / "docs" / "operations.md").read_text()


TIMES = "\N{MULTIPLICATION SIGN}"


def _arithmetic(expression: str) -> int:
    """The value of a sum of products as the docs write it (`1 + 100 x (1 + 2)`, with a multiplication sign)."""
    tree = ast.parse(expression.replace(TIMES, "*").replace(",", ""), mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.Add, ast.Mult, ast.Constant)
    assert all(isinstance(node, allowed) for node in ast.walk(tree)), expression
    return int(eval(compile(tree, "<docs>", "eval"), {"__builtins__": {}}))  # noqa: S307 - sums and products of numbers only


def _prose(text: str, pattern: str) -> re.Match[str]:
    found = re.search(pattern, re.sub(r"\s*\n\s*", " ", text))
    assert found, f"the docs no longer say {pattern!r}: update tests/test_docs.py with them"
    return found


async def _check_cost(block: Block, http: httpx.AsyncClient, token: str) -> None:
    """The cost example of docs/api.md: its arithmetic, and what the cost model and the budget answer."""
    example = _prose(API_GUIDE, r"`(products\(first: 100\) [^`]+)` may cost `([^`=]+)= ([\d,]+)`")
    stated = int(example[3].replace(",", ""))
    assert _arithmetic(example[2]) == stated, f"docs/api.md: {example[2]} is not {example[3]}"
    headers = {"Authorization": f"Bearer {token}"}
    answer = await http.post(
        "/graphql", json={"query": f"{{ {example[1]} }}", "extensions": {"cost": True}}, headers=headers
    )
    cost = answer.json()["extensions"]["cost"]
    assert cost["requested"] == stated, f"docs/api.md says {stated}, the cost model says {cost['requested']}"
    shown = shown_value(block.text)
    assert isinstance(shown, dict)
    shown_cost = shown["extensions"]["cost"]
    assert set(shown_cost) == set(cost), f"{block.where}: {sorted(shown_cost)} is not {sorted(cost)}"
    assert {k: shown_cost[k] for k in ("requested", "maximum", "limit")} == {
        k: cost[k] for k in ("requested", "maximum", "limit")
    }, f"{block.where}: {shown_cost} against {cost}"
    assert shown_cost["actual"] <= shown_cost["requested"]
    assert shown_cost["remaining"] <= shown_cost["limit"] - shown_cost["actual"]
    refusal = json.loads(_prose(API_GUIDE, r"an error `(\{\"code\": \"RATE_LIMITED\"[^`]+)`")[1])
    assert refusal["cost"] == stated, refusal
    assert refusal["limit"] == cost["limit"], refusal
    too_costly = _prose(API_GUIDE, r"and so does `(teams [^`]+)` \(.*?: `([\d " + TIMES + r"]+)` items\)")
    refused = await http.post("/graphql", json={"query": f"{{ {too_costly[1]} }}"}, headers=headers)
    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", refused.json()
    assert _arithmetic(too_costly[2]) > cost["maximum"]


async def _check_persisted_query(block: Block, http: httpx.AsyncClient, token: str) -> None:
    """The APQ example: the hash is that of the text named, and an unknown hash is answered as the prose says."""
    request = json.loads(block.text)
    text = _prose(API_GUIDE, r"\(here of `([^`]+)`\)")[1]
    assert request["extensions"]["persistedQuery"]["sha256Hash"] == hashlib.sha256(text.encode()).hexdigest()
    said = json.loads(_prose(API_GUIDE, r"An unknown hash is answered `([^`]+)`")[1])
    answer = await http.post("/graphql", json=request, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json() == said


class _Recording(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _check_json_log(block: Block, http: httpx.AsyncClient, token: str) -> None:
    """The JSON access-log line shown has the fields a real request's line has, under the same names."""
    records: list[logging.LogRecord] = []
    handler = _Recording(records)
    access = logging.getLogger("prism.access")
    access.addHandler(handler)
    try:
        await http.post(
            "/graphql", json={"query": "{ viewer { user { id } } }"}, headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        access.removeHandler(handler)
    root = logging.getLogger()
    kept, level = list(root.handlers), root.level
    try:
        configure_logging("INFO", "json")
        formatter, filters = root.handlers[0].formatter, root.handlers[0].filters
    finally:
        root.handlers[:], root.level = kept, level
    assert formatter is not None
    assert records
    for context in filters:  # the request-id filter adds `request_id` and `trace_id`, as on the root handler
        if isinstance(context, logging.Filter):
            context.filter(records[-1])
    line = json.loads(formatter.format(records[-1]))
    shown = json.loads(block.text)
    assert set(shown) == set(line), f"{block.where}: shows {sorted(shown)}, PRISM logs {sorted(line)}"
    assert {k: shown[k] for k in ("level", "logger", "message", "method", "path", "status")} == {
        k: line[k] for k in ("level", "logger", "message", "method", "path", "status")
    }


async def _check_event(block: Block, http: httpx.AsyncClient, token: str) -> None:
    """The event shown has the envelope and payload PRISM's events have, with an entity, fields and relations the
    event catalogue knows."""
    shown = json.loads(block.text)
    change = EntityChange(
        type="Requirement",
        action=Action.UPDATE,
        entity_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        product_id=uuid.uuid4(),
        version=1,
        data={"title": "New title"},
        updated_from={"title": "Old title"},
        changed=["title"],
        relations={"labelIds": RelationChange(added=["x"])},
    )
    event = DomainEvent(
        organization_id=change.organization_id,
        sequence=1,
        id=uuid.uuid4(),
        type=change.type,
        action=change.action,
        version=change.version,
        entity_id=change.entity_id,
        product_id=change.product_id,
        actor_user_id=uuid.uuid4(),
        actor_api_key_id=None,
        occurred_at=datetime.now(UTC),
        payload=change.payload(),
    )
    real = json.loads(event.to_message())
    assert list(shown) == list(real), f"{block.where}: shows {list(shown)}, PRISM sends {list(real)}"
    assert set(shown["payload"]) == set(real["payload"]), f"{block.where}: payload {sorted(real['payload'])}"
    spec = next(spec for spec in event_catalog.ENTITIES.values() if spec.name == shown["type"])
    names = {event_catalog.json_name(name) for name in (*spec.fields, *spec.opaque)}
    relations = {r.relation for r in event_catalog.RELATIONS.values() if r.entity is spec.table}
    payload = shown["payload"]
    assert shown["action"] in {action.value for action in Action}
    assert set(payload["data"]) - {"\N{HORIZONTAL ELLIPSIS}"} <= names, f"{block.where}: {set(payload['data']) - names}"
    assert set(payload["changed"]) | set(payload["updatedFrom"]) <= names
    assert set(payload["relations"]) <= relations, f"{block.where}: {spec.name} has the relations {relations}"


class _Shown(Exception):  # noqa: N818 - not an error: how the example hands back what it printed
    """Raised in place of the example's print, with what it would print."""


async def _check_websocket_client(block: Block, http: httpx.AsyncClient, token: str, live_url: str) -> None:
    """The Python WebSocket client runs as shown against the live server, on a product of its own, and prints the
    change of a requirement created while it listens."""
    subscription = next(
        b.text for b in BLOCKS if b.path == block.path and b.info == "graphql" and b.text.startswith("subscription ")
    )
    headers = {"Authorization": f"Bearer {token}"}
    key = f"W{uuid.uuid4().hex[:6].upper()}"
    created = await http.post(
        "/graphql",
        json={"query": f'mutation {{ createProduct(input: {{key: "{key}", name: "WS"}}) {{ product {{ id }} }} }}'},
        headers=headers,
    )
    product_id = created.json()["data"]["createProduct"]["product"]["id"]
    code = block.text.replace("ws://127.0.0.1:8000", live_url.replace("http://", "ws://")).replace("print(", "_shown(")
    assert "_shown(" in code, f"{block.where}: the example no longer prints what it receives"
    source = "async def _example(token, product_id, BOARD_SUBSCRIPTION, _shown):\n" + textwrap.indent(code, "    ")
    namespace: dict[str, Any] = {}
    exec(compile(source, block.where, "exec"), namespace)  # noqa: S102 - the docs' own example, run as written

    def shown(value: object) -> None:
        raise _Shown(value)

    listening = asyncio.create_task(namespace["_example"](token, product_id, subscription, shown))
    create = (
        'mutation($p: ID!) { createRequirement(input: {productId: $p, kind: TASK, title: "Seen live"})'
        " { requirement { key } } }"
    )
    async with asyncio.timeout(30):  # a guard against hanging, not a measurement
        while not listening.done():  # events before the subscription starts are not delivered: keep making them
            await http.post("/graphql", json={"query": create, "variables": {"p": product_id}}, headers=headers)
            await asyncio.wait({listening}, timeout=0.2)
    with pytest.raises(_Shown) as printed:
        listening.result()
    change = printed.value.args[0]
    assert change["action"] == "CREATED", change
    assert change["requirement"]["title"] == "Seen live", change
    assert change["requirement"]["key"].startswith(f"{key}-"), change


def _project_definitions() -> dict[str, ast.AST]:
    """Every module-level class, function and assignment of resolvers/, loaders/ and prism/, by name."""
    found: dict[str, ast.AST] = {}
    imported: dict[str, ast.AST] = {}
    for package in ("resolvers", "loaders", "prism"):
        for source in (ROOT / package).rglob("*.py"):
            for node in ast.parse(source.read_text()).body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    found.setdefault(node.name, node)
                elif isinstance(node, ast.ImportFrom):  # an alias (`Sprint as SprintTable`); definitions win
                    for alias in node.names:
                        imported.setdefault(alias.asname or alias.name, node)
                elif isinstance(node, ast.Assign | ast.AnnAssign):
                    for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                        if isinstance(target, ast.Name):
                            found.setdefault(target.id, node)
    return {**imported, **found}


EXTERNAL_NAMES = {"strawberry", "relay", "Annotated", "UUID", "Info", "info", "input", "self", "str", "int"}


async def _check_python_names(block: Block, http: httpx.AsyncClient, token: str) -> None:
    """A Python sketch of PRISM's own code parses, every name it uses is defined in PRISM, and every keyword it
    passes to a PRISM function is a parameter of that function."""
    tree = ast.parse(block.text.replace('"..."', '""'))
    defined = _project_definitions()
    local = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    local |= {arg.arg for node in ast.walk(tree) if isinstance(node, ast.arguments) for arg in node.args}
    local |= {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef | ast.AsyncFunctionDef)}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    unknown = sorted(used - local - EXTERNAL_NAMES - set(defined))
    assert not unknown, f"{block.where}: PRISM defines no {unknown}"
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            continue
        name = call.func.id
        definition = defined.get(name)
        if isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef) and definition.args.kwarg is None:
            parameters = {a.arg for a in (*definition.args.args, *definition.args.kwonlyargs)}
            wrong = [k.arg for k in call.keywords if k.arg is not None and k.arg not in parameters]
            assert not wrong, f"{block.where}: {name}() takes no {wrong}"


async def _check_module_map(block: Block, http: httpx.AsyncClient, token: str) -> None:
    """Every module a map of a package names exists in that package."""
    package = block.text.split("/", 1)[0].strip()
    named = set(re.findall(r"\b([a-z_]+\.py)\b", block.text))
    missing = sorted(name for name in named if not (ROOT / package / name).exists())
    assert named, block.where
    assert not missing, f"{block.where}: {package}/ has no {missing}"


CHECKERS: dict[str, Any] = {
    "after-session": "a curl session block that needs the data of the file's other sessions: run after them",
    "cost": _check_cost,
    "persisted-query": _check_persisted_query,
    "json-log": _check_json_log,
    "event": _check_event,
    "websocket-client": _check_websocket_client,
    "python-names": _check_python_names,
    "module-map": _check_module_map,
}
CHECKED = [block for block in BLOCKS if block.kind.startswith("check:") and block.kind != "check:after-session"]


@pytest.mark.parametrize("block", CHECKED, ids=_ids(CHECKED))
async def test_the_blocks_a_checker_compares_with_the_code_agree_with_it(
    block: Block, http: httpx.AsyncClient, account: Account, live_url: str
) -> None:
    checker = CHECKERS[block.kind.removeprefix("check:")]
    if block.kind == "check:websocket-client":
        await checker(block, http, account.token, live_url)
    else:
        await checker(block, http, account.token)


# --- What the prose claims ----------------------------------------------------------------------------------------

SETTINGS_ENVIRONMENT = {f"PRISM_{name.upper()}" for name in Settings.model_fields} | {
    name
    for setting_name, setting in Settings.model_fields.items()
    for name in (
        [c for c in setting.validation_alias.choices if isinstance(c, str)]
        if isinstance(setting.validation_alias, AliasChoices)
        else [
            setting.validation_alias if isinstance(setting.validation_alias, str) else f"PRISM_{setting_name.upper()}"
        ]
    )
}


def test_the_compose_table_names_each_service_its_image_and_whether_prism_uses_it() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    table = OPERATIONS_GUIDE.split("| Service | Image | Role |", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    described: dict[str, tuple[str, str]] = {}
    for services, images, role in rows:
        names, shown_images = re.findall(r"`([^`]+)`", services), re.findall(r"`([^`]+)`", images)
        for index, name in enumerate(names):
            described[name] = (shown_images[index] if index < len(shown_images) else images, role)
    assert set(described) == set(compose["services"]), "docs/operations.md's compose table names other services"
    prism_environment = compose["services"]["prism"]["environment"]
    for name, (image, role) in described.items():
        actual = compose["services"][name].get("image", "")
        if image != "the PRISM image":
            assert actual == image or actual.split(":", 1)[0] == image, (
                f"{name}: the table says {image}, compose {actual}"
            )
        else:
            assert actual.startswith("prism:"), name
        # A service PRISM reaches through a variable its settings read is used, whatever the table says.
        variables = [key for key, value in prism_environment.items() if f"//{name}:" in str(value)]
        used = any(variable in SETTINGS_ENVIRONMENT for variable in variables)
        assert not (used and "not used" in role), f"{name}: PRISM reads {variables}, the table says {role!r}"
        assert used or not variables or "not used" in role, f"{name}: PRISM does not read {variables}: say so"


DOCUMENT_TEXTS = {str(path.relative_to(ROOT)): path.read_text() for path in sorted({block.path for block in BLOCKS})}
LIBRARY_PREFIXES = ("OTEL_",)


def test_every_environment_variable_the_docs_name_is_read_by_prism_its_tests_or_its_deployment() -> None:
    pattern = r"\b(?:PRISM|DATABASE|REDIS|TEST|BENCH|PGSERVER|S3|QDRANT|POSTGRES|MINIO|OTEL)_[A-Z0-9_]*[A-Z0-9]\b"
    shell_variables = {
        name for block in BLOCKS if block.info == "sh" for name in re.findall(r"^([A-Z_]+)=", block.text, re.MULTILINE)
    }
    unknown = {
        f"{name}: {path}"
        for path, text in DOCUMENT_TEXTS.items()
        for name in re.findall(pattern, text)
        if name not in ENVIRONMENT | shell_variables and not name.startswith(LIBRARY_PREFIXES)
    }
    assert not unknown, f"the docs name variables nothing reads: {sorted(unknown)}"


def test_every_prism_command_the_prose_names_exists_with_its_options() -> None:
    problems = [
        f"{path}: `{command}`: {problem}"
        for path, text in DOCUMENT_TEXTS.items()
        for command in re.findall(r"`(?:\.venv/bin/)?prism ([a-z][^`]*)`", text)
        for problem in _prism_command_problems(command.split())
    ]
    problems += [
        f"{path}: `make {target}`: the Makefile has no such target"
        for path, text in DOCUMENT_TEXTS.items()
        for target in re.findall(r"`(?:\w+=\S+ )*make ([a-z][\w-]*)", text)
        if target not in MAKE_TARGETS
    ]
    assert not problems, problems


def test_the_demo_sign_in_the_docs_give_is_the_one_prism_seed_creates() -> None:
    for path in ("README.md", "docs/operations.md"):
        shown = re.search(r"`([\w.]+@[\w.]+)` / `([\w-]+)`", DOCUMENT_TEXTS[path])
        assert shown, f"{path} no longer shows the demo sign-in"
        assert (shown[1], shown[2]) == (seed.DEMO_EMAIL, seed.DEMO_PASSWORD), path


def test_every_graphql_name_the_prose_names_is_in_the_schema() -> None:
    mutations = set(SCHEMA.mutation_type.fields) if SCHEMA.mutation_type else set()
    queries = set(SCHEMA.query_type.fields) if SCHEMA.query_type else set()
    problems: list[str] = []
    for path, text in DOCUMENT_TEXTS.items():
        integrators = path in ("README.md", "docs/api.md", "docs/security.md")  # the others name Python classes
        for name in re.findall(r"`([a-z]\w+)\(input\b", text):
            if name not in mutations:
                problems.append(f"{path}: no mutation {name}")
        for type_name, field_name in re.findall(r"`([A-Z]\w+)\.([a-z]\w+)", text):
            definition = SCHEMA.get_type(type_name)
            if not integrators or not isinstance(definition, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
                continue
            if field_name not in definition.fields:
                problems.append(f"{path}: no field {type_name}.{field_name}")
    table = API_GUIDE.split("| Area | Mutations |", 1)[1].split("\n\n", 1)[0]
    problems += [f"docs/api.md: no mutation {name}" for name in re.findall(r"`(\w+)`", table) if name not in mutations]
    reads = API_GUIDE.split("| Query field | Returns |", 1)[1].split("\n\n", 1)[0]
    firsts = [line.split("|")[1] for line in reads.splitlines()[2:]]
    problems += [
        f"docs/api.md: no query field {name}"
        for cell in firsts
        for name in re.findall(r"`(\w+)[`(]", cell)
        if name not in queries
    ]
    assert not problems, problems


def _built() -> dict[str, bool]:
    """Features the docs have called planned, by how they name them, and whether the code has them now."""
    queries = SCHEMA.query_type.fields if SCHEMA.query_type else {}
    deploy = " ".join(path.read_text() for path in (ROOT / "deploy").rglob("*") if path.is_file())
    subscriptions = SCHEMA.subscription_type is not None
    return {
        r"\*\*subscriptions\*\*|subscriptions over": subscriptions,
        r"subscriptions reach clients on every replica": subscriptions and "REDIS_URL" in SETTINGS_ENVIRONMENT,
        r"tombstone": any(name.startswith("deleted") for name in queries),
        r"kubernetes": "kind: Deployment" in deploy,
        r"qdrant": "QDRANT_URL" in SETTINGS_ENVIRONMENT,
        r"\bs3\b": any(name.startswith("S3_") for name in SETTINGS_ENVIRONMENT),
        r"\bllm\b": (ROOT / "prism" / "ai").exists(),
        r"background jobs": (ROOT / "prism" / "jobs").exists(),
        r"rate limits? (per identity )?in redis": (ROOT / "prism" / "ratelimit.py").exists(),
        r"read replicas?": any("replica" in name for name in Settings.model_fields),
        r"redis as event broker|outbox": (ROOT / "prism" / "events" / "broker.py").exists(),
    }


def test_what_the_docs_call_planned_is_not_built_yet() -> None:
    built = _built()
    problems: list[str] = []
    for path, text in DOCUMENT_TEXTS.items():
        # A paragraph or list item that calls something planned is a claim about each feature it names.
        for chunk in re.split(r"\n\s*\n|\n(?=\s*[-|] )", text):
            if not re.search(r"\bplanned\b", chunk, re.IGNORECASE) or "planned executor" in chunk:
                continue
            flat = re.sub(r"\s+", " ", chunk)
            problems += [
                f"{path}: calls {feature!r} planned, and it is built: {flat.strip()[:160]}"
                for feature, exists in built.items()
                if exists and re.search(feature, flat, re.IGNORECASE)
            ]
    assert not problems, problems


# --- What the code has, the docs name (moved from tests/test_deploy_files.py) --------------------------------------


def _environment_variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"PRISM_{name.upper()}"


def test_the_operations_guide_documents_every_setting_by_its_environment_variable() -> None:
    guide = OPERATIONS_GUIDE
    missing = [
        _environment_variable(name) for name in Settings.model_fields if f"`{_environment_variable(name)}`" not in guide
    ]
    assert not missing, f"docs/operations.md does not document {missing}"


def _commands(group: click.Group, prefix: str) -> list[str]:
    found: list[str] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        found += _commands(command, path) if isinstance(command, click.Group) else [path]
    return found


def test_each_default_the_operations_guide_gives_is_the_settings_default() -> None:
    fields = {_environment_variable(name): name for name in Settings.model_fields}
    compared, wrong = 0, []
    for variable, shown in re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]*)`[^|]*\|", OPERATIONS_GUIDE, re.MULTILINE):
        if variable not in fields:
            continue
        setting = Settings.model_fields[fields[variable]]
        assert setting.annotation is not None
        adapter: TypeAdapter[Any] = TypeAdapter(setting.annotation)
        value = adapter.validate_json(shown) if shown.startswith(("[", "{")) else adapter.validate_python(shown)
        compared += 1
        if value != setting.get_default(call_default_factory=True):
            wrong.append(f"{variable}: the guide says {shown}, the default is {setting.get_default()!r}")
    assert compared >= 40, f"only {compared} defaults were compared: has the table's layout changed?"
    assert not wrong, wrong


def test_the_api_guide_names_every_query_and_mutation() -> None:
    assert SCHEMA.query_type is not None
    assert SCHEMA.mutation_type is not None
    fields = [*SCHEMA.query_type.fields, *SCHEMA.mutation_type.fields]
    missing = [name for name in fields if f"`{name}" not in API_GUIDE]
    assert not missing, f"docs/api.md does not name {missing}"


def test_the_operations_guide_documents_every_cli_command() -> None:
    guide = OPERATIONS_GUIDE
    missing = [command for command in _commands(cli.main, "prism") if command not in guide]
    assert not missing, f"docs/operations.md does not document {missing}"


def test_the_api_guide_documents_every_error_code() -> None:
    codes = {code.value for code in Code}
    codes |= set(re.findall(r'code="([A-Z_]+)"', (ROOT / "prism" / "web" / "graphql_http.py").read_text()))
    codes |= set(re.findall(r'return "([A-Z_]+)"', (ROOT / "resolvers" / "errors.py").read_text()))
    guide = API_GUIDE
    missing = sorted(code for code in codes if f"`{code}`" not in guide)
    assert not missing, f"docs/api.md does not document {missing}"


NOT_CODE = {
    "prism/context.py": "architecture.md tells where the context used to be meant to live",
    "prism.org_id": "a PostgreSQL setting",
    "prism.user_id": "a PostgreSQL setting",
    "prism.access": "a logger",
    "prism.graphql": "a logger",
    "deploy/.env": "written by deploy/init-env.sh, never committed",
    "bench/results": "written by the benchmark, never committed",
}


def _importable(dotted: str) -> bool:
    parts = dotted.split(".")
    for index in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:index]))
        except ImportError:
            continue
        for attribute in parts[index:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_file_and_module_the_docs_name_exists() -> None:
    problems: list[str] = []
    for path, text in DOCUMENT_TEXTS.items():
        pattern = r"(?<![.\w/])((?:prism|tests|scripts|deploy|resolvers|loaders|bench|docs)/[\w./-]*\w)"
        for name in set(re.findall(pattern, text)) - set(NOT_CODE):
            if not (ROOT / name).exists():
                problems.append(f"{path}: no file {name}")
        for name in set(re.findall(r"`((?:prism|resolvers|loaders)\.[\w.]+)", text)) - set(NOT_CODE):
            if not _importable(name):
                problems.append(f"{path}: nothing to import as {name}")
    assert not problems, problems
