"""A store on S3 or an S3-compatible server (MinIO, SeaweedFS) through the `minio` client, run in threads."""

import asyncio
import io
from datetime import timedelta
from urllib.parse import quote

from minio import Minio
from minio.error import S3Error

from prism.storage.base import ObjectNotFoundError

__all__ = ["S3Store"]

_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}


class S3Store:
    """Objects in one bucket; downloads are presigned GET URLs that expire."""

    def __init__(self, client: Minio, bucket: str, *, presigner: Minio | None = None) -> None:
        self._client = client
        self._bucket = bucket
        # Signs download URLs for the address browsers use, which may differ from the one PRISM reaches.
        self._presigner = presigner or client

    async def start(self) -> None:
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        if not self._client.bucket_exists(self._bucket):
            try:
                self._client.make_bucket(self._bucket)
            except S3Error as error:
                # Another replica created it between the check and here.
                if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    async def reachable(self) -> bool:
        return await asyncio.to_thread(self._client.bucket_exists, self._bucket)

    async def put(self, key: str, content: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            self._bucket,
            key,
            io.BytesIO(content),
            len(content),
            content_type=content_type,
        )

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    def _read(self, key: str) -> bytes:
        try:
            response = self._client.get_object(self._bucket, key)
        except S3Error as error:
            if error.code in _MISSING:
                raise ObjectNotFoundError("No such object.") from None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, self._bucket, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists, key)

    def _exists(self, key: str) -> bool:
        try:
            self._client.stat_object(self._bucket, key)
        except S3Error as error:
            if error.code in _MISSING or error.code == "NoSuchKey":
                return False
            raise
        return True

    def download_url(self, key: str, *, name: str, content_type: str, expires: timedelta) -> str | None:
        return self._presigner.presigned_get_object(
            self._bucket,
            key,
            expires=expires,
            response_headers={
                "response-content-type": content_type,
                "response-content-disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            },
        )
