"""Revoked sessions, kept in the shared key-value store so every request can check its token without a query.

An access token names its session (`sid`); when a session is revoked its id is written here for as long as any
access token of it can still be valid (the access-token lifetime), after which expiry alone refuses the tokens.
"""

from uuid import UUID

from prism.kv import KeyValueStore

__all__ = ["mark_session_revoked", "session_revoked"]

_LEEWAY_SECONDS = 60  # tokens are accepted up to 5 s after `exp`; keep the mark a little longer than that


def _key(session_id: UUID) -> str:
    return f"session-revoked:{session_id}"


async def mark_session_revoked(kv: KeyValueStore, session_id: UUID, access_token_ttl_seconds: int) -> None:
    """Refuse the session's access tokens from now on (until they would have expired anyway)."""
    await kv.set(_key(session_id), "1", ttl_seconds=access_token_ttl_seconds + _LEEWAY_SECONDS)


async def session_revoked(kv: KeyValueStore, session_id: UUID) -> bool:
    """Whether the session was revoked (signed out, reuse detected, password changed) since its token was issued."""
    return await kv.get(_key(session_id)) is not None
