"""Feature adoption: the features a product ships and the usage events SDKs report for them (docs/analytics.md)."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from prism.db.base import created_at_field, tenant_fk, uuid_pk

__all__ = ["ADOPTION_TENANT_TABLES", "PROPERTIES_MAX_STORED_BYTES", "Feature", "UsageDay", "UsageEvent", "UsageUser"]

ADOPTION_TENANT_TABLES = ("feature", "usage_event", "usage_user", "usage_day")
"""The adoption tables: each belongs to one organization and gets row-level security (migrations 0023 and 0026)."""

PROPERTIES_MAX_STORED_BYTES = 16_384
"""The database's backstop on an event's properties as jsonb text, which spaces what compact JSON does not (at most
1.5 times longer): the configured limit on the compact form (PRISM_USAGE_EVENT_MAX_PROPERTIES_BYTES) is at most
half of it, so the check never fails a request."""


class Feature(SQLModel, table=True):
    """Something a product ships that people use, known to SDKs by its key, linked to the requirement that shipped
    it."""

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "product_id", "key"),
        sa.Index("ix_feature_organization_id_requirement_id", "organization_id", "requirement_id"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    requirement_id: UUID | None = Field(default=None, foreign_key="requirement.id", ondelete="SET NULL")
    key: str = Field(max_length=64)
    name: str = Field(max_length=120)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class UsageEvent(SQLModel, table=True):
    """One use of a feature by one (pseudonymous) user, as an SDK reported it; `event_id` makes reports idempotent."""

    __tablename__ = "usage_event"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "event_id"),
        sa.Index(
            "ix_usage_event_organization_id_feature_id_occurred_at", "organization_id", "feature_id", "occurred_at"
        ),
        sa.Index(
            "ix_usage_event_organization_id_product_id_occurred_at",
            "organization_id",
            "product_id",
            "occurred_at",
            # Covering: adoption reads the days a window cuts with an index-only scan.
            postgresql_include=["feature_id", "user_number"],
        ),
        sa.CheckConstraint(f"octet_length(properties::text) <= {PROPERTIES_MAX_STORED_BYTES}", name="properties_size"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    feature_id: UUID = Field(foreign_key="feature.id", ondelete="CASCADE")
    event_id: str = Field(max_length=128)
    user_key: str = Field(max_length=255)
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    received_at: datetime = created_at_field()
    properties: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    user_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=False))
    """The user's number in `usage_user` (given when the event is recorded), which the daily rollup holds."""


class UsageUser(SQLModel, table=True):
    """A number for each pseudonymous user an SDK reported in the organization, so rollups hold small integers."""

    __tablename__ = "usage_user"

    organization_id: UUID = Field(foreign_key="organization.id", ondelete="CASCADE", primary_key=True)
    user_key: str = Field(max_length=255, primary_key=True)
    number: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), nullable=False)
    )


class UsageDay(SQLModel, table=True):
    """One feature's usage on one UTC day: how many events and which users (sorted `usage_user` numbers).

    Kept in the transaction that records the events (only those newly recorded count), so it always equals what the
    day's events give; adoption reads it instead of the events (docs/analytics.md, "How adoption is computed").
    """

    __tablename__ = "usage_day"
    __table_args__ = (sa.Index("ix_usage_day_organization_id_product_id_day", "organization_id", "product_id", "day"),)

    organization_id: UUID = Field(foreign_key="organization.id", ondelete="CASCADE", primary_key=True)
    feature_id: UUID = Field(foreign_key="feature.id", ondelete="CASCADE", primary_key=True)
    day: date = Field(primary_key=True)
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    events: int
    user_numbers: list[int] = Field(sa_column=sa.Column(ARRAY(sa.BigInteger), nullable=False))
