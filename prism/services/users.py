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

__all__ = ["find_user_by_email", "find_user_id_by_email", "owner_of_user_token"]


async def find_user_id_by_email(uow: UnitOfWork, forms: list[str]) -> UUID | None:
    """The id of the account stored under one of these forms of an address (`credentials.lookup_forms`).

    Every form is looked up, found or not, so the statements sent depend on the address's text, never on whether
    an account exists.
    """
    found: UUID | None = None
    async with uow.session() as session:
        for form in forms:
            user_id = await user_id_by_email(session, form)
            found = found or user_id
    return found


async def find_user_by_email(uow: UnitOfWork, forms: list[str]) -> User | None:
    """The account stored under one of these forms of an address, read in its own scope."""
    user_id = await find_user_id_by_email(uow, forms)
    if user_id is None:
        return None
    async with uow.session(None, user_id) as session:
        return await session.get(User, user_id)


async def owner_of_user_token(uow: UnitOfWork, token: str, purpose: Purpose) -> UUID | None:
    """Whose unused, unexpired one-time token this is; the caller then reads and uses it in that user's scope."""
    async with uow.session() as session:
        return await user_token_owner(session, hash_token(token.strip()), purpose.value)
