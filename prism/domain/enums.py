"""The enumerations of PRISM's domain, stored as their names in PostgreSQL."""

import enum

__all__ = [
    "DocumentKind",
    "DocumentStatus",
    "Priority",
    "ReleaseState",
    "RequirementEventKind",
    "RequirementKind",
    "RequirementStatus",
    "Role",
    "SprintState",
]


class Role(enum.StrEnum):
    """A member's role in an organization, from most to least powerful."""

    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    VIEWER = "VIEWER"


class RequirementKind(enum.StrEnum):
    """What a requirement is; kinds nest EPIC > FEATURE > STORY > TASK, and bugs sit under anything."""

    EPIC = "EPIC"
    FEATURE = "FEATURE"
    STORY = "STORY"
    TASK = "TASK"
    BUG = "BUG"


class RequirementStatus(enum.StrEnum):
    """Where a requirement is in its workflow."""

    BACKLOG = "BACKLOG"
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    IN_REVIEW = "IN_REVIEW"
    DONE = "DONE"
    CANCELED = "CANCELED"


class Priority(enum.StrEnum):
    """How urgent a requirement is; NONE means not yet prioritised."""

    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


class SprintState(enum.StrEnum):
    """A sprint's life cycle: PLANNED, then ACTIVE once started, then CLOSED."""

    PLANNED = "PLANNED"
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"


class ReleaseState(enum.StrEnum):
    """A release's life cycle."""

    PLANNED = "PLANNED"
    IN_PROGRESS = "IN_PROGRESS"
    RELEASED = "RELEASED"
    CANCELED = "CANCELED"


class DocumentKind(enum.StrEnum):
    """What a document is for."""

    PRD = "PRD"
    SPEC = "SPEC"
    NOTE = "NOTE"


class DocumentStatus(enum.StrEnum):
    """A document's review state."""

    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    APPROVED = "APPROVED"
    ARCHIVED = "ARCHIVED"


class RequirementEventKind(enum.StrEnum):
    """Which attribute of a requirement a history event records."""

    CREATED = "CREATED"
    STATUS = "STATUS"
    ESTIMATE = "ESTIMATE"
    SPRINT = "SPRINT"
    ASSIGNEE = "ASSIGNEE"
    PARENT = "PARENT"
    RELEASE = "RELEASE"
    TITLE = "TITLE"
    DESCRIPTION = "DESCRIPTION"
    ACCEPTANCE_CRITERIA = "ACCEPTANCE_CRITERIA"
    PRIORITY = "PRIORITY"
    KIND = "KIND"
    LABEL_ADDED = "LABEL_ADDED"
    LABEL_REMOVED = "LABEL_REMOVED"
