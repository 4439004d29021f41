"""The lists PRISM can page through: which table, under which parent, with which filters and sort fields."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from loaders.pagination import ListSource
from prism.db.access_tables import ApiKey, Invitation, ProductMember
from prism.db.report_tables import Report
from prism.db.tables import (
    Attachment,
    Comment,
    DeletedRequirement,
    Document,
    DocumentVersion,
    Label,
    Membership,
    Product,
    Release,
    Requirement,
    RequirementEvent,
    RequirementLabel,
    Roadmap,
    RoadmapItem,
    Sprint,
    Team,
)

__all__ = [
    "API_KEYS_BY_ORGANIZATION",
    "ATTACHMENTS_BY_COMMENT",
    "ATTACHMENTS_BY_DOCUMENT",
    "ATTACHMENTS_BY_REQUIREMENT",
    "COMMENTS_BY_DOCUMENT",
    "COMMENTS_BY_REQUIREMENT",
    "DELETED_REQUIREMENTS_BY_ORGANIZATION",
    "DELETED_REQUIREMENTS_BY_PRODUCT",
    "DOCUMENTS_BY_PRODUCT",
    "DOCUMENT_VERSIONS_BY_DOCUMENT",
    "EVENTS_BY_REQUIREMENT",
    "INVITATIONS_BY_ORGANIZATION",
    "LABELS_BY_ORGANIZATION",
    "MEMBERS_BY_ORGANIZATION",
    "PRODUCTS_BY_ORGANIZATION",
    "PRODUCT_ROLES_BY_PRODUCT",
    "RELEASES_BY_PRODUCT",
    "REPORTS_BY_ORGANIZATION",
    "REQUIREMENTS_BY_ORGANIZATION",
    "REQUIREMENTS_BY_PARENT",
    "REQUIREMENTS_BY_PRODUCT",
    "REQUIREMENTS_BY_RELEASE",
    "REQUIREMENTS_BY_SPRINT",
    "ROADMAPS_BY_PRODUCT",
    "ROADMAP_ITEMS_BY_ROADMAP",
    "SPRINTS_BY_PRODUCT",
    "TEAMS_BY_ORGANIZATION",
    "ApiKeyListFilter",
    "DeletedSinceFilter",
    "DocumentListFilter",
    "NoFilter",
    "ProductListFilter",
    "RequirementListFilter",
    "StateListFilter",
    "TimeFilter",
    "time_conditions",
]


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


@dataclass(frozen=True)
class NoFilter:
    """A list without filters."""


def _no_filter(table: sa.Table, _: Any) -> list[sa.ColumnElement[bool]]:
    return []


@dataclass(frozen=True)
class TimeFilter:
    """Creation and change time ranges, each end exclusive and optional: what an incremental sync asks for."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None


def time_conditions(table: sa.Table, f: TimeFilter) -> list[sa.ColumnElement[bool]]:
    """The conditions of a time filter on a table with `created_at` (and `updated_at`, when it is asked for)."""
    conditions: list[sa.ColumnElement[bool]] = []
    for column, after, before in (
        ("created_at", f.created_after, f.created_before),
        ("updated_at", f.updated_after, f.updated_before),
    ):
        if after is not None:
            conditions.append(table.c[column] > after)
        if before is not None:
            conditions.append(table.c[column] < before)
    return conditions


def _time_where(table: sa.Table, f: TimeFilter | NoFilter) -> list[sa.ColumnElement[bool]]:
    return time_conditions(table, f) if isinstance(f, TimeFilter) else []


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class ProductListFilter:
    """Which products to list."""

    include_archived: bool = False
    search: str | None = None
    times: TimeFilter = TimeFilter()


def _product_where(table: sa.Table, f: ProductListFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if not f.include_archived:
        conditions.append(table.c.archived_at.is_(None))
    if f.search:
        pattern = f"%{_escape_like(f.search)}%"
        conditions.append(sa.or_(table.c.name.ilike(pattern), table.c.key.ilike(pattern)))
    return conditions + time_conditions(table, f.times)


@dataclass(frozen=True)
class RequirementListFilter:
    """Which requirements to list; each tuple is an OR of values, fields combine with AND."""

    product_ids: tuple[UUID, ...] = ()
    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    assignee_ids: tuple[UUID, ...] = ()
    unassigned: bool | None = None
    sprint_ids: tuple[UUID, ...] = ()
    no_sprint: bool | None = None
    release_ids: tuple[UUID, ...] = ()
    label_ids: tuple[UUID, ...] = ()
    parent_ids: tuple[UUID, ...] = ()
    top_level: bool | None = None
    search: str | None = None
    times: TimeFilter = TimeFilter()


def _requirement_where(table: sa.Table, f: RequirementListFilter) -> list[sa.ColumnElement[bool]]:
    c = table.c
    conditions: list[sa.ColumnElement[bool]] = []
    for column, values in (
        (c.product_id, f.product_ids),
        (c.status, f.statuses),
        (c.kind, f.kinds),
        (c.priority, f.priorities),
        (c.release_id, f.release_ids),
        (c.parent_id, f.parent_ids),
    ):
        if values:
            conditions.append(column.in_(values))
    assignee = []
    if f.assignee_ids:
        assignee.append(c.assignee_id.in_(f.assignee_ids))
    if f.unassigned:
        assignee.append(c.assignee_id.is_(None))
    if assignee:
        conditions.append(sa.or_(*assignee))
    sprint = []
    if f.sprint_ids:
        sprint.append(c.sprint_id.in_(f.sprint_ids))
    if f.no_sprint:
        sprint.append(c.sprint_id.is_(None))
    if sprint:
        conditions.append(sa.or_(*sprint))
    if f.top_level is not None:
        conditions.append(c.parent_id.is_(None) if f.top_level else c.parent_id.is_not(None))
    # Time ranges: `after` is exclusive (what changed since the last sync's newest updatedAt), `before` too.
    conditions += time_conditions(table, f.times)
    if f.label_ids:
        link = _table(RequirementLabel)
        conditions.append(
            sa.exists().where(
                link.c.requirement_id == c.id,
                link.c.organization_id == c.organization_id,
                link.c.label_id.in_(f.label_ids),
            )
        )
    if f.search:
        pattern = f"%{_escape_like(f.search)}%"
        conditions.append(sa.or_(c.title.ilike(pattern), c.description.ilike(pattern)))
    return conditions


# Ordered by urgency: descending puts URGENT first, as in Linear; NONE (not yet prioritised) is the lowest.
_PRIORITY_ORDER = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "URGENT": 4}

_REQUIREMENT_ORDER = {
    "RANK": lambda t: t.c.rank,
    "CREATED_AT": lambda t: t.c.created_at,
    "UPDATED_AT": lambda t: t.c.updated_at,
    "NUMBER": lambda t: t.c.number,
    "TITLE": lambda t: t.c.title,
    "PRIORITY": lambda t: sa.case(_PRIORITY_ORDER, value=t.c.priority, else_=-1),
    "ESTIMATE": lambda t: sa.func.coalesce(t.c.estimate, -1.0),
}


def _requirements(name: str, parent_column: str) -> ListSource:
    return ListSource(
        name=name,
        table=_table(Requirement),
        parent_column=parent_column,
        order_fields=_REQUIREMENT_ORDER,
        where=_requirement_where,
    )


PRODUCTS_BY_ORGANIZATION = ListSource(
    name="products",
    table=_table(Product),
    parent_column="organization_id",
    order_fields={
        "NAME": lambda t: t.c.name,
        "KEY": lambda t: t.c.key,
        "CREATED_AT": lambda t: t.c.created_at,
        "UPDATED_AT": lambda t: t.c.updated_at,
    },
    where=_product_where,
)
REQUIREMENTS_BY_ORGANIZATION = _requirements("requirements", "organization_id")
REQUIREMENTS_BY_PRODUCT = _requirements("requirements_by_product", "product_id")
REQUIREMENTS_BY_PARENT = _requirements("requirements_by_parent", "parent_id")
REQUIREMENTS_BY_SPRINT = _requirements("requirements_by_sprint", "sprint_id")
REQUIREMENTS_BY_RELEASE = _requirements("requirements_by_release", "release_id")


def _simple(name: str, model: Any, parent_column: str, **order: Any) -> ListSource:
    return ListSource(name=name, table=_table(model), parent_column=parent_column, order_fields=order, where=_no_filter)


def _timed(name: str, model: Any, parent_column: str, **order: Any) -> ListSource:
    """A list filtered by nothing but a TimeFilter (or NoFilter)."""
    return ListSource(
        name=name, table=_table(model), parent_column=parent_column, order_fields=order, where=_time_where
    )


@dataclass(frozen=True)
class StateListFilter:
    """Which sprints or releases to list: those in any of `states` (every state when empty)."""

    states: tuple[str, ...] = ()
    times: TimeFilter = TimeFilter()


def _state_where(table: sa.Table, f: StateListFilter | NoFilter) -> list[sa.ColumnElement[bool]]:
    if not isinstance(f, StateListFilter):
        return []
    return ([table.c.state.in_(f.states)] if f.states else []) + time_conditions(table, f.times)


SPRINTS_BY_PRODUCT = ListSource(
    name="sprints",
    table=_table(Sprint),
    parent_column="product_id",
    order_fields={
        "CREATED_AT": lambda t: t.c.created_at,
        "STARTS_ON": lambda t: sa.func.coalesce(t.c.starts_on, sa.cast(sa.literal("9999-12-31"), sa.Date)),
    },
    where=_state_where,
)
RELEASES_BY_PRODUCT = ListSource(
    name="releases",
    table=_table(Release),
    parent_column="product_id",
    order_fields={
        "CREATED_AT": lambda t: t.c.created_at,
        "TARGET_DATE": lambda t: sa.func.coalesce(t.c.target_date, sa.cast(sa.literal("9999-12-31"), sa.Date)),
    },
    where=_state_where,
)
ROADMAPS_BY_PRODUCT = _timed("roadmaps", Roadmap, "product_id", CREATED_AT=lambda t: t.c.created_at)
ROADMAP_ITEMS_BY_ROADMAP = _timed("roadmap_items", RoadmapItem, "roadmap_id", RANK=lambda t: t.c.rank)


@dataclass(frozen=True)
class DocumentListFilter:
    """Which documents to list: of any of `kinds` and in any of `statuses` (each unrestricted when empty)."""

    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    times: TimeFilter = TimeFilter()


def _document_where(table: sa.Table, f: DocumentListFilter | NoFilter) -> list[sa.ColumnElement[bool]]:
    if not isinstance(f, DocumentListFilter):
        return []
    conditions: list[sa.ColumnElement[bool]] = []
    if f.kinds:
        conditions.append(table.c.kind.in_(f.kinds))
    if f.statuses:
        conditions.append(table.c.status.in_(f.statuses))
    return conditions + time_conditions(table, f.times)


DOCUMENTS_BY_PRODUCT = ListSource(
    name="documents",
    table=_table(Document),
    parent_column="product_id",
    order_fields={"UPDATED_AT": lambda t: t.c.updated_at, "CREATED_AT": lambda t: t.c.created_at},
    where=_document_where,
)
DOCUMENT_VERSIONS_BY_DOCUMENT = _simple(
    "document_versions", DocumentVersion, "document_id", NUMBER=lambda t: t.c.number
)
COMMENTS_BY_REQUIREMENT = _timed(
    "comments_by_requirement", Comment, "requirement_id", CREATED_AT=lambda t: t.c.created_at
)
COMMENTS_BY_DOCUMENT = _timed("comments_by_document", Comment, "document_id", CREATED_AT=lambda t: t.c.created_at)
ATTACHMENTS_BY_REQUIREMENT = _simple(
    "attachments_by_requirement", Attachment, "requirement_id", CREATED_AT=lambda t: t.c.created_at
)
ATTACHMENTS_BY_COMMENT = _simple(
    "attachments_by_comment", Attachment, "comment_id", CREATED_AT=lambda t: t.c.created_at
)
ATTACHMENTS_BY_DOCUMENT = _simple(
    "attachments_by_document", Attachment, "document_id", CREATED_AT=lambda t: t.c.created_at
)
EVENTS_BY_REQUIREMENT = _simple(
    "requirement_events", RequirementEvent, "requirement_id", CREATED_AT=lambda t: t.c.created_at
)
LABELS_BY_ORGANIZATION = _timed("labels", Label, "organization_id", NAME=lambda t: t.c.name)


@dataclass(frozen=True)
class ApiKeyListFilter:
    """Which API keys to list: live ones only, unless `include_revoked`."""

    include_revoked: bool = False


def _api_key_where(table: sa.Table, f: ApiKeyListFilter) -> list[sa.ColumnElement[bool]]:
    return [] if f.include_revoked else [table.c.revoked_at.is_(None)]


API_KEYS_BY_ORGANIZATION = ListSource(
    name="api_keys",
    table=_table(ApiKey),
    parent_column="organization_id",
    order_fields={"CREATED_AT": lambda t: t.c.created_at},
    where=_api_key_where,
)

MEMBERS_BY_ORGANIZATION = _timed(
    "members", Membership, "organization_id", JOINED_AT=lambda t: t.c.created_at, ROLE=lambda t: t.c.role
)
REPORTS_BY_ORGANIZATION = _simple("reports", Report, "organization_id", CREATED_AT=lambda t: t.c.created_at)
TEAMS_BY_ORGANIZATION = _timed("teams", Team, "organization_id", NAME=lambda t: t.c.name)
PRODUCT_ROLES_BY_PRODUCT = _simple("product_roles", ProductMember, "product_id", CREATED_AT=lambda t: t.c.created_at)


def _pending_where(table: sa.Table, _: Any) -> list[sa.ColumnElement[bool]]:
    return [table.c.accepted_at.is_(None), table.c.revoked_at.is_(None), table.c.expires_at > sa.func.now()]


INVITATIONS_BY_ORGANIZATION = ListSource(
    name="invitations",
    table=_table(Invitation),
    parent_column="organization_id",
    order_fields={"CREATED_AT": lambda t: t.c.created_at},
    where=_pending_where,
)
"""Pending invitations only: neither accepted, revoked nor expired."""


@dataclass(frozen=True)
class DeletedSinceFilter:
    """Tombstones of requirements deleted strictly after `since` (all that are kept when None)."""

    since: datetime | None = None


def _deleted_where(table: sa.Table, f: DeletedSinceFilter) -> list[sa.ColumnElement[bool]]:
    return [] if f.since is None else [table.c.deleted_at > f.since]


def _deleted_requirements(name: str, parent_column: str) -> ListSource:
    return ListSource(
        name=name,
        table=_table(DeletedRequirement),
        parent_column=parent_column,
        order_fields={"DELETED_AT": lambda t: t.c.deleted_at},
        where=_deleted_where,
    )


DELETED_REQUIREMENTS_BY_ORGANIZATION = _deleted_requirements("deleted_requirements", "organization_id")
DELETED_REQUIREMENTS_BY_PRODUCT = _deleted_requirements("deleted_requirements_by_product", "product_id")
