"""`GET /files/<token>`: serves an attachment kept in the local store, to whoever holds a valid signed token.

The token (prism.storage.signing) names the object and expires; it is signed with PRISM's secret key, so a forged,
altered or expired token is refused with 404, as is a token for an object deleted since. The content is always sent
as a download (`Content-Disposition: attachment`, `nosniff`), never rendered as a page of PRISM's origin.
"""

from collections.abc import Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prism.runtime import Runtime
from prism.storage import InvalidDownloadTokenError, ObjectNotFoundError

__all__ = ["download_routes"]


def _not_found() -> Response:
    body = {
        "errors": [{"message": "No file at this link, or the link has expired.", "extensions": {"code": "NOT_FOUND"}}]
    }
    return JSONResponse(body, status_code=404, headers={"Cache-Control": "no-store"})


def download_routes(runtime: Callable[[], Runtime]) -> list[Route]:
    """The download route, reading the runtime's store and signer."""

    async def download(request: Request) -> Response:
        rt = runtime()
        try:
            grant = rt.download_signer.verify(request.path_params["token"])
            content = await rt.object_store.get(grant.key)
        except (InvalidDownloadTokenError, ObjectNotFoundError):
            return _not_found()
        return Response(
            content,
            media_type=grant.content_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(grant.name)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    return [Route("/files/{token}", download, methods=["GET"])]
