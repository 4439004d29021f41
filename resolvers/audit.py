"""Audit: the organization's audit log, readable by owners and admins."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self
from uuid import UUID

import strawberry
from strawberry import Info as StrawberryInfo
from strawberry import relay
from strawberry.scalars import JSON

from loaders.audit import AUDIT_LOG_BY_ORGANIZATION, AuditListFilter
from loaders.pagination import Order
from prism.auth.rbac import Permission
from prism.errors import ValidationError
from resolvers.common import After, Before, Connection, First, Last, decode_id, load_connection, zoned_time
from resolvers.context import Context
from resolvers.permissions import _RolePermission

if TYPE_CHECKING:
    from resolvers.identity import User

__all__ = ["AuditEntry", "AuditLogFilter", "AuditMutation", "AuditQuery", "CanReadAuditLog"]

Info = StrawberryInfo[Context, None]
MAX_ACTIONS = 50


class CanReadAuditLog(_RolePermission):
    """Owners and admins (and API keys with the `admin` scope) may read the audit log."""

    required = Permission.MANAGE_MEMBERS


@strawberry.type(description="One audited action: who did what to which target, when and from where.")
class AuditEntry:
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
    async def actor(self, info: Info) -> Annotated["User", strawberry.lazy("resolvers.identity")] | None:
        if self._actor_user_id is None:
            return None
        from resolvers.identity import User

        row = await info.context.loaders.user_by_id.load(self._actor_user_id)
        return None if row is None else User.from_row(row)

    @classmethod
    def from_row(cls, row: Any) -> Self:
        key = row.actor_api_key_id
        return cls(
            id=strawberry.ID(str(row.id)),
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            api_key_id=None if key is None else strawberry.ID(str(relay.GlobalID("ApiKey", str(key)))),
            ip=row.ip,
            user_agent=row.user_agent,
            details=JSON(row.details or {}),
            created_at=row.created_at,
            _actor_user_id=row.actor_user_id,
        )


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
    @strawberry.field(
        description="The organization's audit log, newest first: sign-ins, permission changes, key creation and "
        "destructive actions. Owners and admins only (FORBIDDEN otherwise).",
        permission_classes=[CanReadAuditLog],
    )
    async def audit_log(
        self,
        info: Info,
        filter: Annotated[AuditLogFilter | None, strawberry.argument(description="Which entries.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[AuditEntry]:
        return await load_connection(
            info,
            source=AUDIT_LOG_BY_ORGANIZATION,
            parent=info.context.member.organization_id,
            filter=_list_filter(filter or AuditLogFilter()),
            order=Order(field="CREATED_AT", descending=True),
            first=first,
            after=after,
            last=last,
            before=before,
            build=AuditEntry.from_row,
        )


@strawberry.type
class AuditMutation:
    pass
