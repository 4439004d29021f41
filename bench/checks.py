"""Checks that the cheap wins docs/performance.md measures are really in effect, run in-process before the load.

- The parser and validation caches answer a repeated document without parsing or validating it again.
- Releasing a pooled connection sends nothing more with `pool_reset_on_return=None` than with SQLAlchemy's default,
  and never asyncpg's own pool reset (`RESET ALL; UNLISTEN *; CLOSE ALL; SELECT pg_advisory_unlock_all()`).
- Which scalar fields still have async resolvers, and which of them the benchmark's operations select.
"""

import asyncio
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from graphql import GraphQLObjectType, TypeInfo, TypeInfoVisitor, Visitor, get_named_type, is_leaf_type, parse, visit
from sqlalchemy import event
from strawberry import Schema
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache

from bench.operations import Operation
from prism.db.engine import build_engine
from prism.db.unit_of_work import UnitOfWork

__all__ = ["CacheCheck", "async_leaf_fields", "check_caches", "pool_release_statements", "selected_fields"]

CACHE_SIZE = 512
"""The maxsize resolvers/schema.py gives both caches: Strawberry keeps one cache per maxsize."""


@dataclass(frozen=True)
class CacheCheck:
    """Whether a repeated document was a cache hit in each cache."""

    parser_hit: bool
    validation_hit: bool


async def check_caches(schema: Schema) -> CacheCheck:
    """Run a fresh document twice and see whether the second run was served from the caches."""
    query = f"query BenchCacheCheck_{secrets.token_hex(4)} {{ __typename }}"
    # Both are functools.lru_cache wrappers, typed as plain callables by Strawberry.
    parse_cache: Any = _get_parse_cache(CACHE_SIZE)
    validate_cache: Any = _get_validate_cache(CACHE_SIZE)
    await schema.execute(query)
    parse_hits, validate_hits = parse_cache.cache_info().hits, validate_cache.cache_info().hits
    await schema.execute(query)
    return CacheCheck(
        parser_hit=parse_cache.cache_info().hits > parse_hits,
        validation_hit=validate_cache.cache_info().hits > validate_hits,
    )


async def pool_release_statements(database_url: str, *, reset_on_return: bool) -> dict[str, int]:
    """Every statement asyncpg sends for one request-shaped read (borrow, read, roll back, release), counted."""
    engine = build_engine(database_url, pool_size=1, max_overflow=0, reset_on_return=reset_on_return)
    sent: list[str] = []
    recording = False

    def record(text: str) -> None:
        if recording:
            sent.append(" ".join(text.split()))

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Transaction control and resets go through asyncpg's simple query protocol, which its query logger sees;
        # SQLAlchemy's own statements run as prepared statements, which the cursor event sees.
        dbapi_connection.driver_connection.add_query_logger(lambda logged: record(logged.query))

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        record(statement)

    async def one_read() -> None:
        reader = UnitOfWork(engine, uuid.uuid4())
        await reader.scalar(sa.select(sa.literal(1)))
        await reader.close()
        for _ in range(3):  # the query logger reports through loop.call_soon
            await asyncio.sleep(0)

    try:
        await one_read()  # connects; asyncpg's type introspection is not part of a release
        recording = True
        await one_read()
    finally:
        await engine.dispose()
    return dict(Counter(sent))


def async_leaf_fields(schema: Schema) -> list[str]:
    """`Type.field` for every scalar or enum field whose resolver is async."""
    found = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        definition = schema.get_type_by_name(name)
        for field in getattr(definition, "fields", []):
            field_name = schema.config.name_converter.get_graphql_name(field)
            graphql_field = graphql_type.fields.get(field_name)
            if graphql_field is not None and field.is_async and is_leaf_type(get_named_type(graphql_field.type)):
                found.append(f"{name}.{field_name}")
    return sorted(found)


def selected_fields(schema: Schema, operation: Operation) -> set[str]:
    """`Type.field` for every field the operation selects."""
    type_info = TypeInfo(schema._schema)
    fields: set[str] = set()

    class Collect(Visitor):
        def enter_field(self, node: Any, *args: Any) -> None:
            parent = type_info.get_parent_type()
            if parent is not None:
                fields.add(f"{parent.name}.{node.name.value}")

    visit(parse(operation.query), TypeInfoVisitor(type_info, Collect()))
    return fields
