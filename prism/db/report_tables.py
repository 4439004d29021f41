"""Reports of sprints and releases (prism.jobs.reports): one row per report asked for, its file in object storage."""

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from prism.db.base import created_at_field, enum_check, tenant_fk, timestamp_field, uuid_pk
from prism.domain.reports import ReportFormat, ReportKind, ReportState

__all__ = ["REPORT_TENANT_TABLES", "Report"]

REPORT_TENANT_TABLES = ("report",)
"""The report tables whose rows belong to one organization (row-level security, migration 0022)."""


class Report(SQLModel, table=True):
    """A sprint or release report asked for by a member: its state, and once READY, its file's key, size and sha256.

    `subject_id` is the sprint or the release (by `kind`); no foreign key, so a report outlives its subject's
    deletion as a record, and a job that finds the subject gone fails the report with a reason.
    """

    __table_args__ = (
        sa.Index("ix_report_organization_id_created_at", "organization_id", "created_at"),
        enum_check("kind", ReportKind, "kind"),
        enum_check("format", ReportFormat, "format"),
        enum_check("state", ReportState, "state"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    kind: str = Field(max_length=16)
    format: str = Field(max_length=8)
    subject_id: UUID
    state: str = Field(default=ReportState.QUEUED.value, max_length=16)
    object_key: str | None = Field(default=None, max_length=255)
    file_name: str | None = Field(default=None, max_length=255)
    size: int | None = Field(default=None, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    sha256: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=1000)
    attempts: int = Field(default=0)
    requested_by_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    started_at: datetime | None = timestamp_field()
    finished_at: datetime | None = timestamp_field()
