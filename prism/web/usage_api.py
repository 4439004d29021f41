"""`POST /api/v1/usage-events`: the plain JSON endpoint SDKs report feature usage to, and its OpenAPI document.

The request and answer bodies are pydantic models; `GET /api/v1/openapi.json` serves an OpenAPI 3.1 document whose
schemas are generated from those same models, so the document cannot drift from what the endpoint validates. The use
case is the one `recordUsageEvents` runs (prism.services.usage): idempotent by event id, a batch over the limit
refused whole, a bad event rejected alone.

Every refusal is a JSON body `{"errors": [{"message", "extensions": {"code", "field"?}}]}`, as on /graphql:
400 BAD_REQUEST (not JSON), 401 UNAUTHENTICATED, 403 FORBIDDEN (a key without the usage:write scope), 413
PAYLOAD_TOO_LARGE (the body) or TOO_MANY_EVENTS (the batch), 415 UNSUPPORTED_MEDIA_TYPE, 422 VALIDATION_FAILED (a
body of the wrong shape: each problem with its `field`), 429 RATE_LIMITED, 503 SERVICE_UNAVAILABLE.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prism.auth.rbac import Viewer
from prism.config import Settings
from prism.errors import ForbiddenError, PrismError, UnauthenticatedError
from prism.kv import StoreUnavailableError
from prism.ratelimit import RateLimiter
from prism.runtime import Runtime
from prism.services.authentication import authenticate, credentials_from_header
from prism.services.usage import (
    EVENT_ID_MAX,
    USER_ID_MAX,
    UsageEventReport,
    UsageLimits,
    UsageService,
)
from prism.web.concurrency import CallerBusyError, ConcurrencyLimiter, caller_key

__all__ = [
    "EXAMPLE_REQUEST",
    "OPENAPI_PATH",
    "USAGE_EVENTS_PATH",
    "ErrorBody",
    "UsageEventBatch",
    "UsageEventsRecorded",
    "openapi_document",
    "usage_api_routes",
]

USAGE_EVENTS_PATH = "/api/v1/usage-events"
OPENAPI_PATH = "/api/v1/openapi.json"
JSON = "application/json"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class UsageEvent(_Model):
    """One use of a feature by one user. Types are checked for the whole batch (422); values event by event."""

    event_id: str = Field(
        description=(
            f"The client's id of the event, 1-{EVENT_ID_MAX} characters, unique in the organization: an id already "
            "recorded is a duplicate and changes nothing, so a batch can be resent safely."
        ),
        json_schema_extra={"minLength": 1, "maxLength": EVENT_ID_MAX},
    )
    product: str = Field(description="The product's key, like `PRISM`.", json_schema_extra={"minLength": 1})
    feature: str = Field(
        description="The feature's key in that product; an unknown key is rejected (NOT_FOUND), never created.",
        json_schema_extra={"minLength": 1, "maxLength": 64},
    )
    user_id: str = Field(
        description=f"The SDK's pseudonymous id of the user, 1-{USER_ID_MAX} characters; never an email or a name.",
        json_schema_extra={"minLength": 1, "maxLength": USER_ID_MAX},
    )
    occurred_at: datetime = Field(
        description="When it happened (RFC 3339 with a zone); at most an hour ahead of the server's clock."
    )
    properties: dict[str, Any] | None = Field(
        default=None,
        description="Further facts, a JSON object of at most PRISM_USAGE_EVENT_MAX_PROPERTIES_BYTES (4096) as JSON.",
    )


class UsageEventBatch(_Model):
    """A batch of usage events, at most PRISM_USAGE_EVENTS_MAX_BATCH (1000)."""

    events: list[UsageEvent] = Field(description="The events, in any order.")


class RejectedEvent(_Model):
    """An event of the batch that was not recorded; the others were."""

    index: int = Field(description="Its position in the batch, from 0.")
    event_id: str = Field(description="Its eventId as sent (cut to 128 characters).")
    code: str = Field(description="NOT_FOUND, TOO_LONG, OUT_OF_RANGE or BAD_USER_INPUT.")
    field: str = Field(description="The event's field at fault.")
    message: str = Field(description="What to fix, for a person.")


class UsageEventsRecorded(_Model):
    """What the batch did: each event was recorded, a duplicate of one recorded before, or rejected."""

    accepted: int = Field(description="Events recorded now.")
    duplicates: int = Field(description="Events whose eventId was already recorded or repeated in the batch.")
    rejected: list[RejectedEvent] = Field(description="Events refused one by one, by position.")


class ErrorExtensions(_Model):
    code: str = Field(description="A stable code to branch on, like UNAUTHENTICATED or TOO_MANY_EVENTS.")
    field: str | None = Field(default=None, description="Where in the body the problem is (422 only).")


class Error(_Model):
    message: str = Field(description="What went wrong, for a person.")
    extensions: ErrorExtensions


class ErrorBody(_Model):
    """Why the request was refused; nothing of the batch was recorded."""

    errors: list[Error]


EXAMPLE_REQUEST: dict[str, Any] = {
    "events": [
        {
            "eventId": "0f8d3c1e-5b7a-4c11-9d2e-000000000001",
            "product": "PRISM",
            "feature": "bulk-edit",
            "userId": "u-4f7a9c",
            "occurredAt": "2026-11-03T10:15:00Z",
            "properties": {"plan": "pro", "items": 12},
        },
        {
            "eventId": "0f8d3c1e-5b7a-4c11-9d2e-000000000002",
            "product": "PRISM",
            "feature": "bulk-edit",
            "userId": "u-81be02",
            "occurredAt": "2026-11-03T10:16:30+01:00",
        },
    ]
}
"""The request the OpenAPI document shows; tests/test_usage_http.py sends it."""


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the usage-event endpoint, its schemas generated from the pydantic models."""
    _, schemas = models_json_schema(
        [(UsageEventBatch, "validation"), (UsageEventsRecorded, "serialization"), (ErrorBody, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    components = schemas["$defs"]
    components["UsageEventBatch"]["properties"]["events"]["maxItems"] = settings.usage_events_max_batch
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PRISM usage events",
            "version": "1",
            "description": (
                "Report feature usage from SDKs. Authenticate with an API key of scope USAGE_WRITE as "
                "`Authorization: Bearer prism_...`. Everything else PRISM does is GraphQL at /graphql."
            ),
        },
        "paths": {
            USAGE_EVENTS_PATH: {
                "post": {
                    "operationId": "recordUsageEvents",
                    "summary": "Record a batch of usage events",
                    "description": (
                        "Idempotent by eventId. A body over PRISM_USAGE_EVENTS_MAX_BODY_BYTES or a batch over "
                        "PRISM_USAGE_EVENTS_MAX_BATCH is refused whole (413); an event whose values break a rule is "
                        "rejected alone, by position, and the others are kept (200)."
                    ),
                    "security": [{"apiKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            JSON: {
                                "schema": {"$ref": "#/components/schemas/UsageEventBatch"},
                                "example": EXAMPLE_REQUEST,
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Each event recorded, a duplicate, or rejected with a code.",
                            "content": {JSON: {"schema": {"$ref": "#/components/schemas/UsageEventsRecorded"}}},
                        },
                        "400": _error_response("The body is not JSON (BAD_REQUEST)."),
                        "401": _error_response("No valid API key (UNAUTHENTICATED)."),
                        "403": _error_response("The key may not record usage (FORBIDDEN): give it USAGE_WRITE."),
                        "413": _error_response(
                            "The body (PAYLOAD_TOO_LARGE) or the batch (TOO_MANY_EVENTS) is too big."
                        ),
                        "415": _error_response("The body is not application/json (UNSUPPORTED_MEDIA_TYPE)."),
                        "422": _error_response("The body has the wrong shape (VALIDATION_FAILED), each problem named."),
                        "429": _error_response(
                            "Too many requests, or too many of the caller's in progress at once (RATE_LIMITED); "
                            "see Retry-After."
                        ),
                        "503": _error_response("PRISM is overloaded or its store unreachable; retry shortly."),
                    },
                }
            }
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key `prism_<prefix>_<secret>` with the USAGE_WRITE scope.",
                }
            },
        },
    }


class _RefusedError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors: list[dict[str, Any]] = extra.pop("errors", [])
        self.headers: dict[str, str] = extra.pop("headers", {})


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def _refused(refusal: _RefusedError) -> Response:
    errors = refusal.errors or [{"message": refusal.message, "extensions": {"code": refusal.code}}]
    return _json({"errors": errors}, refusal.status, {"Cache-Control": "no-store", **refusal.headers})


def _location(loc: tuple[int | str, ...]) -> str:
    """A problem's place in the body, like `events.0.occurredAt`; `body` for the body as a whole."""
    return ".".join(str(part) for part in loc) or "body"


def usage_api_routes(
    settings: Settings,
    runtime: Callable[[], Runtime],
    rate_limiter: RateLimiter | None,
    concurrency: ConcurrencyLimiter | None = None,
    token_user: Callable[[str], str | None] = lambda credential: None,
) -> list[Route]:
    """The endpoint and its OpenAPI document.

    `concurrency` is /graphql's limiter, shared so that a caller's requests in progress count across both endpoints;
    `token_user` names the user of a valid access token for it (see prism.web.concurrency.caller_key).
    """
    document = orjson.dumps(openapi_document(settings))
    limits = UsageLimits(settings.usage_events_max_batch, settings.usage_event_max_properties_bytes)
    max_body = settings.usage_events_max_body_bytes

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        too_large = _RefusedError(413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {max_body} bytes.")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > max_body:
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                raise too_large
        return bytes(body)

    def batch_of(body: bytes) -> UsageEventBatch:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _RefusedError(400, "BAD_REQUEST", "The request body is not valid JSON.") from None
        events = data.get("events") if isinstance(data, dict) else None
        if isinstance(events, list) and len(events) > limits.max_batch:
            raise _RefusedError(
                413,
                "TOO_MANY_EVENTS",
                f"A batch may carry at most {limits.max_batch} events; this one has {len(events)}. Split it.",
            )
        try:
            return UsageEventBatch.model_validate(data)
        except pydantic.ValidationError as error:
            problems = [
                {
                    "message": problem["msg"],
                    "extensions": {"code": "VALIDATION_FAILED", "field": _location(problem["loc"])},
                }
                for problem in error.errors(include_url=False, include_input=False)[:50]
            ]
            raise _RefusedError(
                422, "VALIDATION_FAILED", "The body does not match UsageEventBatch.", errors=problems
            ) from None

    async def record(request: Request) -> Response:
        try:
            if concurrency is None:
                return await handle(request)
            client = request.client
            key = caller_key(request.headers.get("authorization"), client.host if client else None, token_user)
            try:
                async with concurrency.slot(key):
                    return await handle(request)
            except CallerBusyError:
                raise _RefusedError(
                    429,
                    "RATE_LIMITED",
                    "Too many of your requests are in progress at once; retry when one has finished.",
                    headers={"Retry-After": "1"},
                ) from None
        except _RefusedError as refusal:
            return _refused(refusal)
        except PoolTimeout:
            return _refused(
                _RefusedError(
                    503, "SERVICE_UNAVAILABLE", "PRISM is overloaded; retry shortly.", headers={"Retry-After": "1"}
                )
            )
        except StoreUnavailableError:
            return _refused(
                _RefusedError(
                    503,
                    "SERVICE_UNAVAILABLE",
                    "A service PRISM depends on is unavailable; retry shortly.",
                    headers={"Retry-After": "1"},
                )
            )

    async def check_rate(request: Request, viewer: Viewer | None) -> None:
        if rate_limiter is None:
            return
        client = request.client
        refusal = await rate_limiter.check_request(viewer, client.host if client else None)
        if refusal is not None:
            raise _RefusedError(
                429,
                "RATE_LIMITED",
                f"Too many requests ({refusal.limit}); retry in {refusal.retry_after} seconds.",
                headers={"Retry-After": str(refusal.retry_after)},
            )

    async def handle(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise _RefusedError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the batch as application/json.")
        rt = runtime()
        credential = credentials_from_header(request.headers.get("authorization"))
        auth = await authenticate(rt, credential)
        viewer = auth.viewer
        # A request without a valid key counts against its address's anonymous limit, as on /graphql: otherwise
        # made-up keys (each a connection and a look-up) would never be limited.
        await check_rate(request, viewer)
        if viewer is None:
            error = auth.error or UnauthenticatedError("Send `Authorization: Bearer <API key>` (scope USAGE_WRITE).")
            raise _RefusedError(401, error.code.value, error.message, headers={"WWW-Authenticate": "Bearer"})
        batch = batch_of(await body_of(request))
        reports = [
            UsageEventReport(
                event_id=event.event_id,
                product=event.product,
                feature=event.feature,
                user_id=event.user_id,
                occurred_at=event.occurred_at,
                properties=event.properties,
            )
            for event in batch.events
        ]
        try:
            async with rt.unit_of_work(viewer.organization_id, viewer.user_id, api_key_id=viewer.api_key_id) as uow:
                recorded = await UsageService(uow, viewer, limits).record(reports)
        except ForbiddenError as error:
            raise _RefusedError(403, error.code.value, error.message) from None
        except PrismError as error:
            raise _RefusedError(422, error.code.value, error.message) from None
        answer = UsageEventsRecorded(
            accepted=recorded.accepted,
            duplicates=recorded.duplicates,
            rejected=[
                RejectedEvent(index=r.index, event_id=r.event_id, code=r.code.value, field=r.field, message=r.message)
                for r in recorded.rejected
            ],
        )
        return _json(answer.model_dump(by_alias=True))

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=JSON)

    return [
        Route(USAGE_EVENTS_PATH, record, methods=["POST"]),
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
    ]
