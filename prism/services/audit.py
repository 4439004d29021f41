"""The audit log: who did what to which target, when and from where, written in the transaction of the change."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.rbac import Viewer
from prism.db.access_tables import AuditLog

__all__ = ["RequestMeta", "record"]


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for the audit log and throttling."""

    ip: str | None = None
    user_agent: str | None = None


def record(
    session: AsyncSession,
    *,
    organization_id: UUID,
    action: str,
    meta: RequestMeta,
    actor: Viewer | None = None,
    actor_user_id: UUID | None = None,
    target_type: str | None = None,
    target_id: UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry to the current transaction (it commits or rolls back with the change it describes).

    `action` is a stable dotted name such as `auth.sign_in`, `member.role_changed`, `api_key.created`,
    `requirement.deleted`. Never put a secret in `details`.
    """
    session.add(
        AuditLog(
            organization_id=organization_id,
            actor_user_id=actor.user_id if actor is not None else actor_user_id,
            actor_api_key_id=actor.api_key_id if actor is not None else None,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            ip=meta.ip,
            user_agent=(meta.user_agent or "")[:512] or None,
            details=details or {},
        )
    )
