"""The event log: every committed change to an organization's entities, in commit order (migration 0012).

`event` is the log and the outbox at once: a row is written in the transaction of the change it describes, numbered
by a sequence of its own organization, and marked `published_at` once the broker has it. `event_counter` hands out
the sequence: taking the next numbers locks the organization's counter row until the transaction ends, so numbers are
assigned in commit order and a reader that has seen number N never later finds a smaller one appear. That makes the
sequence a cursor subscriptions and integrations can resume from.
"""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from prism.db.base import created_at_field, tenant_fk, timestamp_field
from prism.domain.events import Action

__all__ = ["EVENT_TENANT_TABLES", "Event", "EventCounter"]

EVENT_TENANT_TABLES = ("event", "event_counter")


class Event(SQLModel, table=True):
    """One committed change to one entity (created, updated or removed), numbered within its organization."""

    __table_args__ = (
        sa.PrimaryKeyConstraint("organization_id", "sequence"),
        sa.Index("ix_event_organization_id_product_id_sequence", "organization_id", "product_id", "sequence"),
        sa.Index(
            "ix_event_unpublished", "organization_id", "sequence", postgresql_where=sa.text("published_at IS NULL")
        ),
        sa.Index("ix_event_occurred_at", "occurred_at"),
        sa.CheckConstraint(f"action IN ({', '.join(repr(a.value) for a in Action)})", name="action"),
    )

    organization_id: UUID = tenant_fk()
    sequence: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    id: UUID = Field(default_factory=uuid4, unique=True)
    type: str = Field(max_length=32)
    action: str = Field(max_length=8)
    version: int = Field(sa_type=sa.SmallInteger)  # type: ignore[call-overload]
    entity_id: UUID
    product_id: UUID | None = None
    actor_user_id: UUID | None = None
    actor_api_key_id: UUID | None = None
    payload: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    occurred_at: datetime = created_at_field()
    published_at: datetime | None = timestamp_field()


class EventCounter(SQLModel, table=True):
    """The last sequence number handed out to an organization's events."""

    __tablename__ = "event_counter"

    organization_id: UUID = Field(foreign_key="organization.id", ondelete="CASCADE", primary_key=True)
    last_sequence: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
