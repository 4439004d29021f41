"""One function authenticates every caller: an HTTP request's Authorization header or a WebSocket
`connection_init` payload, with an access token (people) or an API key (integrators)."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prism.auth.rbac import Viewer
from prism.auth.revocation import revocation_key, revoked, session_revoked
from prism.db.lookups import member_role_outside_transaction
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.domain.events import DomainEvent
from prism.errors import PrismError, UnauthenticatedError
from prism.runtime import Runtime
from prism.services.api_keys import (
    LAST_USED_RESOLUTION_SECONDS,
    FoundApiKey,
    find_api_key,
    is_api_key,
    mark_used,
)

__all__ = [
    "Authentication",
    "ConnectionAccess",
    "authenticate",
    "credentials_from_connection_params",
    "credentials_from_header",
    "recheck_all",
]

logger = logging.getLogger("prism.auth")

_CREATOR_LEFT = "This API key's creator is no longer a member of its organization; ask an administrator for a new key."


@dataclass
class Authentication:
    """The outcome: a viewer, or the reason there is none."""

    viewer: Viewer | None
    error: PrismError | None
    expires_at: datetime | None = None
    """When the credential stops being valid by itself (the token's expiry, the key's), if it does."""
    unit_of_work: UnitOfWork | None = None
    """With `for_request`, the request's unit of work in the viewer's scope, its transaction opened by the role
    look-up; the caller closes it."""


@dataclass
class ConnectionAccess:
    """A long-lived connection's credential (a WebSocket's), rechecked cheaply between full checks.

    A full check (`authenticate`) reads the database; between events a connection needs only what can change
    without an event of its organization: the credential's own expiry and its session's revocation (a key-value
    read). What does come as an event (the member's role changed or removed, the API key revoked, the
    organization's settings) marks the access stale through `concerns`, and the next check is a full one.
    """

    credential: str | None
    viewer: Viewer
    expires_at: datetime | None = None
    stale: bool = False
    full_checks: int = 0
    _revocation_key: str | None = field(default=None, init=False, repr=False)

    @property
    def revocation_key(self) -> str | None:
        """Where the session's sign-out would be marked (None for an API key), computed once per viewer."""
        session_id = self.viewer.session_id
        if session_id is None:
            return None
        if self._revocation_key is None:
            self._revocation_key = revocation_key(session_id)
        return self._revocation_key

    def concerns(self, event: DomainEvent) -> bool:
        """Whether an event of the organization may change this access."""
        viewer = self.viewer
        if event.organization_id != viewer.organization_id:
            return False
        if event.type == "Member":
            return bool(event.payload.get("data", {}).get("userId") == str(viewer.user_id))
        if event.type == "ApiKey":
            return viewer.api_key_id is not None and event.entity_id == viewer.api_key_id
        return event.type == "Organization"

    async def recheck(self, runtime: Runtime) -> PrismError | None:
        """None while the access holds (the viewer may have been refreshed), else why it no longer does."""
        if self.stale:
            auth = await authenticate(runtime, self.credential)
            self.full_checks += 1
            if auth.viewer is None:
                return auth.error or UnauthenticatedError("Sign in again.")
            if auth.viewer.organization_id != self.viewer.organization_id:
                return UnauthenticatedError("The credential no longer names this organization.")
            self.viewer, self.expires_at, self.stale = auth.viewer, auth.expires_at, False
            self._revocation_key = None
            return None
        if (expired := self.expiry_error()) is not None:
            return expired
        if self.viewer.session_id is not None and await session_revoked(runtime.kv, self.viewer.session_id):
            return UnauthenticatedError("This session was signed out; log in again.")
        return None

    def expiry_error(self, now: datetime | None = None) -> PrismError | None:
        """Why the credential no longer holds by itself (it expired at `now`, by default now), else None."""
        if self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at:
            return UnauthenticatedError("The credential expired; sign in again and reconnect.")
        return None


async def recheck_all(runtime: Runtime, accesses: Sequence[ConnectionAccess]) -> list[PrismError | None]:
    """`recheck` for many connections at once, in order: the stale ones in full, one by one; the others' sessions in
    one read of the store. Raises StoreUnavailableError when that read fails."""
    errors: list[PrismError | None] = [None] * len(accesses)
    sessions: list[tuple[int, str]] = []
    now = datetime.now(UTC)
    for index, access in enumerate(accesses):
        if access.stale:
            errors[index] = await access.recheck(runtime)
        elif (expired := access.expiry_error(now)) is not None:
            errors[index] = expired
        elif (key := access.revocation_key) is not None:
            sessions.append((index, key))
    if sessions:
        signed_out = await revoked(runtime.kv, list(dict.fromkeys(key for _, key in sessions)))
        for index, key in sessions:
            if key in signed_out:
                errors[index] = UnauthenticatedError("This session was signed out; log in again.")
    return errors


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


async def authenticate(runtime: Runtime, credential: str | None, *, for_request: bool = False) -> Authentication:
    """Resolve a credential to a viewer; every failure is UNAUTHENTICATED with a reason, never an exception.

    The member's role is read on every call, by a SECURITY DEFINER function that reads no tenant row, so a caller
    refused for not being a member has read nothing. Where it is read:
    - `for_request` (an HTTP request): by the first statement of the request's own unit of work, which sets the
      viewer's scope in the same statement, and is handed back in `unit_of_work` for the request to run in (closed
      here when the caller is refused): no connection and no round trip of its own.
    - otherwise (a WebSocket's sign-in and rechecks, the usage endpoint): on a connection of its own that goes back
      to the pool before the caller goes on, alone in autocommit, one statement.
    An API key is first looked up that second way (one statement; its organization and creator are not known
    before); once a minute per key its last use is recorded, in a short unit of work of its own, or with
    `for_request` committed in the request's unit before the request's work.
    """
    if credential is None:
        return Authentication(None, None)
    if credential == "":
        return Authentication(None, UnauthenticatedError("Use `Authorization: Bearer <token or API key>`."))
    if not is_api_key(credential):
        return await _authenticate_token(runtime, credential, for_request)
    return await _authenticate_api_key(runtime, credential, for_request)


async def _member_role(
    runtime: Runtime, organization_id: UUID, user_id: UUID, api_key_id: UUID | None, for_request: bool
) -> tuple[Role | None, UnitOfWork | None]:
    """The user's role in the organization, and the request's unit of work it was read in (`for_request`, member)."""
    if not for_request:
        found = await member_role_outside_transaction(runtime.engine, organization_id, user_id)
        return (Role(found) if found is not None else None), None
    uow = runtime.unit_of_work(organization_id, user_id, api_key_id=api_key_id)
    try:
        found = await uow.member_role()
    except BaseException:
        await uow.close()
        raise
    if found is None:
        await uow.close()
        return None, None
    return Role(found), uow


async def _authenticate_token(runtime: Runtime, credential: str, for_request: bool) -> Authentication:
    try:
        claims = runtime.tokens.verify(credential)
    except PrismError as error:
        return Authentication(None, error)
    if await session_revoked(runtime.kv, claims.session_id):
        return Authentication(None, UnauthenticatedError("This session was signed out; log in again."))
    # The token's one database read, on every request.
    role, uow = await _member_role(runtime, claims.organization_id, claims.user_id, None, for_request)
    if role is None:
        return Authentication(
            None, UnauthenticatedError("This token's user is no longer a member of its organization.")
        )
    viewer = Viewer(
        user_id=claims.user_id, organization_id=claims.organization_id, role=role, session_id=claims.session_id
    )
    return Authentication(viewer, None, expires_at=datetime.fromtimestamp(claims.expires_at, UTC), unit_of_work=uow)


async def _authenticate_api_key(runtime: Runtime, credential: str, for_request: bool) -> Authentication:
    """An integrator's key acts as its creator's current role in the key's organization, narrowed by its scopes."""
    try:
        key = await find_api_key(runtime.engine, credential)
    except PrismError as error:
        return Authentication(None, error)
    if key.created_by_id is None:
        return Authentication(None, UnauthenticatedError(_CREATOR_LEFT))
    role, uow = await _member_role(runtime, key.organization_id, key.created_by_id, key.id, for_request)
    if role is None:
        return Authentication(None, UnauthenticatedError(_CREATOR_LEFT))
    try:
        await _record_use(runtime, key, uow)
    except BaseException:
        if uow is not None:
            await uow.close()
        raise
    viewer = Viewer(
        user_id=key.created_by_id,
        organization_id=key.organization_id,
        role=role,
        api_key_id=key.id,
        scopes=key.scopes,
    )
    return Authentication(viewer, None, expires_at=key.expires_at, unit_of_work=uow)


async def _record_use(runtime: Runtime, key: FoundApiKey, request_uow: UnitOfWork | None) -> None:
    """Record the key's use, once a minute at most: reads stay cheap, and lastUsedAt is accurate to the minute.

    In a short unit of work of its own, or, when authentication opened the request's, committed in that one before
    the request's work begins (a request never holds two connections). The counter is bookkeeping: with Redis
    unreachable (a restart) the key still works and each use is written.
    """
    try:
        first_use_this_minute = await runtime.kv.incr(f"api_key:last_used:{key.id}", LAST_USED_RESOLUTION_SECONDS) == 1
    except Exception as error:  # noqa: BLE001 - whatever the store raises, the request goes on
        logger.warning("could not count an API key's use; recording it", extra={"error": type(error).__name__})
        first_use_this_minute = True
    if not first_use_this_minute:
        return
    if request_uow is not None:
        await mark_used(request_uow, key)
        await request_uow.commit()
        return
    async with runtime.unit_of_work() as uow:
        await mark_used(uow, key)
