"""Automatic persisted queries (Apollo APQ): clients send a query's SHA-256 instead of its text once it is known.

A request with `extensions.persistedQuery = {version: 1, sha256Hash}` and no `query` runs the stored text, or gets
PERSISTED_QUERY_NOT_FOUND, upon which the client sends the text with the hash; the hash is checked and the text kept
in the key-value store (Redis when configured) for `ttl_seconds` after it last ran successfully.

Storage is bounded, since anyone may send texts: a text over `max_bytes` runs but is not kept; each identity (a
user or API key) may store `per_hour` new texts an hour and each address without a sign-in `anonymous_per_hour`,
kept one hour only. A text not kept costs the client nothing but a resend: it is asked for again, as the protocol
expects.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prism.kv import KeyValueStore

__all__ = ["PersistedQueries", "PersistedQueryError", "PersistedQueryRequest"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PersistedQueryError(Exception):
    """A persisted-query extension that cannot be honoured; `code` is the GraphQL error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class PersistedQueryRequest:
    """The hash a request names, and whether its text came with it (to be stored once it ran)."""

    sha256: str
    register: bool


def requested(extensions: dict[str, Any] | None, query: str | None) -> PersistedQueryRequest | None:
    """The persisted query a request names, checked; None when it names none."""
    extension = (extensions or {}).get("persistedQuery")
    if extension is None:
        return None
    if not isinstance(extension, dict) or extension.get("version") != 1:
        raise PersistedQueryError("Only persisted queries of version 1 are supported.", "PERSISTED_QUERY_NOT_SUPPORTED")
    sha256 = extension.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise PersistedQueryError("`sha256Hash` must be 64 lower-case hexadecimal digits.", "BAD_REQUEST")
    if query is not None and hashlib.sha256(query.encode()).hexdigest() != sha256:
        raise PersistedQueryError("The provided sha256Hash does not match the query.", "BAD_REQUEST")
    return PersistedQueryRequest(sha256=sha256, register=query is not None)


ANONYMOUS_TTL_SECONDS = 3_600
_QUOTA_WINDOW_SECONDS = 3_600


class PersistedQueries:
    """Query texts by hash in the key-value store, within size and per-identity bounds."""

    def __init__(
        self,
        store: Callable[[], KeyValueStore],
        ttl_seconds: int,
        *,
        max_bytes: int = 16_384,
        per_hour: int = 100,
        anonymous_per_hour: int = 10,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._max_bytes = max_bytes
        self._per_hour = per_hour
        self._anonymous_per_hour = anonymous_per_hour

    async def get(self, sha256: str) -> str | None:
        return await self._store().get(f"apq:{sha256}")

    async def put(self, sha256: str, query: str, *, owner: str, anonymous: bool) -> bool:
        """Keep a text that ran, if its size and its owner's quota allow; whether it was kept."""
        store = self._store()
        if len(query.encode()) > self._max_bytes:
            return False
        if await store.get(f"apq:{sha256}") is not None:
            # Known already: refresh its lifetime, which costs no quota.
            await store.set(f"apq:{sha256}", query, ttl_seconds=ANONYMOUS_TTL_SECONDS if anonymous else self._ttl)
            return True
        allowed = self._anonymous_per_hour if anonymous else self._per_hour
        if await store.incr(f"apq-quota:{owner}", _QUOTA_WINDOW_SECONDS) > allowed:
            return False
        await store.set(f"apq:{sha256}", query, ttl_seconds=ANONYMOUS_TTL_SECONDS if anonymous else self._ttl)
        return True
