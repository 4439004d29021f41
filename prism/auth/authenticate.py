"""One function authenticates every caller: an HTTP request's Authorization header or a WebSocket
`connection_init` payload, with an access token (people) or an API key (integrators)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from prism.auth.rbac import Viewer
from prism.auth.revocation import session_revoked
from prism.db.engine import TenantReader
from prism.db.tables import Membership
from prism.domain.enums import Role
from prism.errors import PrismError, UnauthenticatedError
from prism.runtime import Runtime
from prism.services.api_keys import LAST_USED_RESOLUTION_SECONDS, find_api_key, is_api_key, mark_used

__all__ = ["Authentication", "authenticate", "credentials_from_connection_params", "credentials_from_header"]

_MEMBERSHIP = Membership.__table__  # type: ignore[attr-defined]

_CREATOR_LEFT = "This API key's creator is no longer a member of its organization; ask an administrator for a new key."

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
    if is_api_key(credential):
        return await _authenticate_api_key(runtime, credential, reader_for)
    try:
        claims = runtime.tokens.verify(credential)
    except PrismError as error:
        return Authentication(None, error, reader_for(None, None))
    if await session_revoked(runtime.kv, claims.session_id):
        return Authentication(
            None, UnauthenticatedError("This session was signed out; log in again."), reader_for(None, None)
        )
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
    viewer = Viewer(
        user_id=claims.user_id, organization_id=claims.organization_id, role=Role(role), session_id=claims.session_id
    )
    return Authentication(viewer, None, reader)


async def _authenticate_api_key(runtime: Runtime, credential: str, reader_for: ReaderFactory) -> Authentication:
    """An integrator's key acts as its creator's current role in the key's organization, narrowed by its scopes."""
    try:
        key = await find_api_key(runtime.engine, credential)
    except PrismError as error:
        return Authentication(None, error, reader_for(None, None))
    if key.created_by_id is None:
        return Authentication(None, UnauthenticatedError(_CREATOR_LEFT), reader_for(None, None))
    reader = reader_for(key.organization_id, key.created_by_id)
    role = await reader.scalar(
        sa.select(_MEMBERSHIP.c.role).where(
            _MEMBERSHIP.c.organization_id == key.organization_id, _MEMBERSHIP.c.user_id == key.created_by_id
        )
    )
    if role is None:
        return Authentication(None, UnauthenticatedError(_CREATOR_LEFT), reader)
    # One write per key per minute at most: reads stay cheap, and lastUsedAt is accurate to the minute.
    if await runtime.kv.incr(f"api_key:last_used:{key.id}", LAST_USED_RESOLUTION_SECONDS) == 1:
        await mark_used(runtime.engine, key)
    viewer = Viewer(
        user_id=key.created_by_id,
        organization_id=key.organization_id,
        role=Role(role),
        api_key_id=key.id,
        scopes=key.scopes,
    )
    return Authentication(viewer, None, reader)
