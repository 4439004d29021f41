"""The tenant seam: the one door to tenant rows and to the rows a person owns.

Every select of loaders, services, auth and the seed starts here (`scripts/check_scoped_reads.py`, run by
`make lint`, rejects one that does not, unless its line says `# unscoped: <reason>`). Row-level security enforces
the same boundaries in PostgreSQL; this seam states them in the query, so a read is scoped even where the database
would not be (a superuser, a table without a policy) and a reviewer sees the scope at the call.

- `tenant_select(source, organization_id, *columns)`: rows of one organization. A tenant table is filtered on its
  `organization_id`; the `organization` table itself on its `id`.
- `user_select(source, user_id, *columns)`: rows one person owns (migration 0005). A table is filtered on its
  `user_id`; `app_user` on its `id`.

`source` is a SQLModel table class (services: `session.exec` returns typed results) or a Core `sa.Table` (loaders:
plain rows). Without `columns` the select reads the whole row (the model's instances, for a model); with them it
reads those columns or expressions from `source` (an aggregate, a join that starts from `source`).
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, overload
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.roles import TypedColumnsClauseRole
from sqlmodel import SQLModel, select
from sqlmodel.sql.expression import Select, SelectOfScalar

__all__ = ["UNIT_ORGANIZATION", "tenant_select", "unit_organization", "user_select"]

Model = TypeVar("Model", bound=SQLModel)
T0 = TypeVar("T0")
T1 = TypeVar("T1")
# What a SQLModel attribute looks like to the type checker (`Requirement.rank` is a `str`), as in `sqlmodel.select`.
Scalar = TypeVar("Scalar", sa.Column, Sequence, Mapping, UUID, datetime, float, int, bool, bytes, str, None)  # type: ignore[type-arg]
Typed = TypedColumnsClauseRole[T0] | SQLCoreOperations[T0] | type[T0]

ORGANIZATION_TABLE = "organization"
UNIT_ORGANIZATION = "unit_organization"
"""The bound parameter of `unit_organization()`, which the unit of work fills in when it runs a statement."""
USER_TABLE = "app_user"


def unit_organization() -> Any:
    """The organization of the unit of work that runs the statement, as a bound parameter: for `tenant_select` in a
    statement built once and kept for every organization (`prism.db.statements.kept`). `UnitOfWork.all` and
    `UnitOfWork.driver_rows` bind it to the organization of the scope they run the statement in, the one row-level
    security reads; any other way of running it fails for want of a value (none applied: it matches no row)."""
    return sa.bindparam(UNIT_ORGANIZATION)


def _organization_column(table: sa.Table) -> sa.ColumnElement[Any]:
    if table.name == ORGANIZATION_TABLE:
        return table.c.id
    if "organization_id" not in table.c:
        raise TypeError(f"{table.name} has no organization_id: it is not a tenant table")
    return table.c.organization_id


def _user_column(table: sa.Table) -> sa.ColumnElement[Any]:
    if table.name == USER_TABLE:
        return table.c.id
    if "user_id" not in table.c:
        raise TypeError(f"{table.name} has no user_id: start from the table that names its owner")
    return table.c.user_id


def _limited(
    source: type[SQLModel] | sa.Table, key: UUID, columns: tuple[Any, ...], column: Callable[[sa.Table], Any]
) -> Any:
    table: sa.Table
    if isinstance(source, sa.Table):
        table = source
        statement: Any = sa.select(*columns) if columns else sa.select(table)
    else:
        table = source.__table__  # type: ignore[attr-defined]
        statement = select(*columns) if columns else select(source)
    return statement.select_from(table).where(column(table) == key)


@overload
def tenant_select(source: type[Model], organization_id: UUID, /) -> SelectOfScalar[Model]: ...
@overload
def tenant_select(source: sa.Table, organization_id: UUID, /, *columns: Any) -> sa.Select[Any]: ...
@overload
def tenant_select(source: type[SQLModel], organization_id: UUID, column: Typed[T0], /) -> SelectOfScalar[T0]: ...
@overload
def tenant_select(source: type[SQLModel], organization_id: UUID, column: Scalar, /) -> SelectOfScalar[Scalar]: ...
@overload
def tenant_select(
    source: type[SQLModel], organization_id: UUID, first: Typed[T0], second: Typed[T1], /
) -> Select[T0, T1]: ...
@overload
def tenant_select(source: type[SQLModel], organization_id: UUID, /, *columns: Any) -> Select[*tuple[Any, ...]]: ...
def tenant_select(source: type[SQLModel] | sa.Table, organization_id: UUID, /, *columns: Any) -> Any:
    """A select of `columns` (default: the whole row) from `source`, limited to one organization's rows."""
    return _limited(source, organization_id, columns, _organization_column)


@overload
def user_select(source: type[Model], user_id: UUID, /) -> SelectOfScalar[Model]: ...
@overload
def user_select(source: sa.Table, user_id: UUID, /, *columns: Any) -> sa.Select[Any]: ...
@overload
def user_select(source: type[SQLModel], user_id: UUID, column: Typed[T0], /) -> SelectOfScalar[T0]: ...
@overload
def user_select(source: type[SQLModel], user_id: UUID, column: Scalar, /) -> SelectOfScalar[Scalar]: ...
@overload
def user_select(source: type[SQLModel], user_id: UUID, first: Typed[T0], second: Typed[T1], /) -> Select[T0, T1]: ...
@overload
def user_select(source: type[SQLModel], user_id: UUID, /, *columns: Any) -> Select[*tuple[Any, ...]]: ...
def user_select(source: type[SQLModel] | sa.Table, user_id: UUID, /, *columns: Any) -> Any:
    """A select of `columns` (default: the whole row) from `source`, limited to the rows one person owns."""
    return _limited(source, user_id, columns, _user_column)
