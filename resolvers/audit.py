"""Audit: the organization's audit log, readable by owners and admins."""

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import Info as StrawberryInfo
from strawberry import relay
from strawberry.scalars import JSON

from loaders.audit import AUDIT_LOG_BY_ORGANIZATION, AuditListFilter
from loaders.pagination import Order
from prism.auth.rbac import Permission
from prism.db.access_tables import AuditLog
from prism.errors import ValidationError
from resolvers.common import decode_id, zoned_time
from resolvers.connections import ListArguments, connection_field
from resolvers.context import Context
from resolvers.declarations import Read, RowType, reads
from resolvers.identity import User
from resolvers.node import load_node
from resolvers.permissions import _RolePermission

__all__ = ["AuditEntry", "AuditLogFilter", "AuditMutation", "AuditQuery", "CanReadAuditLog"]

Info = StrawberryInfo[Context, None]
MAX_ACTIONS = 50


class CanReadAuditLog(_RolePermission):
    """Owners and admins (and API keys with the `admin` scope) may read the audit log."""

    required = Permission.MANAGE_MEMBERS


def _api_key_id(key: UUID | None) -> strawberry.ID | None:
    return None if key is None else strawberry.ID(str(relay.GlobalID("ApiKey", str(key))))


def _details(details: Any) -> JSON:
    return JSON(details or {})


@reads(
    AuditLog,
    api_key_id=Read("actor_api_key_id", _api_key_id),
    details=Read("details", _details),
    _actor_user_id="actor_user_id",
)
@strawberry.type(description="One audited action: who did what to which target, when and from where.")
class AuditEntry(RowType):
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    action: str = strawberry.field(
        description="What happened, as a stable dotted name such as `auth.sign_in`, `member.role_changed`, "
        "`api_key.created`, `requirement.deleted`, `product.archived`, `sprint.closed`."
    )
    target_type: str | None = strawberry.field(
        description="The kind of thing acted on, such as `Requirement` or `ApiKey`; null when none."
    )
    target_id: str | None = strawberry.field(description="The id of the thing acted on (its row id); null when none.")
    api_key_id: strawberry.ID | None = strawberry.field(
        description="The global id of the API key that acted, when the actor used one; null otherwise."
    )
    ip: str | None = strawberry.field(description="The client address the request came from, when known.")
    user_agent: str | None = strawberry.field(description="The client's User-Agent header (first 512 characters).")
    details: JSON = strawberry.field(description="Further facts about the action (never a secret), as a JSON object.")
    created_at: datetime = strawberry.field(description="When it happened.")
    _actor_user_id: strawberry.Private[UUID | None]

    @strawberry.field(
        description="The person who acted (for an API key, the key's creator); null for anonymous actions or "
        "when they are no longer a member."
    )
    async def actor(self, info: Info) -> User | None:
        return await load_node(info, User, self._actor_user_id)


@strawberry.input(description="Which audit entries to list; every given field narrows the list.")
class AuditLogFilter:
    actions: list[str] | None = strawberry.field(
        default=None, description=f"Only these actions (any of them; at most {MAX_ACTIONS})."
    )
    actor_id: strawberry.ID | None = strawberry.field(default=None, description="Only what this user did.")
    target_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only actions on this target: its global id or the entry's `targetId`."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Only entries at or after this time (with a zone)."
    )
    until: datetime | None = strawberry.field(default=None, description="Only entries before this time (with a zone).")


def _target(value: str) -> str:
    """A target filter as stored: the row id inside a global id, or the raw value."""
    try:
        gid = relay.GlobalID.from_id(value)
        return str(UUID(gid.node_id))
    except (ValueError, TypeError):
        return value[:64]


def _list_filter(f: AuditLogFilter) -> AuditListFilter:
    actions = tuple(sorted(set(f.actions or ())))
    if len(actions) > MAX_ACTIONS:
        raise ValidationError(f"actions takes at most {MAX_ACTIONS} values.", field="actions")
    since, until = zoned_time(f.since, "since"), zoned_time(f.until, "until")
    if since is not None and until is not None and since >= until:
        raise ValidationError("since must be before until.", field="since")
    return AuditListFilter(
        actions=actions,
        actor_id=decode_id(f.actor_id, "User", field="actorId") if f.actor_id is not None else None,
        target_id=_target(str(f.target_id)) if f.target_id is not None else None,
        since=since,
        until=until,
    )


@strawberry.type
class AuditQuery:
    audit_log = connection_field(
        AuditEntry,
        source=AUDIT_LOG_BY_ORGANIZATION,
        of_organization=True,
        arguments=ListArguments(
            filter=AuditLogFilter,
            convert=lambda entries, _: (
                _list_filter(entries or AuditLogFilter()),
                Order(field="CREATED_AT", descending=True),
            ),
            filter_description="Which entries.",
        ),
        description="The organization's audit log, newest first: sign-ins, permission changes, key creation and "
        "destructive actions. Owners and admins only (FORBIDDEN otherwise).",
        permission_classes=[CanReadAuditLog],
    )


@strawberry.type
class AuditMutation:
    pass
