"""Automatic persisted queries (Apollo APQ): clients send a query's SHA-256 instead of its text once it is known.

A request with `extensions.persistedQuery = {version: 1, sha256Hash}` and no `query` runs the stored text, or gets
PERSISTED_QUERY_NOT_FOUND, upon which the client sends the text with the hash; the hash is checked and the text kept
in the key-value store (Redis when configured) for `ttl_seconds` after it last ran successfully.
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


class PersistedQueries:
    """Query texts by hash in the key-value store."""

    def __init__(self, store: Callable[[], KeyValueStore], ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds

    async def get(self, sha256: str) -> str | None:
        return await self._store().get(f"apq:{sha256}")

    async def put(self, sha256: str, query: str) -> None:
        await self._store().set(f"apq:{sha256}", query, ttl_seconds=self._ttl)
