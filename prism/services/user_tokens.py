"""One-time tokens handed to a user (by email or mid-log-in), stored as SHA-256 hashes with a purpose and expiry."""

import enum
from datetime import timedelta
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.tokens import hash_token, new_opaque_token
from prism.db.access_tables import UserToken
from prism.db.base import utcnow
from prism.db.tables import User
from prism.db.tenancy import user_select

__all__ = [
    "Purpose",
    "consume_user_token",
    "find_user_token",
    "issue_user_token",
    "issue_user_token_if_user_exists",
]


class Purpose(enum.StrEnum):
    """What a user token is for, and so how long it lives."""

    VERIFY_EMAIL = "VERIFY_EMAIL"
    RESET_PASSWORD = "RESET_PASSWORD"  # noqa: S105 - a purpose, not a password
    MFA_CHALLENGE = "MFA_CHALLENGE"


LIFETIMES = {
    Purpose.VERIFY_EMAIL: timedelta(hours=24),
    Purpose.RESET_PASSWORD: timedelta(hours=1),
    Purpose.MFA_CHALLENGE: timedelta(minutes=5),
}


def issue_user_token(
    session: AsyncSession, user_id: UUID, purpose: Purpose, organization_id: UUID | None = None
) -> str:
    """Add a token to the transaction and return its secret (the only time it exists in clear)."""
    token = new_opaque_token()
    session.add(
        UserToken(
            user_id=user_id,
            purpose=purpose.value,
            token_hash=hash_token(token),
            organization_id=organization_id,
            expires_at=utcnow() + LIFETIMES[purpose],
        )
    )
    return token


async def issue_user_token_if_user_exists(session: AsyncSession, user_id: UUID, purpose: Purpose) -> str:
    """Like `issue_user_token`, as one INSERT ... SELECT from the user's row: it inserts nothing when there is no such
    user, and sends the same statement either way (a use case that must not reveal whether an account exists)."""
    token = new_opaque_token()
    now = utcnow()
    columns = ["id", "user_id", "purpose", "token_hash", "created_at", "expires_at"]
    source = user_select(
        User,
        user_id,
        sa.literal(uuid4(), type_=sa.Uuid),
        col(User.id),
        sa.literal(purpose.value),
        sa.literal(hash_token(token)),
        sa.literal(now, type_=sa.DateTime(timezone=True)),
        sa.literal(now + LIFETIMES[purpose], type_=sa.DateTime(timezone=True)),
    )
    await session.exec(sa.insert(UserToken).from_select(columns, source))
    return token


async def find_user_token(session: AsyncSession, user_id: UUID, token: str, purpose: Purpose) -> UserToken | None:
    """The user's unused, unexpired token of this purpose, without using it up."""
    return (
        await session.exec(
            user_select(UserToken, user_id).where(
                UserToken.token_hash == hash_token(token.strip()),
                UserToken.purpose == purpose.value,
                col(UserToken.used_at).is_(None),
                UserToken.expires_at > utcnow(),
            )
        )
    ).first()


async def consume_user_token(session: AsyncSession, user_id: UUID, token: str, purpose: Purpose) -> UserToken | None:
    """Use the token up and return it; None when it is unknown, used, expired or of another purpose.

    The conditional update lets only one of two concurrent uses win.
    """
    row = await find_user_token(session, user_id, token, purpose)
    if row is None:
        return None
    won = (
        await session.exec(
            sa.update(UserToken)
            .where(col(UserToken.id) == row.id, col(UserToken.used_at).is_(None))
            .values(used_at=utcnow())
            .returning(col(UserToken.id))
        )
    ).first()
    return row if won is not None else None
