"""The named look-ups signing in needs before it knows whose rows it reads (migration 0005).

Row-level security hides every user's rows from a transaction that is not scoped to that user, so finding an account
by its email, or a token's owner by the token, goes through SECURITY DEFINER functions that answer one question each
and return an id (or a role), never a row. The caller then scopes its transaction to that user and reads as usual.
Each takes the session of the step it serves: the look-up runs in that step's transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.db.engine import counted, transaction_driver

__all__ = [
    "ClaimedSignUp",
    "claim_sign_up",
    "member_role",
    "member_role_outside_transaction",
    "member_role_setting_scope",
    "outside_transaction",
    "refresh_token_owner",
    "request_sign_up",
    "user_id_by_email",
    "user_token_owner",
]


async def _scalar(session: AsyncSession, call: sa.FunctionElement) -> object:  # type: ignore[type-arg]
    connection = await session.connection()
    statement = sa.select(call)  # unscoped: a named SECURITY DEFINER look-up, the step before a scope exists
    return (await connection.execute(statement)).scalar()


async def member_role(session: AsyncSession, organization_id: UUID, user_id: UUID) -> str | None:
    """The user's role in the organization, None when they are not a member."""
    role = await _scalar(session, sa.func.prism_member_role(organization_id, user_id))
    return str(role) if role is not None else None


async def outside_transaction(engine: AsyncEngine, statement: sa.Executable) -> Sequence[sa.Row[Any]]:
    """The rows of one named look-up, alone on a pooled connection in autocommit: one round trip, no BEGIN or COMMIT.

    For the look-ups authentication makes on every request: each is one read of a SECURITY DEFINER function that needs
    no tenant setting (so no transaction to scope), and the connection goes back to the pool before the request runs.
    Autocommit is the connection's client-side mode for this checkout only (SQLAlchemy restores the pool's default
    when the connection is returned).
    """
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return (await autocommit.execute(statement)).all()


async def member_role_outside_transaction(engine: AsyncEngine, organization_id: UUID, user_id: UUID) -> str | None:
    """`member_role` in one round trip, outside any transaction (`outside_transaction`)."""
    statement = sa.select(sa.func.prism_member_role(organization_id, user_id))  # unscoped: a named look-up
    rows = await outside_transaction(engine, statement)
    role = rows[0][0] if rows else None
    return str(role) if role is not None else None


_SCOPE_AND_MEMBER_ROLE = (  # unscoped: sets the scope row-level security reads, then a named look-up
    "SELECT set_config('prism.org_id', $1, true), set_config('prism.user_id', $2, true), "
    "prism_member_role(CAST($1 AS uuid), CAST($2 AS uuid))"
)


async def member_role_setting_scope(connection: AsyncConnection, organization_id: UUID, user_id: UUID) -> str | None:
    """`member_role`, asked by the statement that scopes the connection's open transaction to the organization and
    user (what `prism.db.engine.set_tenant` does, and sent the same way): one round trip for both. The look-up reads
    no tenant row, so a caller refused for not being a member has read nothing in the scope."""
    scope = (str(organization_id), str(user_id))
    driver = await transaction_driver(connection)
    if driver is not None:
        # Every request sends it: by asyncpg itself, in the transaction SQLAlchemy began (`transaction_driver`).
        try:
            row = await driver.fetchrow(counted(_SCOPE_AND_MEMBER_ROLE), *scope)  # unscoped: a named look-up
        except Exception:
            if driver.is_closed():
                # A lost connection, invalidated at once as SQLAlchemy does for a statement it sent: the unit's close
                # then has no ROLLBACK to try on it (which failed, and its handler raised out of `close()`).
                await connection.invalidate()
            raise
        role = row[2]
    else:
        result = await connection.exec_driver_sql(_SCOPE_AND_MEMBER_ROLE, scope)  # unscoped: a named look-up
        role = result.scalars(2).one()  # the third column: the role
    return str(role) if role is not None else None


async def user_id_by_email(session: AsyncSession, email: str) -> UUID | None:
    """The id of the account with this (normalised) email address."""
    found = await _scalar(session, sa.func.prism_user_id_by_email(email, type_=sa.Uuid))
    return found if isinstance(found, UUID) else None


async def user_token_owner(session: AsyncSession, token_hash: str, purpose: str) -> UUID | None:
    """Whose unused, unexpired one-time token of this purpose has this hash."""
    found = await _scalar(session, sa.func.prism_user_token_owner(token_hash, purpose, type_=sa.Uuid))
    return found if isinstance(found, UUID) else None


async def refresh_token_owner(session: AsyncSession, token_hash: str) -> UUID | None:
    """Whose session the refresh token with this hash belongs to, used or not (reuse is detected afterwards)."""
    found = await _scalar(session, sa.func.prism_refresh_token_owner(token_hash, type_=sa.Uuid))
    return found if isinstance(found, UUID) else None


async def request_sign_up(
    session: AsyncSession,
    *,
    request_id: UUID,
    emails: list[str],
    name: str,
    organization_name: str,
    password_hash: str,
    token_hash: str,
    expires_at: datetime,
) -> str | None:
    """Record a sign-up awaiting confirmation, unless one of the address's forms has an account: then nothing is
    recorded and the account's stored address is answered. One statement either way (migration 0008)."""
    existing = await _scalar(
        session,
        sa.func.prism_request_sign_up(
            request_id,
            sa.literal(emails, type_=postgresql.ARRAY(sa.Text)),
            name,
            organization_name,
            password_hash,
            token_hash,
            expires_at,
            type_=sa.Text,
        ),
    )
    return str(existing) if existing is not None else None


@dataclass(frozen=True)
class ClaimedSignUp:
    """What a confirmed sign-up asked for."""

    email: str
    name: str
    organization_name: str
    password_hash: str


async def claim_sign_up(session: AsyncSession, token_hash: str) -> ClaimedSignUp | None:
    """Take (delete) the unexpired sign-up request whose mailed token has this hash; None when there is none."""
    connection = await session.connection()
    statement = sa.text(  # unscoped: a named SECURITY DEFINER function, the step before an account exists
        "SELECT email, name, organization_name, password_hash FROM prism_claim_sign_up(:hash)"
    )
    row = (await connection.execute(statement, {"hash": token_hash})).first()
    return ClaimedSignUp(row.email, row.name, row.organization_name, row.password_hash) if row is not None else None
