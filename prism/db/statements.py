"""Statements built once and kept: SQLAlchemy's constructors cost more CPU than PostgreSQL spends running the
small batched selects the loaders send, so a loader builds each shape of statement once and binds what changes
(a batch's keys, as one array) at execution."""

from collections.abc import Callable, Hashable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = ["any_of", "kept"]

_KEPT: dict[Hashable, Any] = {}
_LIMIT = 1024


def kept(key: Hashable, build: Callable[[], Any]) -> Any:
    """The statement kept for `key`, built by `build` the first time (at most a bounded number; oldest out first).

    `key` must name everything the statement bakes in, the organization of a tenant select included.
    """
    statement = _KEPT.get(key)
    if statement is None:
        statement = build()
        if len(_KEPT) >= _LIMIT:
            del _KEPT[next(iter(_KEPT))]
        _KEPT[key] = statement
    return statement


def any_of(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[bool]:
    """`column = ANY(:name)`, the values bound as one array: the SQL text stays the same whatever their number, so
    asyncpg prepares it once per connection (an `IN` list is a new statement for each length)."""
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
