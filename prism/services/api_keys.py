"""API keys for integrators: create (shown once), revoke, and verify a presented key.

A key reads `prism_<prefix>_<secret>`. The prefix is visible and names the row; the secret (32 random bytes) is
stored as its SHA-256 digest. A secret that random needs no slow hash: guessing it is hopeless however fast the
hash, so each request pays one SHA-256 and one constant-time comparison.
"""

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.rbac import Permission, Viewer, require
from prism.db.access_tables import ApiKey
from prism.db.base import utcnow
from prism.db.lookups import outside_transaction
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, ForbiddenError, UnauthenticatedError, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.sessions import require_recent_authentication
from prism.services.validation import clean_text, get_for_update

__all__ = [
    "KEY_PREFIX",
    "ApiKeyScope",
    "ApiKeyService",
    "CreatedApiKey",
    "FoundApiKey",
    "find_api_key",
    "hash_secret",
    "is_api_key",
    "mark_used",
    "parse_api_key",
]

KEY_PREFIX = "prism_"
PREFIX_LENGTH = 8  # hex characters: 4 random bytes, unique per key (a clash is retried)
SECRET_BYTES = 32
LAST_USED_RESOLUTION_SECONDS = 60
NAME_MAX_LENGTH = 120


class ApiKeyScope(enum.StrEnum):
    """What a key may do, capped by its creator's role (the keys of `prism.auth.rbac.SCOPE_PERMISSIONS`)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    AI = "ai"
    USAGE_WRITE = "usage:write"


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key's row and the full key, which exists nowhere else once the response is sent."""

    row: ApiKey
    key: str


@dataclass(frozen=True)
class FoundApiKey:
    """A key row found by prefix through `prism_find_api_key`, before its organization is known."""

    id: UUID
    organization_id: UUID
    secret_hash: str
    scopes: frozenset[str]
    created_by_id: UUID | None
    expires_at: datetime | None
    revoked_at: datetime | None


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_key(credential: str) -> bool:
    """Whether a bearer credential claims to be an API key (rather than an access token)."""
    return credential.startswith(KEY_PREFIX)


def parse_api_key(credential: str) -> tuple[str, str] | None:
    """The (prefix, secret) of a well-formed key, None otherwise."""
    parts = credential.split("_", 2)
    if len(parts) != 3 or parts[0] + "_" != KEY_PREFIX:
        return None
    prefix, secret = parts[1], parts[2]
    if len(prefix) != PREFIX_LENGTH or not all(c in "0123456789abcdef" for c in prefix) or len(secret) < 32:
        return None
    return prefix, secret


async def find_api_key(engine: AsyncEngine, credential: str, *, now: datetime | None = None) -> FoundApiKey:
    """The live key a credential names; UNAUTHENTICATED, with the reason, for anything else.

    The lookup runs through the SECURITY DEFINER function `prism_find_api_key`, since the key's organization (and
    so the row-level security scope) is what the lookup is for; one statement outside any transaction, like the
    other look-ups authentication makes on every request.
    """
    parsed = parse_api_key(credential)
    if parsed is None:
        raise UnauthenticatedError("This API key is malformed: keys look like `prism_<prefix>_<secret>`.")
    prefix, secret = parsed
    rows = await outside_transaction(
        engine,
        sa.text(  # unscoped: SECURITY DEFINER look-up; the key's organization is what it finds
            "SELECT id, organization_id, secret_hash, scopes, created_by_id, expires_at, revoked_at "
            "FROM prism_find_api_key(:prefix)"
        ).bindparams(prefix=prefix),
    )
    row = rows[0] if rows else None
    # Compare even when no row matched, so a missing prefix takes as long as a wrong secret.
    expected = row.secret_hash if row is not None else hash_secret("")
    if not hmac.compare_digest(hash_secret(secret), expected) or row is None:
        raise UnauthenticatedError("This API key is not valid: check that it was copied in full.")
    if row.revoked_at is not None:
        raise UnauthenticatedError("This API key was revoked; ask an administrator for a new one.")
    if row.expires_at is not None and row.expires_at <= (now or utcnow()):
        raise UnauthenticatedError(
            f"This API key expired at {row.expires_at.isoformat()}; ask an administrator for a new one."
        )
    return FoundApiKey(
        id=row.id,
        organization_id=row.organization_id,
        secret_hash=row.secret_hash,
        scopes=frozenset(row.scopes),
        created_by_id=row.created_by_id,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def mark_used(uow: UnitOfWork, key: FoundApiKey) -> None:
    """Record that a key was just used (the caller throttles this to once a minute per key).

    In its creator's scope, the one the key's requests run in: in a request's unit of work it needs no new setting.
    """
    async with uow.session(key.organization_id, key.created_by_id) as session:
        connection = await session.connection()
        table = ApiKey.__table__  # type: ignore[attr-defined]
        await connection.execute(
            sa.update(table)
            .where(table.c.id == key.id, table.c.organization_id == key.organization_id)
            .values(last_used_at=sa.func.now())
        )


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    known = {scope.value for scope in ApiKeyScope}
    requested = {str(scope).lower() for scope in scopes}
    if unknown := requested - known:
        raise ValidationError(f"Unknown scopes: {', '.join(sorted(unknown))}.", field="scopes")
    cleaned = sorted(requested)
    if not cleaned:
        raise ValidationError("Give the key at least one scope.", field="scopes")
    return cleaned


class ApiKeyService:
    """Creates and revokes the organization's API keys (OWNER and ADMIN, signed in as people)."""

    def __init__(
        self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta, reauthentication_window_seconds: int | None
    ) -> None:
        """`reauthentication_window_seconds=None` only for an operator at the server (`prism api-keys create`), who
        proves nothing through a session: the command line is the authentication."""
        self._uow = uow
        self._viewer = viewer
        self._meta = meta
        self._window = reauthentication_window_seconds

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    def _require_manager(self) -> None:
        require(self._viewer, Permission.MANAGE_API_KEYS)
        if self._viewer.api_key_id is not None:
            # A leaked key must not be able to mint its own successors: keys are managed by signed-in people.
            raise ForbiddenError("API keys are managed by signed-in people, not by other API keys.")

    async def create(self, name: str, scopes: Iterable[str], expires_at: datetime | None) -> CreatedApiKey:
        """Create a key with a fresh random prefix and secret; the full key is in the result and nowhere else."""
        self._require_manager()
        # A key outlives the session: a stolen access token alone must not be able to mint one.
        if self._window is not None:
            await require_recent_authentication(self._uow, self._viewer, self._window)
        clean_name = clean_text(name, "name", max_length=NAME_MAX_LENGTH)
        clean_scopes = _clean_scopes(scopes)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValidationError("expiresAt needs a time zone, like 2027-01-31T00:00:00Z.", field="expiresAt")
            try:  # a time UTC cannot hold (year 10000 once its offset is applied) is out of range, not a 500
                expires_at = expires_at.astimezone(UTC)
            except OverflowError:
                raise ValidationError("expiresAt is out of range.", field="expiresAt", code=Code.OUT_OF_RANGE) from None
            if expires_at <= utcnow():
                raise ValidationError("expiresAt must be in the future.", field="expiresAt", code=Code.OUT_OF_RANGE)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            prefix = await self._unused_prefix(session)
            row = ApiKey(
                organization_id=self._org,
                name=clean_name,
                prefix=prefix,
                secret_hash=hash_secret(secret),
                scopes=clean_scopes,
                created_by_id=self._viewer.user_id,
                expires_at=expires_at,
            )
            session.add(row)
            await session.flush()
            record(
                session,
                organization_id=self._org,
                action="api_key.created",
                meta=self._meta,
                actor=self._viewer,
                target_type="api_key",
                target_id=row.id,
                details={
                    "name": clean_name,
                    "prefix": prefix,
                    "scopes": clean_scopes,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
        return CreatedApiKey(row=row, key=f"{KEY_PREFIX}{prefix}_{secret}")

    async def revoke(self, key_id: UUID) -> ApiKey:
        """Revoke a key: it stops working on the next request. Revoking a revoked key changes nothing."""
        self._require_manager()
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            row = await get_for_update(session, ApiKey, key_id, self._org, "id")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.add(row)
                record(
                    session,
                    organization_id=self._org,
                    action="api_key.revoked",
                    meta=self._meta,
                    actor=self._viewer,
                    target_type="api_key",
                    target_id=row.id,
                    details={"name": row.name, "prefix": row.prefix},
                )
        return row

    async def _unused_prefix(self, session: AsyncSession) -> str:
        """A random prefix no key (of any organization) uses yet."""
        connection = await session.connection()
        for _ in range(5):
            prefix = secrets.token_hex(PREFIX_LENGTH // 2)
            # Prefixes are unique across organizations, and only the SECURITY DEFINER look-up sees them all.
            lookup = sa.text("SELECT 1 FROM prism_find_api_key(:prefix)")  # unscoped: SECURITY DEFINER look-up
            taken = (await connection.execute(lookup, {"prefix": prefix})).first()
            if taken is None:
                return prefix
        raise RuntimeError("could not draw an unused API key prefix")  # 2^32 prefixes: practically unreachable
