"""Finding an account or a token's owner before the transaction knows whose rows it may read.

Row-level security shows a transaction only its own user's rows (and its organization's members), so these helpers
ask a named look-up (prism/db/lookups.py) for the id first, then read the row in that user's scope.
"""

from uuid import UUID

from prism.auth.tokens import hash_token
from prism.db.lookups import user_id_by_email, user_token_owner
from prism.db.tables import User
from prism.db.unit_of_work import UnitOfWork
from prism.services.user_tokens import Purpose

__all__ = ["find_user_by_email", "owner_of_user_token"]


async def find_user_by_email(uow: UnitOfWork, email: str) -> User | None:
    """The account with this (normalised) email address, read in its own scope."""
    async with uow.session() as session:
        user_id = await user_id_by_email(session, email)
    if user_id is None:
        return None
    async with uow.session(None, user_id) as session:
        return await session.get(User, user_id)


async def owner_of_user_token(uow: UnitOfWork, token: str, purpose: Purpose) -> UUID | None:
    """Whose unused, unexpired one-time token this is; the caller then reads and uses it in that user's scope."""
    async with uow.session() as session:
        return await user_token_owner(session, hash_token(token.strip()), purpose.value)
