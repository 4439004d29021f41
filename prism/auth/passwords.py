"""Password hashing with argon2id (OWASP-recommended parameters)."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["PasswordHasher", "hash_password", "make_hasher", "verify_password"]


def make_hasher() -> PasswordHasher:
    """argon2id with 19 MiB of memory, 2 iterations and 1 lane: OWASP's first recommended setting."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(hasher: PasswordHasher, password: str) -> str:
    """The encoded hash to store for a password."""
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing hash is checked against a dummy so timing does not reveal accounts."""
    try:
        if stored_hash is None:
            hasher.verify(_DUMMY_HASH, password)
            return False
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = make_hasher().hash("prism-no-such-account")
