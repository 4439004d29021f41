"""SQLModel tables: the persistent shape of PRISM. Every tenant-owned table carries `organization_id`."""

from datetime import date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from prism.db.base import NAMING_CONVENTION, created_at_field, enum_check, tenant_fk, timestamp_field, uuid_pk
from prism.domain.enums import (
    DocumentKind,
    DocumentStatus,
    Priority,
    ReleaseState,
    RequirementEventKind,
    RequirementKind,
    RequirementStatus,
    Role,
    SprintState,
)

SQLModel.metadata.naming_convention = NAMING_CONVENTION

__all__ = [
    "AiPrompt",
    "AiRun",
    "Comment",
    "DeletedRequirement",
    "Document",
    "DocumentVersion",
    "Label",
    "Membership",
    "Organization",
    "Product",
    "Release",
    "Requirement",
    "RequirementEvent",
    "RequirementLabel",
    "Roadmap",
    "RoadmapItem",
    "Sprint",
    "SprintCommitment",
    "SprintFigures",
    "SprintSnapshot",
    "Team",
    "TeamMember",
    "User",
]

TENANT_TABLES = (
    "membership",
    "team",
    "team_member",
    "product",
    "label",
    "requirement",
    "requirement_label",
    "requirement_event",
    "deleted_requirement",
    "sprint",
    "sprint_commitment",
    "sprint_figures",
    "sprint_snapshot",
    "release",
    "roadmap",
    "roadmap_item",
    "document",
    "document_version",
    "comment",
    "ai_prompt",
)
"""Tables whose rows belong to one organization (and get row-level security)."""


class Organization(SQLModel, table=True):
    """A tenant: everything else belongs to exactly one organization."""

    id: UUID = uuid_pk()
    name: str = Field(max_length=120)
    slug: str = Field(max_length=64, unique=True)
    require_mfa: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = created_at_field()


class User(SQLModel, table=True):
    """A person who signs in; may belong to several organizations."""

    __tablename__ = "app_user"

    id: UUID = uuid_pk()
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=120)
    password_hash: str | None = Field(default=None, max_length=255)
    email_verified_at: datetime | None = timestamp_field()
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class Membership(SQLModel, table=True):
    """A user's role in an organization."""

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "user_id"),
        enum_check("role", Role, "role"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    user_id: UUID = Field(foreign_key="app_user.id", ondelete="CASCADE", index=True)
    role: str = Field(max_length=16)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Team(SQLModel, table=True):
    """A group of members that works together."""

    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=2000)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class TeamMember(SQLModel, table=True):
    """A user's place in a team."""

    __tablename__ = "team_member"
    __table_args__ = (sa.Index("ix_team_member_organization_id_user_id", "organization_id", "user_id"),)

    organization_id: UUID = tenant_fk()
    team_id: UUID = Field(foreign_key="team.id", ondelete="CASCADE", primary_key=True)
    user_id: UUID = Field(foreign_key="app_user.id", ondelete="CASCADE", primary_key=True)
    created_at: datetime = created_at_field()


class Product(SQLModel, table=True):
    """A product whose requirements, sprints and releases are managed together; its key prefixes requirement keys."""

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "key"),
        sa.Index("ix_product_organization_id_name", "organization_id", "name"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    key: str = Field(max_length=10)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=10_000)
    next_number: int = Field(default=1)
    archived_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    version: int = Field(default=1)


class Label(SQLModel, table=True):
    """A tag that can be put on requirements."""

    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    name: str = Field(max_length=64)
    color: str = Field(default="#6b7280", max_length=7)
    description: str = Field(default="", max_length=500)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Sprint(SQLModel, table=True):
    """A time-box of work in one product."""

    __table_args__ = (
        sa.Index("ix_sprint_organization_id_product_id", "organization_id", "product_id", "starts_on"),
        sa.Index(
            "uq_sprint_one_active_per_product",
            "organization_id",
            "product_id",
            unique=True,
            postgresql_where=sa.text("state = 'ACTIVE'"),
        ),
        enum_check("state", SprintState, "state"),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    name: str = Field(max_length=120)
    goal: str = Field(default="", max_length=2000)
    starts_on: date | None = None
    ends_on: date | None = None
    state: str = Field(default=SprintState.PLANNED.value, max_length=16)
    capacity: float | None = None
    started_at: datetime | None = timestamp_field()
    closed_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    version: int = Field(default=1)


class SprintCommitment(SQLModel, table=True):
    """A requirement a sprint held when it started, with its estimate then: what the team committed to.

    Written once, by starting the sprint; the sprint report compares it with the history of what happened next.
    """

    __tablename__ = "sprint_commitment"
    __table_args__ = (sa.Index("ix_sprint_commitment_organization_id_sprint_id", "organization_id", "sprint_id"),)

    organization_id: UUID = tenant_fk()
    requirement_id: UUID = Field(foreign_key="requirement.id", ondelete="CASCADE", primary_key=True)
    sprint_id: UUID = Field(foreign_key="sprint.id", ondelete="CASCADE", primary_key=True)
    estimate: float | None = None
    created_at: datetime = created_at_field()


class SprintSnapshot(SQLModel, table=True):
    """A running sprint's figures as one day ended, taken by the nightly job (prism.jobs): one row per sprint and day.

    The same figures the burndown computes for that day (prism.domain.burndown), kept so they need not be recomputed
    from the history and so they survive a history that is later trimmed. Taking the snapshot again the same day
    replaces the row.
    """

    __tablename__ = "sprint_snapshot"
    __table_args__ = (sa.PrimaryKeyConstraint("organization_id", "sprint_id", "day"),)

    organization_id: UUID = tenant_fk()
    sprint_id: UUID = Field(foreign_key="sprint.id", ondelete="CASCADE")
    day: date
    scope_points: float
    done_points: float
    remaining_points: float
    scope_count: int
    done_count: int
    remaining_count: int
    taken_at: datetime = created_at_field()


class SprintFigures(SQLModel, table=True):
    """A closed sprint's report and carry-over figures, stored by closing it (prism.domain.sprint_figures).

    They depend only on history before the close, so they are computed once, in the close's transaction (migration
    0025 computed them for sprints closed before), and velocity and carry-over read them instead of replaying the
    history. `moved_to_sprint_id` has no foreign key: the sprint the close moved work into may later be deleted
    (a PLANNED one), and the figure still says where the work went.
    """

    __tablename__ = "sprint_figures"
    __table_args__ = (sa.PrimaryKeyConstraint("organization_id", "sprint_id"),)

    organization_id: UUID = tenant_fk()
    sprint_id: UUID = Field(foreign_key="sprint.id", ondelete="CASCADE")
    committed_count: int
    committed_points: float
    added_count: int
    added_points: float
    removed_count: int
    removed_points: float
    completed_count: int
    completed_points: float
    canceled_count: int
    canceled_points: float
    carried_over_count: int
    carried_over_points: float
    moved_to_sprint_id: UUID | None = None
    moved_to_sprint_count: int
    moved_to_sprint_points: float
    moved_to_backlog_count: int
    moved_to_backlog_points: float
    carried_in_count: int
    carried_in_points: float
    computed_at: datetime = created_at_field()


class Release(SQLModel, table=True):
    """A planned shipment of a product."""

    __table_args__ = (
        sa.Index("ix_release_organization_id_product_id", "organization_id", "product_id", "target_date"),
        enum_check("state", ReleaseState, "state"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=10_000)
    target_date: date | None = None
    state: str = Field(default=ReleaseState.PLANNED.value, max_length=16)
    released_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    version: int = Field(default=1)


class Requirement(SQLModel, table=True):
    """An epic, feature, story, task or bug of a product, known to people by its key (`PRISM-12`)."""

    __table_args__ = (
        sa.UniqueConstraint("organization_id", "product_id", "number"),
        # Page order (rank, then id): a page of a product's requirements reads its rows in order and stops there.
        sa.Index("ix_requirement_organization_id_product_id_rank_id", "organization_id", "product_id", "rank", "id"),
        sa.Index("ix_requirement_organization_id_parent_id", "organization_id", "parent_id"),
        sa.Index("ix_requirement_organization_id_sprint_id", "organization_id", "sprint_id"),
        sa.Index("ix_requirement_organization_id_assignee_id", "organization_id", "assignee_id"),
        sa.Index("ix_requirement_organization_id_release_id", "organization_id", "release_id"),
        enum_check("kind", RequirementKind, "kind"),
        enum_check("status", RequirementStatus, "status"),
        enum_check("priority", Priority, "priority"),
        sa.CheckConstraint("estimate IS NULL OR (estimate >= 0 AND estimate <= 1000)", name="estimate"),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="parent_not_self"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    number: int
    kind: str = Field(max_length=16)
    parent_id: UUID | None = Field(default=None, foreign_key="requirement.id", ondelete="SET NULL")
    title: str = Field(max_length=255)
    description: str = Field(default="", max_length=50_000)
    acceptance_criteria: str = Field(default="", max_length=20_000)
    status: str = Field(default=RequirementStatus.BACKLOG.value, max_length=16)
    priority: str = Field(default=Priority.NONE.value, max_length=16)
    estimate: float | None = None
    assignee_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    reporter_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    sprint_id: UUID | None = Field(default=None, foreign_key="sprint.id", ondelete="SET NULL")
    release_id: UUID | None = Field(default=None, foreign_key="release.id", ondelete="SET NULL")
    rank: str = Field(sa_type=sa.String(64, collation="C"))  # type: ignore[call-overload]
    started_at: datetime | None = timestamp_field()
    completed_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    version: int = Field(default=1)


class RequirementLabel(SQLModel, table=True):
    """A label put on a requirement."""

    __tablename__ = "requirement_label"
    __table_args__ = (sa.Index("ix_requirement_label_organization_id_label_id", "organization_id", "label_id"),)

    organization_id: UUID = tenant_fk()
    requirement_id: UUID = Field(foreign_key="requirement.id", ondelete="CASCADE", primary_key=True)
    label_id: UUID = Field(foreign_key="label.id", ondelete="CASCADE", primary_key=True)


class RequirementEvent(SQLModel, table=True):
    """One change of a requirement people can see (status, title, labels, sprint...): its history.

    `from_value` and `to_value` hold what the attribute held before and after, as prism.domain.history keeps them.
    """

    __tablename__ = "requirement_event"
    __table_args__ = (
        sa.Index(
            "ix_requirement_event_organization_id_requirement_id",
            "organization_id",
            "requirement_id",
            "created_at",
        ),
        # The requirements that ever entered a sprint, for its report.
        sa.Index(
            "ix_requirement_event_organization_id_to_value_sprint",
            "organization_id",
            "to_value",
            postgresql_where=sa.text("kind = 'SPRINT'"),
        ),
        # The history analytics read (sprint reports, burndowns, cumulative flow), covered (migration 0024).
        sa.Index(
            "ix_requirement_event_organization_id_analytics",
            "organization_id",
            "requirement_id",
            "created_at",
            postgresql_include=["kind", "from_value", "to_value"],
            postgresql_where=sa.text("kind IN ('SPRINT', 'STATUS', 'CREATED', 'ESTIMATE')"),
        ),
        enum_check("kind", RequirementEventKind, "kind"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    requirement_id: UUID = Field(foreign_key="requirement.id", ondelete="CASCADE")
    actor_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    kind: str = Field(max_length=32)
    from_value: str | None = Field(default=None, max_length=255)
    to_value: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_at_field()


class DeletedRequirement(SQLModel, table=True):
    """A tombstone: a requirement that was deleted, so that sync clients can remove what they mirrored.

    `id` is the deleted requirement's id (its global id stays `Requirement:<id>`); tombstones are purged after
    prism.services.requirements.TOMBSTONE_RETENTION.
    """

    __tablename__ = "deleted_requirement"
    __table_args__ = (
        sa.Index("ix_deleted_requirement_organization_id_deleted_at", "organization_id", "deleted_at"),
        sa.Index(
            "ix_deleted_requirement_organization_id_product_id_deleted_at",
            "organization_id",
            "product_id",
            "deleted_at",
        ),
    )

    id: UUID = Field(primary_key=True)
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    key: str = Field(max_length=32)
    deleted_at: datetime = created_at_field()
    deleted_by_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")


class Roadmap(SQLModel, table=True):
    """A plan of epics and features laid out over time in lanes."""

    __table_args__ = (sa.Index("ix_roadmap_organization_id_product_id", "organization_id", "product_id"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=10_000)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    version: int = Field(default=1)


class RoadmapItem(SQLModel, table=True):
    """One bar on a roadmap: a lane, a time box and usually an epic or feature."""

    __tablename__ = "roadmap_item"
    __table_args__ = (
        sa.Index("ix_roadmap_item_organization_id_roadmap_id", "organization_id", "roadmap_id", "rank"),
        sa.CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="dates"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    roadmap_id: UUID = Field(foreign_key="roadmap.id", ondelete="CASCADE")
    requirement_id: UUID | None = Field(default=None, foreign_key="requirement.id", ondelete="SET NULL")
    title: str = Field(max_length=255)
    lane: str = Field(default="", max_length=64)
    starts_on: date | None = None
    ends_on: date | None = None
    rank: str = Field(sa_type=sa.String(64, collation="C"))  # type: ignore[call-overload]
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Document(SQLModel, table=True):
    """A markdown document (PRD, spec or note) of a product; every edit is kept as a version."""

    __table_args__ = (
        sa.Index("ix_document_organization_id_product_id", "organization_id", "product_id", "updated_at"),
        enum_check("kind", DocumentKind, "kind"),
        enum_check("status", DocumentStatus, "status"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    title: str = Field(max_length=255)
    body: str = Field(default="", max_length=200_000)
    status: str = Field(default=DocumentStatus.DRAFT.value, max_length=16)
    author_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    version: int = Field(default=1)


class DocumentVersion(SQLModel, table=True):
    """A saved state of a document: its title and body as of one edit."""

    __tablename__ = "document_version"
    __table_args__ = (sa.UniqueConstraint("organization_id", "document_id", "number"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    document_id: UUID = Field(foreign_key="document.id", ondelete="CASCADE")
    number: int
    title: str = Field(max_length=255)
    body: str = Field(default="", max_length=200_000)
    author_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()


class Comment(SQLModel, table=True):
    """A remark on a requirement or a document."""

    __table_args__ = (
        sa.Index("ix_comment_organization_id_requirement_id", "organization_id", "requirement_id", "created_at"),
        sa.Index("ix_comment_organization_id_document_id", "organization_id", "document_id", "created_at"),
        sa.CheckConstraint("(requirement_id IS NULL) <> (document_id IS NULL)", name="one_subject"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    requirement_id: UUID | None = Field(default=None, foreign_key="requirement.id", ondelete="CASCADE")
    document_id: UUID | None = Field(default=None, foreign_key="document.id", ondelete="CASCADE")
    author_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    body: str = Field(max_length=20_000)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    version: int = Field(default=1)


class AiRun(SQLModel, table=True):
    """One call of an AI feature to a model: what it cost, how long it took, and whether it worked.

    Written by the AI gateway (prism.ai) for every call, offline ones included; the per-organization budget is the
    month's sum of these rows.
    """

    __tablename__ = "ai_run"
    __table_args__ = (sa.Index("ix_ai_run_organization_id_created_at", "organization_id", "created_at"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    feature: str = Field(max_length=64)
    model: str = Field(max_length=200, description="The model that answered, or the last one tried.")
    prompt_key: str = Field(max_length=64, description="The prompt template's key (prism/ai/prompts).")
    prompt_version: str = Field(max_length=32)
    offline: bool
    cached: bool = Field(default=False, description="Whether the answer came from the response cache (no cost).")
    succeeded: bool
    repaired: bool = Field(description="Whether the answer needed the one repair attempt to validate.")
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: int
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()


class AiPrompt(SQLModel, table=True):
    """One saved revision of an organization's override of a prompt template PRISM ships (prism/ai/prompts).

    The current override of a key is its newest revision not retired; resetting retires it. Revisions are kept so
    the runs made with each (`ai_run.prompt_version`) stay comparable.
    """

    __tablename__ = "ai_prompt"
    __table_args__ = (sa.UniqueConstraint("organization_id", "key", "revision"),)

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    key: str = Field(max_length=64)
    revision: int
    text: str = Field(max_length=20_000)
    created_by_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    retired_at: datetime | None = timestamp_field()


class Attachment(SQLModel, table=True):
    """A file on a requirement, a comment or a document; its content lives in object storage (prism.storage)."""

    __table_args__ = (
        sa.Index("ix_attachment_organization_id_requirement_id", "organization_id", "requirement_id", "created_at"),
        sa.Index("ix_attachment_organization_id_comment_id", "organization_id", "comment_id", "created_at"),
        sa.Index("ix_attachment_organization_id_document_id", "organization_id", "document_id", "created_at"),
        sa.CheckConstraint("num_nonnulls(requirement_id, comment_id, document_id) = 1", name="one_subject"),
    )

    id: UUID = uuid_pk()
    organization_id: UUID = tenant_fk()
    product_id: UUID = Field(foreign_key="product.id", ondelete="CASCADE")
    requirement_id: UUID | None = Field(default=None, foreign_key="requirement.id", ondelete="CASCADE")
    comment_id: UUID | None = Field(default=None, foreign_key="comment.id", ondelete="CASCADE")
    document_id: UUID | None = Field(default=None, foreign_key="document.id", ondelete="CASCADE")
    name: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    sha256: str = Field(max_length=64)
    object_key: str = Field(max_length=255)
    uploaded_by_id: UUID | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()


# The identity and access tables live in their own module; importing it here registers them wherever tables are.
import prism.db.access_tables  # noqa: E402
import prism.db.adoption_tables  # noqa: E402
import prism.db.event_tables  # noqa: E402
import prism.db.job_tables  # noqa: E402
import prism.db.report_tables  # noqa: E402, F401
