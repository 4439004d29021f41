"""Time-limited download URLs for files in object storage, shared by attachments and reports."""

from datetime import timedelta
from typing import Any

import strawberry

from prism.storage.signing import DownloadGrant
from resolvers.context import Context

__all__ = ["download_url"]

Info = strawberry.Info[Context, None]


def download_url(info: Info, key: str, name: str, content_type: str) -> str:
    """A URL that serves the object under `key` without credentials for PRISM_DOWNLOAD_URL_TTL_SECONDS: a
    presigned S3 URL, or PRISM's own signed `/files/<token>` route for the local store."""
    runtime = info.context.runtime
    ttl = runtime.settings.download_url_ttl_seconds
    url = runtime.object_store.download_url(key, name=name, content_type=content_type, expires=timedelta(seconds=ttl))
    if url is not None:
        return url
    token = runtime.download_signer.sign(DownloadGrant(key, name, content_type), ttl)
    request: Any = info.context.request
    return f"{str(request.base_url).rstrip('/')}/files/{token}"
