"""Object storage for attachments: one small interface, an S3/MinIO store and a local-directory store.

`open_storage(settings)` picks the store: S3 when `S3_ENDPOINT` is set, else a directory under PRISM's home.
"""

from prism.storage.base import (
    ObjectNotFoundError,
    ObjectStore,
    StorageLimitError,
    StoredObject,
    object_key,
)
from prism.storage.local import LocalStore
from prism.storage.opening import open_storage
from prism.storage.s3 import S3Store
from prism.storage.signing import DownloadSigner, InvalidDownloadTokenError

__all__ = [
    "DownloadSigner",
    "InvalidDownloadTokenError",
    "LocalStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "S3Store",
    "StorageLimitError",
    "StoredObject",
    "object_key",
    "open_storage",
]
