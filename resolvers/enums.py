"""GraphQL enums mirroring the domain's, each value described for GraphiQL."""

import enum

import strawberry

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

v = strawberry.enum_value


@strawberry.enum(description="A member's role in an organization.")
class Role(enum.Enum):
    OWNER = v("OWNER", description="Full control, including billing and deleting the organization.")
    ADMIN = v("ADMIN", description="Manages members, settings and everything members can do.")
    MEMBER = v("MEMBER", description="Creates and edits products, requirements, sprints and documents.")
    VIEWER = v("VIEWER", description="Reads everything, changes nothing.")


@strawberry.enum(description="What a requirement is.")
class RequirementKind(enum.Enum):
    EPIC = v("EPIC", description="A large body of work, split into features.")
    FEATURE = v("FEATURE", description="A capability of the product, split into stories.")
    STORY = v("STORY", description="A user-visible increment, small enough for one sprint.")
    TASK = v("TASK", description="A piece of technical work.")
    BUG = v("BUG", description="A defect to fix.")


@strawberry.enum(description="Where a requirement is in its workflow.")
class RequirementStatus(enum.Enum):
    BACKLOG = v("BACKLOG", description="Captured, not yet planned.")
    TODO = v("TODO", description="Planned and ready to start.")
    IN_PROGRESS = v("IN_PROGRESS", description="Being worked on.")
    IN_REVIEW = v("IN_REVIEW", description="Done by its author, waiting for review.")
    DONE = v("DONE", description="Finished.")
    CANCELED = v("CANCELED", description="Will not be done.")


@strawberry.enum(description="How urgent a requirement is.")
class Priority(enum.Enum):
    NONE = v("NONE", description="Not prioritised yet.")
    LOW = v("LOW", description="Do when convenient.")
    MEDIUM = v("MEDIUM", description="Normal priority.")
    HIGH = v("HIGH", description="Do soon.")
    URGENT = v("URGENT", description="Drop other work for this.")


@strawberry.enum(description="A sprint's life cycle.")
class SprintState(enum.Enum):
    PLANNED = v("PLANNED", description="Not started; work can be planned into it.")
    ACTIVE = v("ACTIVE", description="Running now.")
    CLOSED = v("CLOSED", description="Finished; unfinished work moved out when it closed.")


@strawberry.enum(description="A release's life cycle.")
class ReleaseState(enum.Enum):
    PLANNED = v("PLANNED", description="Scheduled, work not started.")
    IN_PROGRESS = v("IN_PROGRESS", description="Work for it is under way.")
    RELEASED = v("RELEASED", description="Shipped.")
    CANCELED = v("CANCELED", description="Will not ship.")


@strawberry.enum(description="What a document is for.")
class DocumentKind(enum.Enum):
    PRD = v("PRD", description="A product requirements document.")
    SPEC = v("SPEC", description="A technical or design specification.")
    NOTE = v("NOTE", description="Free-form notes.")


@strawberry.enum(description="A document's review state.")
class DocumentStatus(enum.Enum):
    DRAFT = v("DRAFT", description="Being written.")
    IN_REVIEW = v("IN_REVIEW", description="Awaiting review.")
    APPROVED = v("APPROVED", description="Reviewed and agreed.")
    ARCHIVED = v("ARCHIVED", description="Kept for reference only.")


@strawberry.enum(description="Which attribute of a requirement a history event records.")
class RequirementEventKind(enum.Enum):
    CREATED = v("CREATED", description="The requirement was created (toStatus: the status it started in).")
    STATUS = v("STATUS", description="Its status changed (fromStatus, toStatus).")
    ESTIMATE = v("ESTIMATE", description="Its estimate changed (fromEstimate, toEstimate).")
    SPRINT = v("SPRINT", description="It moved into, out of or between sprints (fromSprint, toSprint).")
    ASSIGNEE = v("ASSIGNEE", description="Its assignee changed (fromAssignee, toAssignee).")
    PARENT = v("PARENT", description="It moved in the hierarchy (fromParent, toParent).")
    RELEASE = v("RELEASE", description="Its release changed (fromRelease, toRelease).")
    TITLE = v("TITLE", description="Its title changed (fromTitle, toTitle).")
    DESCRIPTION = v("DESCRIPTION", description="Its description changed; the texts are not kept in history.")
    ACCEPTANCE_CRITERIA = v(
        "ACCEPTANCE_CRITERIA", description="Its acceptance criteria changed; the texts are not kept in history."
    )
    PRIORITY = v("PRIORITY", description="Its priority changed (fromPriority, toPriority).")
    KIND = v("KIND", description="Its kind changed, say from STORY to BUG (fromKind, toKind).")
    LABEL_ADDED = v("LABEL_ADDED", description="A label was put on it (label).")
    LABEL_REMOVED = v("LABEL_REMOVED", description="A label was taken off it (label).")
