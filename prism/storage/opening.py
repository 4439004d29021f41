"""Which store a configuration asks for."""

from minio import Minio

from prism.config import Settings
from prism.storage.base import ObjectStore
from prism.storage.local import LocalStore
from prism.storage.s3 import S3Store

__all__ = ["open_storage"]


def _client(settings: Settings, address: str) -> Minio:
    endpoint, secure = address.rstrip("/"), settings.s3_secure
    for scheme, is_secure in (("https://", True), ("http://", False)):
        if endpoint.startswith(scheme):
            endpoint, secure = endpoint.removeprefix(scheme), is_secure
    return Minio(
        endpoint,
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
        secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
        secure=secure,
        # With a region set, presigning is pure computation (no bucket-location request).
        region=settings.s3_region or "us-east-1",
    )


def open_storage(settings: Settings) -> ObjectStore:
    """S3 when `S3_ENDPOINT` is set, else the directory `files/` under PRISM's home."""
    if settings.s3_endpoint:
        client = _client(settings, settings.s3_endpoint)
        public = _client(settings, settings.s3_public_endpoint) if settings.s3_public_endpoint else client
        return S3Store(client, settings.s3_bucket, presigner=public)
    return LocalStore(settings.home_path / "files")
