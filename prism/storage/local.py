"""A store in a local directory (embedded mode): one file per key, written atomically."""

import asyncio
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

from prism.storage.base import ObjectNotFoundError

__all__ = ["LocalStore"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_-]{0,255}$")


class LocalStore:
    """Objects as files under `root`; PRISM serves them through its signed `/files/<token>` route."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        # Keys are made by object_key; refuse anything that could climb out of the root.
        if not _KEY.match(key) or ".." in key or "//" in key:
            raise ObjectNotFoundError("No such object.")
        return self._root / key

    async def start(self) -> None:
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)

    async def reachable(self) -> bool:
        return await asyncio.to_thread(self._root.is_dir)

    async def put(self, key: str, content: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), content)

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(content)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFoundError("No such object.") from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    def download_url(self, key: str, *, name: str, content_type: str, expires: timedelta) -> str | None:
        return None
