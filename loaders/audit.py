"""The audit log as a pageable list: an organization's entries, newest first, with the filters admins use."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from loaders.pagination import ListSource
from prism.db.access_tables import AuditLog

__all__ = ["AUDIT_LOG_BY_ORGANIZATION", "AuditListFilter"]


@dataclass(frozen=True)
class AuditListFilter:
    """Which entries to list; every given field narrows the list (`actions` is an OR of its values)."""

    actions: tuple[str, ...] = ()
    actor_id: UUID | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _audit_where(table: sa.Table, f: AuditListFilter) -> list[sa.ColumnElement[bool]]:
    c = table.c
    conditions: list[sa.ColumnElement[bool]] = []
    if f.actions:
        conditions.append(c.action.in_(f.actions))
    if f.actor_id is not None:
        conditions.append(c.actor_user_id == f.actor_id)
    if f.target_id is not None:
        conditions.append(c.target_id == f.target_id)
    if f.since is not None:
        conditions.append(c.created_at >= f.since)
    if f.until is not None:
        conditions.append(c.created_at < f.until)
    return conditions


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


AUDIT_LOG_BY_ORGANIZATION = ListSource(
    name="audit_log",
    table=_table(AuditLog),
    parent_column="organization_id",
    order_fields={"CREATED_AT": lambda t: t.c.created_at},
    where=_audit_where,
)
