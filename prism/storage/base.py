"""The interface every object store implements, and the rules they share (keys, limits, sha256)."""

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from prism.errors import Code, PrismError

__all__ = [
    "ObjectNotFoundError",
    "ObjectStore",
    "StorageLimitError",
    "StoredObject",
    "object_key",
    "read_limited",
    "sha256_hex",
]

CHUNK_BYTES = 256 * 1024


class StorageLimitError(PrismError):
    """A file over the size limit, or of a content type the settings do not allow."""

    code = Code.OUT_OF_RANGE


class ObjectNotFoundError(PrismError):
    """No object under that key."""

    code = Code.NOT_FOUND


@dataclass(frozen=True)
class StoredObject:
    """What storing a file measured: where it is, how big it is and its sha256 (hex)."""

    key: str
    size: int
    sha256: str
    content_type: str


def object_key(organization_id: UUID, object_id: UUID) -> str:
    """The key of an object: under its organization's prefix, so no key of one tenant names another's object."""
    return f"org/{organization_id}/{object_id}"


def sha256_hex(content: bytes) -> str:
    """The sha256 of a content, as 64 hex digits (what an attachment reports)."""
    return hashlib.sha256(content).hexdigest()


async def read_limited(chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[bytes, str]:
    """The whole content and its sha256, refusing (StorageLimitError) as soon as it passes `max_bytes`."""
    digest = hashlib.sha256()
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise StorageLimitError(f"The file is larger than {max_bytes} bytes.", field="file")
        digest.update(chunk)
    return bytes(body), digest.hexdigest()


class ObjectStore(Protocol):
    """Where attachment contents live. Keys come from `object_key`; every method is safe to call from async code."""

    async def start(self) -> None:
        """Make the store usable (create the bucket or directory when missing)."""

    async def reachable(self) -> bool:
        """Whether the store answers now (its bucket or directory is there), for /readyz."""

    async def put(self, key: str, content: bytes, content_type: str) -> None:
        """Store `content` under `key`, replacing what was there."""

    async def get(self, key: str) -> bytes:
        """The content under `key`; ObjectNotFoundError when there is none."""

    async def delete(self, key: str) -> None:
        """Remove the object under `key`; nothing happens when there is none."""

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    def download_url(self, key: str, *, name: str, content_type: str, expires: timedelta) -> str | None:
        """A URL that serves the object until `expires` has passed, or None when PRISM serves it (signed route)."""
