"""One function authenticates every caller: an HTTP request's Authorization header or a WebSocket
`connection_init` payload, with an access token (people) or an API key (integrators)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from prism.auth.rbac import Viewer
from prism.db.engine import TenantReader
from prism.db.tables import Membership
from prism.domain.enums import Role
from prism.errors import PrismError, UnauthenticatedError
from prism.runtime import Runtime

__all__ = ["Authentication", "authenticate", "credentials_from_connection_params", "credentials_from_header"]

_MEMBERSHIP = Membership.__table__  # type: ignore[attr-defined]

ReaderFactory = Callable[[UUID | None, UUID | None], TenantReader]


@dataclass
class Authentication:
    """The outcome: a viewer, or the reason there is none; and the request's read connection, scoped accordingly."""

    viewer: Viewer | None
    error: PrismError | None
    reader: TenantReader


def credentials_from_header(authorization: str | None) -> str | None:
    """The bearer credential of an Authorization header; '' when the header is malformed, None when absent."""
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return ""
    return credential.strip()


def credentials_from_connection_params(payload: Any) -> str | None:
    """The credential in a `connection_init` payload: `{"Authorization": "Bearer ..."}` (any case) or
    `{"token": "..."}`."""
    if not isinstance(payload, dict):
        return None
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
            return credentials_from_header(value)
    token = payload.get("token")
    return token.strip() if isinstance(token, str) and token.strip() else None


async def authenticate(runtime: Runtime, credential: str | None, reader_for: ReaderFactory) -> Authentication:
    """Resolve a credential to a viewer; every failure is UNAUTHENTICATED with a reason, never an exception."""
    if credential is None:
        return Authentication(None, None, reader_for(None, None))
    if credential == "":
        return Authentication(
            None, UnauthenticatedError("Use `Authorization: Bearer <token or API key>`."), reader_for(None, None)
        )
    try:
        claims = runtime.tokens.verify(credential)
    except PrismError as error:
        return Authentication(None, error, reader_for(None, None))
    reader = reader_for(claims.organization_id, claims.user_id)
    role = await reader.scalar(
        sa.select(_MEMBERSHIP.c.role).where(
            _MEMBERSHIP.c.organization_id == claims.organization_id, _MEMBERSHIP.c.user_id == claims.user_id
        )
    )
    if role is None:
        return Authentication(
            None, UnauthenticatedError("This token's user is no longer a member of its organization."), reader
        )
    viewer = Viewer(user_id=claims.user_id, organization_id=claims.organization_id, role=Role(role))
    return Authentication(viewer, None, reader)
