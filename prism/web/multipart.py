"""The GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec): file uploads.

A `multipart/form-data` POST carries `operations` (the JSON request, its file variables null), `map` (which file part
goes to which variable path) and one part per file. Browsers send such a form cross-site without a preflight, so, as
Apollo Server and Strawberry do against CSRF, a multipart request must carry a non-empty `Apollo-Require-Preflight`
or `X-Apollo-Operation-Name` header, which no plain HTML form can set. The whole body is bounded by the JSON body limit
plus the upload limit (413 past it); each file is checked against the upload limit again where it is used.
"""

from typing import Any

import orjson
from python_multipart.exceptions import FormParserError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

__all__ = ["PREFLIGHT_HEADERS", "MultipartError", "read_multipart"]

PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
MAX_FILES = 10


class MultipartError(Exception):
    """A multipart request PRISM refuses, with the status and code to answer."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


async def _bounded_body(request: Request, limit: int) -> bytes:
    too_large = MultipartError(413, f"The request body is larger than {limit} bytes.", code="PAYLOAD_TOO_LARGE")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _json_field(form: FormData, name: str) -> Any:
    value = form.get(name)
    if not isinstance(value, str):
        raise MultipartError(400, f"A multipart GraphQL request needs a `{name}` field holding JSON.")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise MultipartError(400, f"The `{name}` field is not valid JSON.") from None


def _place(operations: dict[str, Any], path: str, file: UploadFile) -> None:
    """Put `file` at `path` (`variables.input.file`, `variables.files.0`) in the operations, where null waits."""
    segments = path.split(".")
    if len(segments) < 2 or segments[0] != "variables":
        raise MultipartError(400, f"The map path {path!r} does not name a variable.")
    target: Any = operations
    for segment in segments[:-1]:
        target = _step(target, segment, path)
    last = segments[-1]
    if isinstance(target, dict) and last in target and target[last] is None:
        target[last] = file
    elif isinstance(target, list) and last.isdigit() and int(last) < len(target) and target[int(last)] is None:
        target[int(last)] = file
    else:
        raise MultipartError(400, f"The map path {path!r} does not lead to a null variable.")


def _step(target: Any, segment: str, path: str) -> Any:
    if isinstance(target, dict) and isinstance(target.get(segment), dict | list):
        return target[segment]
    if isinstance(target, list) and segment.isdigit() and int(segment) < len(target):
        return target[int(segment)]
    raise MultipartError(400, f"The map path {path!r} does not lead to a null variable.")


async def read_multipart(request: Request, *, max_body_bytes: int, max_upload_bytes: int) -> tuple[Any, FormData]:
    """The operations of a multipart request, files in place, and the parsed form (close it when done)."""
    if not any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        raise MultipartError(
            400,
            "A multipart request must carry a non-empty `Apollo-Require-Preflight` (or `X-Apollo-Operation-Name`) "
            "header, so that browsers preflight it (CSRF protection).",
            code="PREFLIGHT_REQUIRED",
        )
    body = await _bounded_body(request, max_body_bytes + max_upload_bytes)
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    replay = Request(request.scope, receive)
    try:
        form = await replay.form(max_files=MAX_FILES, max_fields=MAX_FILES + 2, max_part_size=max_body_bytes)
    except (MultiPartException, FormParserError, HTTPException) as error:
        detail = getattr(error, "detail", None) or getattr(error, "message", None) or "malformed multipart body"
        raise MultipartError(400, f"The multipart body cannot be read: {detail}.") from None
    try:
        operations = _json_field(form, "operations")
        mapping = _json_field(form, "map")
        if isinstance(operations, list):
            raise MultipartError(400, "Batched requests are not supported; send one operation per request.")
        if not isinstance(operations, dict) or not isinstance(mapping, dict):
            raise MultipartError(400, "`operations` and `map` must be JSON objects.")
        if not isinstance(operations.get("variables"), dict):
            raise MultipartError(400, "`operations.variables` must hold the file variables (as null).")
        for key, paths in mapping.items():
            file = form.get(key)
            if not isinstance(file, UploadFile):
                raise MultipartError(400, f"The map names a file part {key!r} the request does not have.")
            if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
                raise MultipartError(400, f"The map entry {key!r} must be a list of variable paths.")
            for path in paths:
                _place(operations, path, file)
    except MultipartError:
        await form.close()
        raise
    return operations, form
