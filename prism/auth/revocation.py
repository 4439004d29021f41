"""Revoked sessions, kept in the shared key-value store so every request can check its token without a query.

An access token names its session (`sid`); when a session is revoked its id is written here for as long as any
access token of it can still be valid (the access-token lifetime), after which expiry alone refuses the tokens.

Checks are batched: those made in the same turn of the event loop read the store once (`get_many`, one Redis MGET).
One event wakes every subscription that follows it, and each checks its connection's session before it is sent:
a thousand subscribers cost one round trip to Redis, not a thousand.
"""

import asyncio
from collections.abc import Sequence
from uuid import UUID

from prism.kv import KeyValueStore

__all__ = ["mark_session_revoked", "revocation_key", "revoked", "session_revoked"]

_LEEWAY_SECONDS = 60  # tokens are accepted up to 5 s after `exp`; keep the mark a little longer than that


def _key(session_id: UUID) -> str:
    return f"session-revoked:{session_id}"


def revocation_key(session_id: UUID) -> str:
    """Where a session's revocation is marked (for `revoked`, which checks many at once)."""
    return _key(session_id)


async def mark_session_revoked(kv: KeyValueStore, session_id: UUID, access_token_ttl_seconds: int) -> None:
    """Refuse the session's access tokens from now on (until they would have expired anyway)."""
    await kv.set(_key(session_id), "1", ttl_seconds=access_token_ttl_seconds + _LEEWAY_SECONDS)


async def session_revoked(kv: KeyValueStore, session_id: UUID) -> bool:
    """Whether the session was revoked (signed out, reuse detected, password changed) since its token was issued."""
    batch = _open.get(id(kv))
    if batch is None:
        batch = _open[id(kv)] = _Batch(kv)
    return await batch.check(_key(session_id))


async def revoked(kv: KeyValueStore, keys: Sequence[str]) -> set[str]:
    """Which of these sessions (by `revocation_key`) were revoked, in one read of the store (one delivery round's)."""
    values = await kv.get_many(keys)
    return {key for key, value in zip(keys, values, strict=True) if value is not None}


class _Batch:
    """The checks of one turn of the event loop against one store, read together at the end of the turn."""

    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv
        self._waiting: dict[str, list[asyncio.Future[bool]]] = {}
        asyncio.get_running_loop().call_soon(self._send)

    def check(self, key: str) -> "asyncio.Future[bool]":
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        return future

    def _send(self) -> None:
        # Closed to new checks from here on; the batch and its store are held only until the read is done.
        if _open.get(id(self._kv)) is self:
            del _open[id(self._kv)]
        task = asyncio.get_running_loop().create_task(self._read())
        _reading.add(task)
        task.add_done_callback(_reading.discard)

    async def _read(self) -> None:
        error: BaseException | None = None
        answers: dict[str, bool] = {}
        try:
            keys = list(self._waiting)
            values = await self._kv.get_many(keys)
            if len(values) != len(keys):
                raise RuntimeError(f"the store answered {len(values)} values for {len(keys)} keys")
            answers = {key: value is not None for key, value in zip(keys, values, strict=True)}
        except BaseException as failure:  # each check fails as its own read would have, or is cancelled with it
            error = failure
            if not isinstance(failure, Exception):
                raise
        finally:
            # Whatever happened, nobody waits for ever.
            for key, futures in self._waiting.items():
                for future in futures:
                    if future.done():
                        continue
                    if key in answers:
                        future.set_result(answers[key])
                    elif isinstance(error, Exception):
                        future.set_exception(error)
                    else:
                        future.cancel()


_open: dict[int, _Batch] = {}
"""The batch of this turn of the event loop, by store (a batch leaves it when it is read: nothing accumulates)."""
_reading: set["asyncio.Task[None]"] = set()
"""The reads in flight, referenced so that none is collected before it answers its checks."""
