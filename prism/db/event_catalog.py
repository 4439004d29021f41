"""Which tables' changes are events, under which entity name, with which fields (the event log, migration 0012).

Every table is either an entity here, a relation of one (its rows are ids added to or removed from a to-many field of
the entity), or named in `NOT_EVENTS` with the reason; tests/test_event_log.py fails for a table that is none of
these, so a new table cannot slip past the log. Entity names are the GraphQL type names, so a subscriber can turn
`(type, entityId)` into the global id it already knows.

An entity's fields are split the way history splits them (prism.domain.history): `fields` are copied into the event
with their values; `opaque` fields (long texts) are named when they change but their values stay out of the log; every
other column (bookkeeping such as `version`, `updated_at`, a product's `next_number`, a key's `last_used_at`, a
secret's hash) is neither reported nor a reason for an event.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from sqlmodel import SQLModel

from prism.db.access_tables import (
    ApiKey,
    AuditLog,
    AuthSession,
    Invitation,
    ProductMember,
    RecoveryCode,
    RefreshToken,
    SignUpRequest,
    UserToken,
)
from prism.db.adoption_tables import Feature, UsageDay, UsageEvent, UsageUser
from prism.db.event_tables import Event, EventCounter
from prism.db.job_tables import JobError
from prism.db.report_tables import Report
from prism.db.tables import (
    AiPrompt,
    AiRun,
    Attachment,
    Comment,
    DeletedRequirement,
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
    SprintCommitment,
    SprintFigures,
    SprintSnapshot,
    Team,
    TeamMember,
    User,
)
from prism.domain.events import Json

__all__ = ["ENTITIES", "NOT_EVENTS", "RELATIONS", "EntitySpec", "RelationSpec", "json_name", "json_value"]


@dataclass(frozen=True)
class EntitySpec:
    """A table whose rows are entities with events of their own."""

    table: type[SQLModel]
    name: str
    """The entity's name in events: its GraphQL type."""
    fields: tuple[str, ...]
    opaque: tuple[str, ...] = ()
    version: int = 1
    organization: str = "organization_id"
    product: str | None = None
    """The attribute holding the entity's product (`id` for a product itself), when it has one."""
    product_via: tuple[tuple[str, type[SQLModel]], ...] = ()
    """Parents that know the product, tried in order: (attribute holding the parent's id, the parent's table)."""


@dataclass(frozen=True)
class RelationSpec:
    """A table whose rows link an entity to other ids: a row added or removed changes the entity's `relation`."""

    table: type[SQLModel]
    entity: type[SQLModel]
    entity_key: str
    relation: str
    value_key: str


ENTITIES: dict[type[SQLModel], EntitySpec] = {
    spec.table: spec
    for spec in (
        EntitySpec(Organization, "Organization", ("name", "slug", "require_mfa"), organization="id"),
        EntitySpec(Membership, "Member", ("user_id", "role")),
        EntitySpec(Team, "Team", ("name", "description")),
        EntitySpec(Product, "Product", ("key", "name", "archived_at"), opaque=("description",), product="id"),
        EntitySpec(ProductMember, "ProductRole", ("product_id", "user_id", "team_id", "role"), product="product_id"),
        EntitySpec(Label, "Label", ("name", "color", "description")),
        EntitySpec(
            Requirement,
            "Requirement",
            (
                "number",
                "kind",
                "title",
                "status",
                "priority",
                "estimate",
                "parent_id",
                "assignee_id",
                "reporter_id",
                "sprint_id",
                "release_id",
                "rank",
                "started_at",
                "completed_at",
            ),
            opaque=("description", "acceptance_criteria"),
            product="product_id",
        ),
        EntitySpec(
            Sprint,
            "Sprint",
            ("name", "goal", "starts_on", "ends_on", "state", "capacity", "started_at", "closed_at"),
            product="product_id",
        ),
        EntitySpec(
            Release,
            "Release",
            ("name", "target_date", "state", "released_at"),
            opaque=("description",),
            product="product_id",
        ),
        EntitySpec(Roadmap, "Roadmap", ("name",), opaque=("description",), product="product_id"),
        EntitySpec(
            RoadmapItem,
            "RoadmapItem",
            ("roadmap_id", "requirement_id", "title", "lane", "starts_on", "ends_on", "rank"),
            product_via=(("roadmap_id", Roadmap),),
        ),
        EntitySpec(
            Document, "Document", ("kind", "title", "status", "author_id"), opaque=("body",), product="product_id"
        ),
        EntitySpec(
            Comment,
            "Comment",
            ("requirement_id", "document_id", "author_id"),
            opaque=("body",),
            product_via=(("requirement_id", Requirement), ("document_id", Document)),
        ),
        EntitySpec(
            Attachment,
            "Attachment",
            (
                "requirement_id",
                "comment_id",
                "document_id",
                "name",
                "content_type",
                "size",
                "sha256",
                "uploaded_by_id",
            ),
            product="product_id",
        ),
        EntitySpec(Feature, "Feature", ("key", "name", "requirement_id"), product="product_id"),
        EntitySpec(Invitation, "Invitation", ("role", "expires_at", "accepted_at", "revoked_at")),
        EntitySpec(ApiKey, "ApiKey", ("name", "scopes", "expires_at", "revoked_at")),
    )
}

RELATIONS: dict[type[SQLModel], RelationSpec] = {
    spec.table: spec
    for spec in (
        RelationSpec(RequirementLabel, Requirement, "requirement_id", "labelIds", "label_id"),
        RelationSpec(TeamMember, Team, "team_id", "memberIds", "user_id"),
    )
}

NOT_EVENTS: dict[type[SQLModel], str] = {
    User: "an account belongs to a person, not to an organization; its changes are not an organization's events",
    AuthSession: "sign-in state of a user, not an organization's data",
    RefreshToken: "sign-in state of a user, not an organization's data",
    UserToken: "one-time tokens of a user (verification, reset, MFA challenge)",
    RecoveryCode: "a user's MFA recovery codes: secrets",
    SignUpRequest: "a sign-up awaiting confirmation belongs to no organization yet",
    AuditLog: "a log of its own, written beside the change it records",
    RequirementEvent: "the requirement's history, written beside the Requirement event of the same change",
    SprintCommitment: "written by starting a sprint; the Sprint event of that change carries it",
    DocumentVersion: "written by editing a document; the Document event of that change carries it",
    DeletedRequirement: "a tombstone written beside the Requirement remove event of the same deletion",
    Event: "the event log itself",
    EventCounter: "the event log's numbering",
    SprintSnapshot: "figures a nightly job computes from the history, itself already in the log; nobody edits them",
    JobError: "the job queue's bookkeeping (why a job failed), no organization's data",
    AiPrompt: "an organization's prompt overrides, audited when saved or reset; no client follows them live",
    AiRun: "metering of AI calls (tokens, cost, latency), written by the gateway; nobody edits it or follows it",
    Report: "a generated file's record, followed by polling `report(id:)`; its changes are a job's progress, no edit",
    UsageEvent: "reports of use from SDKs, many per second and never edited; adoption queries read them in bulk",
    UsageUser: "a number for each user key SDKs report, given while recording usage: part of that, not an edit",
    UsageDay: "the daily rollup recording usage keeps in its transaction: derived from the usage events, not an edit",
    SprintFigures: "figures a sprint's close computes from the history in its own transaction: the close is the event",
}


def json_name(attribute: str) -> str:
    """The name a field has in events and in GraphQL: `assignee_id` -> `assigneeId`."""
    head, *rest = attribute.split("_")
    return head + "".join(part.capitalize() for part in rest)


def json_value(value: Any) -> Json:
    """A column's value as JSON: ids, times and dates as strings, numbers as numbers."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return str(value)
