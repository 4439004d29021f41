"""Loaders of rows by primary key and of small related lists, one class per key shape."""

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader
from sqlalchemy.dialects import postgresql

from prism.db.access_tables import Invitation
from prism.db.report_tables import Report
from prism.db.statements import any_of, kept
from prism.db.tables import (
    Attachment,
    Comment,
    Document,
    DocumentVersion,
    Label,
    Membership,
    Organization,
    Product,
    Release,
    Requirement,
    RequirementEvent,
    RequirementLabel,
    Roadmap,
    RoadmapItem,
    Sprint,
    Team,
    User,
)
from prism.db.tenancy import tenant_select, unit_organization
from prism.db.unit_of_work import UnitOfWork

__all__ = [
    "AttachmentByIdLoader",
    "ChildCountByRequirementLoader",
    "CommentByIdLoader",
    "DocumentByIdLoader",
    "DocumentVersionByIdLoader",
    "InvitationByIdLoader",
    "LabelByIdLoader",
    "LabelsByRequirementLoader",
    "MembershipsByUserLoader",
    "OrganizationByIdLoader",
    "ProductByIdLoader",
    "ProductByKeyLoader",
    "ReleaseByIdLoader",
    "ReportByIdLoader",
    "RequirementByIdLoader",
    "RequirementByKeyLoader",
    "RequirementEventByIdLoader",
    "RoadmapByIdLoader",
    "RoadmapItemByIdLoader",
    "RowByIdLoader",
    "RowLoader",
    "SprintByIdLoader",
    "TeamByIdLoader",
    "UserByIdLoader",
]

Row = sa.Row[Any]
"""A row of a Core select: columns by attribute, as SQLAlchemy returns them."""

KeyT = TypeVar("KeyT", bound=Hashable)


class RowLoader(DataLoader[KeyT, Row | None]):
    """Rows of a tenant table by a key, in key order, None for keys that match nothing visible.

    `columns` names the columns the rows need (those the GraphQL type built from them declares), and the loader
    reads those, with what it keys on, and no others; without `columns` it reads every column. The request's
    Loaders builds one loader per class and column set (`Loaders.rows`).
    """

    def __init__(self, reader: UnitOfWork, organization_id: UUID, columns: Sequence[str] = ()) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id
        self.columns = tuple(columns)

    def _read(self, table: sa.Table, *always: str) -> list[sa.Column[Any]]:
        """The columns of `table` to select: `always` and the ones asked for, or all of them."""
        return _columns(table, self.columns, always)

    key_column: ClassVar[str] = "id"
    """The column of a row that holds the loader's key (`by_ids` reads rows by it)."""

    def by_ids(self) -> sa.Select[Any] | None:
        """The kept statement this loader reads rows by key with (the keys bound as the array `:ids`, each row's key
        in `key_column`), for a batch of the planned executor's own (`UnitOfWork.driver_rows`); None when it has
        none."""
        return None

    @classmethod
    def for_key(cls, columns: tuple[str, ...], key: sa.ColumnElement[Any]) -> sa.Select[Any] | None:
        """The select of `by_ids` (for a loader of these `columns`) for the one id in `key`, a column of another
        statement's rows, instead of the array `:ids`: what the planned executor joins into a list's statement
        (`LEFT JOIN LATERAL`), so the rows a page's to-one relation needs come with the page, the same rows in the
        same scope. A class method: a kept statement's key may hold it, and must hold no request's loader. None
        when the loader has none."""
        return None


class RowByIdLoader(RowLoader[UUID]):
    """Rows of one tenant table (`table`, set by each subclass) by id."""

    table: ClassVar[sa.Table]

    def _statement(self) -> sa.Select[Any]:
        return self._select(self.columns).where(any_of(self.table.c.id, "ids"))

    @classmethod
    def _select(cls, columns: tuple[str, ...]) -> sa.Select[Any]:
        read = _columns(cls.table, columns, ("id",))
        statement: sa.Select[Any] = tenant_select(cls.table, unit_organization(), *read)
        return statement

    @classmethod
    def for_key(cls, columns: tuple[str, ...], key: sa.ColumnElement[Any]) -> sa.Select[Any]:
        return cls._select(columns).where(cls.table.c.id == key)

    def by_ids(self) -> sa.Select[Any]:
        statement: sa.Select[Any] = kept(("by id", self.table, self.columns), self._statement)
        return statement

    async def batch_load_fn(self, ids: Sequence[UUID]) -> list[Row | None]:
        by_id = {row.id: row for row in await self._reader.all(self.by_ids(), {"ids": list(ids)})}
        return [by_id.get(i) for i in ids]


def _columns(table: sa.Table, columns: tuple[str, ...], always: tuple[str, ...]) -> list[sa.Column[Any]]:
    """The columns of `table` to select: `always` and `columns`, or all of them when `columns` is empty."""
    if not columns:
        return list(table.c)
    return [table.c[name] for name in dict.fromkeys((*always, *columns))]


def _table(model: type) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


class ProductByIdLoader(RowByIdLoader):
    """Products by id."""

    table = _table(Product)


class SprintByIdLoader(RowByIdLoader):
    """Sprints by id."""

    table = _table(Sprint)


class ReleaseByIdLoader(RowByIdLoader):
    """Releases by id."""

    table = _table(Release)


class LabelByIdLoader(RowByIdLoader):
    """Labels by id."""

    table = _table(Label)


class RoadmapByIdLoader(RowByIdLoader):
    """Roadmaps by id."""

    table = _table(Roadmap)


class RoadmapItemByIdLoader(RowByIdLoader):
    """Roadmap items by id."""

    table = _table(RoadmapItem)


class DocumentByIdLoader(RowByIdLoader):
    """Documents by id."""

    table = _table(Document)


class DocumentVersionByIdLoader(RowByIdLoader):
    """Saved versions of documents by id."""

    table = _table(DocumentVersion)


class AttachmentByIdLoader(RowByIdLoader):
    """Attachments by id."""

    table = _table(Attachment)


class ReportByIdLoader(RowByIdLoader):
    """Reports by id."""

    table = _table(Report)


class CommentByIdLoader(RowByIdLoader):
    """Comments by id."""

    table = _table(Comment)


class RequirementEventByIdLoader(RowByIdLoader):
    """Entries of requirements' history by id."""

    table = _table(RequirementEvent)


class TeamByIdLoader(RowByIdLoader):
    """Teams by id."""

    table = _table(Team)


class InvitationByIdLoader(RowByIdLoader):
    """Invitations by id."""

    table = _table(Invitation)


class UserByIdLoader(RowLoader[UUID]):
    """Users by id, limited to members of the request's organization (without `columns`: the user's id, email,
    name and creation time, and the role of their membership)."""

    def by_ids(self) -> sa.Select[Any]:
        statement: sa.Select[Any] = kept(("users by id", self.columns), self._statement)
        return statement

    async def batch_load_fn(self, ids: Sequence[UUID]) -> list[Row | None]:
        by_id = {row.id: row for row in await self._reader.all(self.by_ids(), {"ids": list(ids)})}
        return [by_id.get(i) for i in ids]

    def _statement(self) -> sa.Select[Any]:
        user = User.__table__  # type: ignore[attr-defined]
        return self._select(self.columns).where(any_of(user.c.id, "ids"))

    @staticmethod
    def _select(columns: tuple[str, ...]) -> sa.Select[Any]:
        user = User.__table__  # type: ignore[attr-defined]
        membership = Membership.__table__  # type: ignore[attr-defined]
        read = (
            [user.c[name] for name in dict.fromkeys(("id", *columns))]
            if columns
            else [user.c.id, user.c.email, user.c.name, user.c.created_at, membership.c.role]
        )
        statement: sa.Select[Any] = tenant_select(membership, unit_organization(), *read)
        return statement.join(user, user.c.id == membership.c.user_id)

    @classmethod
    def for_key(cls, columns: tuple[str, ...], key: sa.ColumnElement[Any]) -> sa.Select[Any]:
        user = User.__table__  # type: ignore[attr-defined]
        return cls._select(columns).where(user.c.id == key)


class OrganizationByIdLoader(RowLoader[UUID]):
    """Organizations by id; only the request's own organization is visible."""

    async def batch_load_fn(self, ids: Sequence[UUID]) -> list[Row | None]:
        table = Organization.__table__  # type: ignore[attr-defined]
        wanted = [i for i in ids if i == self._organization_id]
        if not wanted:
            return [None for _ in ids]
        rows = await self._reader.all(tenant_select(table, self._organization_id, *self._read(table, "id")))
        by_id = {row.id: row for row in rows}
        return [by_id.get(i) for i in ids]


class MembershipsByUserLoader(DataLoader[UUID, list[Row]]):
    """The organizations a user belongs to, with their role in each (the viewer's own list only)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader

    async def batch_load_fn(self, user_ids: Sequence[UUID]) -> list[list[Row]]:
        membership = Membership.__table__  # type: ignore[attr-defined]
        organization = Organization.__table__  # type: ignore[attr-defined]
        statement = (
            sa.select(membership.c.user_id, membership.c.role, organization)  # unscoped: the viewer's own, across orgs
            .join(organization, organization.c.id == membership.c.organization_id)
            .where(membership.c.user_id.in_(user_ids))
            .order_by(membership.c.created_at)
        )
        grouped: dict[UUID, list[Row]] = defaultdict(list)
        for row in await self._reader.all(statement):
            grouped[row.user_id].append(row)
        return [grouped.get(i, []) for i in user_ids]


class LabelsByRequirementLoader(DataLoader[UUID, list[Row]]):
    """The labels on each requirement, by name, read with `columns` (the Label type's declared ones) or all."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID, columns: Sequence[str] = ()) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id
        self.columns = tuple(columns)

    def _statement(self) -> sa.Select[Any]:
        link = RequirementLabel.__table__  # type: ignore[attr-defined]
        label = Label.__table__  # type: ignore[attr-defined]
        read = [label.c[name] for name in dict.fromkeys(("id", *self.columns))] if self.columns else list(label.c)
        statement: sa.Select[Any] = (
            tenant_select(link, unit_organization(), link.c.requirement_id, *read)
            .join(label, label.c.id == link.c.label_id)
            .where(any_of(link.c.requirement_id, "ids"))
            .order_by(link.c.requirement_id, label.c.name)
        )
        return statement

    list_key = "requirement_id"
    """The column of `lists_by_ids`' rows that names the requirement each belongs to."""

    def lists_by_ids(self) -> sa.Select[Any]:
        """The kept statement of the labels of the requirements bound as `:ids`, each row with its `requirement_id`,
        grouped by it and by name within each (for the planned executor's own batch)."""
        key = ("labels by requirement", self.columns)
        statement: sa.Select[Any] = kept(key, self._statement)
        return statement

    async def batch_load_fn(self, requirement_ids: Sequence[UUID]) -> list[list[Row]]:
        grouped: dict[UUID, list[Row]] = defaultdict(list)
        for row in await self._reader.all(self.lists_by_ids(), {"ids": list(requirement_ids)}):
            grouped[row.requirement_id].append(row)
        return [grouped.get(i, []) for i in requirement_ids]


class ChildCountByRequirementLoader(DataLoader[UUID, int]):
    """How many direct children each requirement has."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    def _statement(self) -> sa.Select[Any]:
        table = Requirement.__table__  # type: ignore[attr-defined]
        parent, total = table.c.parent_id.label("parent"), sa.func.count().label("total")
        statement: sa.Select[Any] = (
            tenant_select(table, unit_organization(), parent, total)
            .where(any_of(table.c.parent_id, "ids"))
            .group_by(table.c.parent_id)
        )
        return statement

    def counts_by_ids(self) -> sa.Select[Any]:
        """The kept statement of the counts of the requirements bound as `:ids`: a row for each that has children,
        `parent` and `total` (for the planned executor's own batch)."""
        statement: sa.Select[Any] = kept(("child counts",), self._statement)
        return statement

    async def batch_load_fn(self, requirement_ids: Sequence[UUID]) -> list[int]:
        rows = await self._reader.all(self.counts_by_ids(), {"ids": list(requirement_ids)})
        counts = {row.parent: row.total for row in rows}
        return [counts.get(i, 0) for i in requirement_ids]


class RequirementByIdLoader(RowLoader[UUID]):
    """Requirements by id, each with its product's key as `_product_key`: a requirement reached through a relation
    (a parent, the subject of a history event) then knows its human key without another load."""

    async def batch_load_fn(self, ids: Sequence[UUID]) -> list[Row | None]:
        requirement = Requirement.__table__  # type: ignore[attr-defined]
        product = Product.__table__  # type: ignore[attr-defined]
        read = self._read(requirement, "id")
        statement = (
            tenant_select(requirement, self._organization_id, *read, product.c.key.label("_product_key"))
            .join(product, product.c.id == requirement.c.product_id)
            .where(requirement.c.id.in_(ids))
        )
        by_id = {row.id: row for row in await self._reader.all(statement)}
        return [by_id.get(i) for i in ids]


class RequirementByKeyLoader(RowLoader[tuple[str, int]]):
    """Requirements by human key, given as (product key, number), each with its product's key as `_product_key`."""

    async def batch_load_fn(self, keys: Sequence[tuple[str, int]]) -> list[Row | None]:
        requirement = Requirement.__table__  # type: ignore[attr-defined]
        product = Product.__table__  # type: ignore[attr-defined]
        read = self._read(requirement, "id", "number")
        statement = (
            tenant_select(requirement, self._organization_id, *read, product.c.key.label("_product_key"))
            .join(product, product.c.id == requirement.c.product_id)
            .where(sa.tuple_(product.c.key, requirement.c.number).in_(list(keys)))
        )
        by_key = {(row._product_key, row.number): row for row in await self._reader.all(statement)}
        return [by_key.get(k) for k in keys]


class ProductByKeyLoader(RowLoader[str]):
    """Products by key (like PRISM)."""

    key_column = "key"

    def _statement(self) -> sa.Select[Any]:
        table = Product.__table__  # type: ignore[attr-defined]
        statement: sa.Select[Any] = tenant_select(table, unit_organization(), *self._read(table, "id", "key"))
        # The keys bound as one text array, not varchar: asyncpg knows text[] without asking PostgreSQL (a varchar
        # array would cost a type introspection per connection), and `key = ANY(text[])` uses the key's index. One
        # text whatever the number of keys, so the planned executor's driver reads it too (`by_ids`).
        return statement.where(table.c.key == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.Text))))

    def by_ids(self) -> sa.Select[Any]:
        # Built once per column set, for every organization (what a one-product query costs is mostly fixed:
        # building this statement again for each request was a third of it).
        statement: sa.Select[Any] = kept(("products by key", self.columns), self._statement)
        return statement

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Row | None]:
        by_key = {row.key: row for row in await self._reader.all(self.by_ids(), {"ids": list(keys)})}
        return [by_key.get(k) for k in keys]
