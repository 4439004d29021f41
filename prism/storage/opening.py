"""Which store a configuration asks for."""

from minio import Minio

from prism.config import Settings
from prism.storage.base import ObjectStore
from prism.storage.local import LocalStore
from prism.storage.s3 import S3Store

__all__ = ["open_storage"]


def open_storage(settings: Settings) -> ObjectStore:
    """S3 when `S3_ENDPOINT` is set, else the directory `files/` under PRISM's home."""
    if settings.s3_endpoint:
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
            secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
            secure=settings.s3_secure,
            # With a region set, presigning is pure computation (no bucket-location request).
            region=settings.s3_region or "us-east-1",
        )
        return S3Store(client, settings.s3_bucket)
    return LocalStore(settings.home_path / "files")
