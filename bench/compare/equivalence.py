"""The check before timing: every server answers every query, with the same data, on the path it is labelled with."""

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.compare.queries import ComparedQuery, Schema
from bench.compare.servers import Target
from bench.load import make_client

__all__ = ["EXECUTOR_HEADER", "Answer", "Equivalence", "check_equivalence", "compare_answers", "executor_problem"]

EXECUTOR_HEADER = "x-prism-executor"
"""Which executor answered (planned or resolvers), as PRISM says outside production."""


@dataclass
class Equivalence:
    """What each server answered to each query before timing, and whether it agreed with the reference."""

    sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    """SHA-256 of each query's normalized data (the same for every server when they agree)."""
    executors: dict[str, dict[str, str]] = field(default_factory=dict)
    """Which executor each PRISM server says answered each query (its X-Prism-Executor header, outside production)."""
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """One server's HTTP answer to one query."""

    target: str
    schema: Schema
    status: int
    body: bytes


def compare_answers(query: ComparedQuery, answers: list[Answer]) -> tuple[str | None, list[str]]:
    """Whether every answer is a success holding the same data as the first: its data's digest, and the problems."""
    problems: list[str] = []
    reference: Any = None
    reference_target: str | None = None
    digest = None
    for answer in answers:
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            document = {}
        if answer.status != 200 or not isinstance(document, dict) or document.get("errors") or not document.get("data"):
            problems.append(f"{answer.target} failed {query.name}: HTTP {answer.status} {answer.body[:500]!r}")
            continue
        data = query.normalize(answer.schema, document["data"])
        if not data:
            problems.append(f"{answer.target} answered {query.name} with no data: is the data set seeded?")
        if reference_target is None:
            reference, reference_target = data, answer.target
            digest = hashlib.sha256(orjson.dumps(data)).hexdigest()
        elif data != reference:
            problems.append(
                f"{answer.target} answered {query.name} with other data than {reference_target}: "
                f"{orjson.dumps(data)[:300].decode()} against {orjson.dumps(reference)[:300].decode()}"
            )
    return digest, problems


def executor_problem(target: str, query: str, executor: str) -> str | None:
    """What is wrong when "PRISM planned" (or "PRISM resolvers") says another executor answered: its figures
    would be labelled with the wrong path."""
    expected = target.removeprefix("PRISM ")
    if target.startswith("PRISM ") and expected in ("planned", "resolvers") and executor != expected:
        return f"{target} answered {query} on the {executor} path: its figures would not be the {expected} path's"
    return None


async def check_equivalence(targets: list[Target], queries: dict[str, ComparedQuery]) -> Equivalence:
    """Ask every server every query once; each must answer without errors, with the same data as the first."""
    found = Equivalence()
    for query in queries.values():
        answers = []
        for target in targets:
            async with make_client(target.server.base_url, target.token, target.headers) as client:
                response = await client.post("/graphql", content=query.operation(target.schema).body())
            answers.append(Answer(target.name, target.schema, response.status_code, response.content))
            found.sizes.setdefault(query.name, {})[target.name] = len(response.content)
            executor = response.headers.get(EXECUTOR_HEADER)
            if executor is not None:
                found.executors.setdefault(query.name, {})[target.name] = executor
                problem = executor_problem(target.name, query.name, executor)
                if problem is not None:
                    found.problems.append(problem)
        digest, problems = compare_answers(query, answers)
        if digest is not None:
            found.digests[query.name] = digest
        found.problems += problems
    for target in targets:
        if target.headers and "dashboard" in queries:
            found.problems += await _scope_problems(target, queries["dashboard"])
    return found


async def _scope_problems(target: Target, query: ComparedQuery) -> list[str]:
    """A server that sets the organization per request must see nothing without it: else row-level security does
    not bind it, and its figures would not be the ones with row-level security."""
    async with make_client(target.server.base_url, target.token, None) as client:
        response = await client.post("/graphql", content=query.operation(target.schema).body())
    try:
        document = orjson.loads(response.content) if response.status_code == 200 else {}
    except orjson.JSONDecodeError:
        document = {}
    data = document.get("data") if isinstance(document, dict) else None
    if data is None or query.normalize(target.schema, data):
        return [f"{target.name} answered {query.name} without its organization header: row-level security is off"]
    return []
