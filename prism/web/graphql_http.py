"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): GET and POST, media types and status codes.

- POST with `application/json` bodies, or `multipart/form-data` for file uploads (the GraphQL multipart request,
  prism/web/multipart.py, behind a preflight header against CSRF).
- GET with query parameters, for queries only (a mutation over GET is 405).
- Answers `application/graphql-response+json` when the client accepts it (request errors are then 4xx), else
  `application/json` (request errors are 200, as legacy clients expect). Unacceptable `Accept` headers get 406.
- Malformed requests (bad JSON, wrong parameter types, oversized bodies) get a JSON `errors` body with a code.
- One operation per request: a JSON array (a batch) is refused with 400, so a batch limit is 1 (docs/api.md).
- Automatic persisted queries (`extensions.persistedQuery`), over POST and GET (prism/web/persisted_queries.py).
- Rate limits per IP and identity before execution, and the query-cost budget during it: both answer 429 with a
  RATE_LIMITED error and a `Retry-After` header (prism/ratelimit.py, resolvers/limits.py).
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import orjson
from graphql import GraphQLError, OperationType, parse
from graphql.language import DocumentNode, OperationDefinitionNode
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from strawberry import Schema
from strawberry.types import ExecutionResult

from prism.auth.rbac import Viewer
from prism.db.unit_of_work import UnitOfWork
from prism.kv import StoreUnavailableError
from prism.ratelimit import RateLimiter, identity_of
from prism.services.audit import RequestMeta
from prism.web.concurrency import CallerBusyError, ConcurrencyLimiter, caller_key
from prism.web.multipart import MultipartError, read_multipart
from prism.web.persisted_queries import PersistedQueries, PersistedQueryError, PersistedQueryRequest, requested

__all__ = ["MAX_QUERY_TOKENS", "GraphQLHTTP", "RequestContext", "RequestError", "stdlib_json"]

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


class RequestContext(Protocol):
    """What the endpoint needs of the GraphQL context the composition root builds (resolvers/context.py)."""

    @property
    def request_id(self) -> str: ...

    @property
    def viewer(self) -> Viewer | None: ...

    @property
    def meta(self) -> RequestMeta: ...

    @property
    def uow(self) -> UnitOfWork: ...

    def release(self) -> None:
        """Drop what the request read (its loaders), once its answer is made."""


class RequestError(Exception):
    """A request that is not a well-formed GraphQL request; answered with `status` and a JSON error body."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None = None


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header; no header, or a wildcard, means application/json."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip().lower() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            candidate = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, candidate)
    if best is None:
        raise RequestError(
            406, f"Cannot answer with any of: {accept}. Accept {GRAPHQL_RESPONSE} or {JSON}.", code="NOT_ACCEPTABLE"
        )
    return best[2]


MAX_QUERY_TOKENS = 5000
"""The most tokens a document may hold: the schema refuses longer ones (MaxTokensLimiter, resolvers/schema.py), and
this endpoint reads no further to learn a request's operation type."""
_CACHED_TEXT_MAX_CHARACTERS = 16_384  # as the schema's parser cache (resolvers/document_caches.py)


def _parse_types(query: str) -> DocumentNode:
    # No locations (no token chain kept: a document of operation types and names is all this needs), and no further
    # than the token limit: a longer text is the schema's to refuse, and costs here what 5,000 tokens cost.
    return parse(query, no_location=True, max_tokens=MAX_QUERY_TOKENS)


_parse = lru_cache(maxsize=256)(_parse_types)


def operation_type(query: str, operation_name: str | None) -> OperationType | None:
    """The type of the operation a request would run, or None when the document does not parse (a syntax error, or
    more tokens than the schema accepts: the schema answers either before anything runs)."""
    try:
        document = _parse(query) if len(query) <= _CACHED_TEXT_MAX_CHARACTERS else _parse_types(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None or (operation.name and operation.name.value == operation_name):
            return operation.operation
    return None


def _params(data: Any) -> GraphQLParams:
    if isinstance(data, list):
        raise RequestError(400, "Batched requests are not supported; send one operation per request.")
    if not isinstance(data, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    query, variables, operation_name = data.get("query"), data.get("variables"), data.get("operationName")
    extensions = data.get("extensions")
    persisted = isinstance(extensions, dict) and "persistedQuery" in extensions
    if not (query is None and persisted) and (not isinstance(query, str) or not query.strip()):
        raise RequestError(400, "`query` must be a non-empty string.")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "`variables` must be an object or null.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "`operationName` must be a string or null.")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "`extensions` must be an object or null.")
    return GraphQLParams(query=query, variables=variables, operation_name=operation_name, extensions=extensions)


class GraphQLHTTP:
    """The /graphql endpoint: parses the HTTP request, runs the operation, encodes the answer with orjson."""

    def __init__(
        self,
        schema: Schema,
        make_context: Callable[[Request], Awaitable[RequestContext]],
        *,
        max_body_bytes: int,
        graphiql: Callable[[Request], Awaitable[Response]] | None = None,
        encode: Callable[[Any], bytes] = orjson.dumps,
        rate_limiter: RateLimiter | None = None,
        persisted_queries: PersistedQueries | None = None,
        concurrency: ConcurrencyLimiter | None = None,
        token_user: Callable[[str], str | None] = lambda credential: None,
        max_upload_bytes: int = 0,
        executor_header: bool = False,
        count_executor: Callable[[str], None] | None = None,
    ) -> None:
        self._schema = schema
        self._make_context = make_context
        self._max_body_bytes = max_body_bytes
        self._graphiql = graphiql
        self._encode = encode
        self._rate_limiter = rate_limiter
        self._persisted_queries = persisted_queries
        self._concurrency = concurrency
        self._token_user = token_user
        self._max_upload_bytes = max_upload_bytes
        self._executor_header = executor_header
        self._count_executor = count_executor

    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint for /graphql."""
        try:
            return await self._handle(request)
        except RequestError as error:
            body = {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}
            return Response(orjson.dumps(body), status_code=error.status, media_type=JSON, headers=error.headers)
        finally:
            form = getattr(request.state, "upload_form", None)
            if form is not None:
                await form.close()

    async def _handle(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            raise RequestError(
                405, "GraphQL accepts GET and POST only.", code="METHOD_NOT_ALLOWED", headers={"Allow": "GET, POST"}
            )
        accept = request.headers.get("accept")
        wants_page = request.method == "GET" and "query" not in request.query_params
        if wants_page and self._graphiql is not None and accept and "text/html" in accept:
            return await self._graphiql(request)
        media_type = negotiate(accept)
        params = await (self._get_params(request) if request.method == "GET" else self._post_params(request))
        try:
            persisted = await self._persisted(params)
        except PersistedQueryError as error:
            # Apollo clients answer PERSISTED_QUERY_NOT_FOUND by sending the text; legacy JSON clients want a 200.
            status = 400 if media_type == GRAPHQL_RESPONSE or error.code == "BAD_REQUEST" else 200
            raise RequestError(status, error.message, code=error.code) from None
        query = persisted.query if persisted else params.query
        assert query is not None
        kind = operation_type(query, params.operation_name)
        if request.method == "GET" and kind not in (OperationType.QUERY, None):
            raise RequestError(
                405,
                "Mutations and subscriptions must be sent with POST.",
                code="METHOD_NOT_ALLOWED",
                headers={"Allow": "POST"},
            )
        if kind is OperationType.SUBSCRIPTION:
            raise RequestError(
                400, "Subscriptions run over WebSocket at /graphql (graphql-transport-ws or graphql-ws), not over HTTP."
            )
        if self._concurrency is None:
            return await self._run(request, params, query, persisted, media_type)
        client = request.client
        key = caller_key(request.headers.get("authorization"), client.host if client else None, self._token_user)
        try:
            async with self._concurrency.slot(key):
                return await self._run(request, params, query, persisted, media_type)
        except CallerBusyError:
            raise RequestError(
                429,
                "Too many of your requests are in progress at once; retry when one has finished.",
                code="RATE_LIMITED",
                headers={"Retry-After": "1"},
            ) from None

    async def _run(
        self, request: Request, params: GraphQLParams, query: str, persisted: "_Persisted | None", media_type: str
    ) -> Response:
        try:
            context = await self._make_context(request)
        except PoolTimeout as error:
            raise _overloaded() from error
        except StoreUnavailableError as error:
            # Without the shared store a token's session cannot be checked against sign-outs: refuse, do not guess.
            raise _store_unavailable() from error
        # From here the request may hold a connection (authentication opened its unit of work): every way out,
        # a refusal or a failure of the rate limiter's store included, gives it back.
        try:
            limit_headers: dict[str, str] = {}
            if self._rate_limiter is not None:
                refusal = await self._rate_limiter.check_request(context.viewer, context.meta.ip)
                allowance = await self._rate_limiter.allowance(context.viewer, context.meta.ip)
                limit_headers = allowance.headers() if allowance is not None else {}
                if refusal is not None:
                    raise RequestError(
                        429,
                        f"Too many requests ({refusal.limit}); retry in {refusal.retry_after} seconds.",
                        code="RATE_LIMITED",
                        headers={"Retry-After": str(refusal.retry_after), **limit_headers},
                    )
            result = await self._schema.execute(
                query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                operation_extensions=params.extensions,
            )
        finally:
            await context.uow.close()
            context.release()
        unavailable = [error for error in result.errors or () if _pool_timed_out(error)]
        if unavailable:
            # Wherever in the request the pool ran dry (or the shared store failed), the answer is the same: retry.
            store = any(isinstance(error.original_error, StoreUnavailableError) for error in unavailable)
            raise _store_unavailable() if store else _overloaded()
        if persisted is not None and persisted.request.register and result.data is not None and self._persisted_queries:
            await self._persisted_queries.put(
                persisted.request.sha256,
                query,
                owner=identity_of(context.viewer, context.meta.ip),
                anonymous=context.viewer is None,
            )
        response = self._respond(result, media_type, context.request_id)
        response.headers.update(limit_headers)
        # Which executor answered (the planned one or the resolvers): a header outside production, a metric always.
        executor = getattr(context, "executor", None)
        if isinstance(executor, str):
            if self._executor_header:
                response.headers["X-Prism-Executor"] = executor
            if self._count_executor is not None:
                self._count_executor(executor)
        return response

    async def _persisted(self, params: GraphQLParams) -> "_Persisted | None":
        request = requested(params.extensions, params.query)
        if request is None:
            return None
        if self._persisted_queries is None:
            raise PersistedQueryError("Persisted queries are not supported here.", "PERSISTED_QUERY_NOT_SUPPORTED")
        if params.query is not None:
            return _Persisted(request, params.query)
        stored = await self._persisted_queries.get(request.sha256)
        if stored is None:
            raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        return _Persisted(request, stored)

    async def _get_params(self, request: Request) -> GraphQLParams:
        query_params = request.query_params
        variables: Any = None
        if "variables" in query_params:
            try:
                variables = orjson.loads(query_params["variables"])
            except orjson.JSONDecodeError as err:
                raise RequestError(400, "`variables` is not valid JSON.") from err
        extensions: Any = None
        if "extensions" in query_params:
            try:
                extensions = orjson.loads(query_params["extensions"])
            except orjson.JSONDecodeError as err:
                raise RequestError(400, "`extensions` is not valid JSON.") from err
        return _params(
            {
                "query": query_params.get("query"),
                "variables": variables,
                "operationName": query_params.get("operationName"),
                "extensions": extensions,
            }
        )

    async def _post_params(self, request: Request) -> GraphQLParams:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data" and self._max_upload_bytes > 0:
            try:
                operations, form = await read_multipart(
                    request, max_body_bytes=self._max_body_bytes, max_upload_bytes=self._max_upload_bytes
                )
            except MultipartError as error:
                raise RequestError(error.status, error.message, code=error.code) from None
            request.state.upload_form = form
            return _params(operations)
        if content_type not in (JSON, "application/graphql+json"):
            raise RequestError(415, "Send the request as application/json.", code="UNSUPPORTED_MEDIA_TYPE")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self._max_body_bytes:
            raise RequestError(
                413, f"The request body is larger than {self._max_body_bytes} bytes.", code="PAYLOAD_TOO_LARGE"
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self._max_body_bytes:
                raise RequestError(
                    413, f"The request body is larger than {self._max_body_bytes} bytes.", code="PAYLOAD_TOO_LARGE"
                )
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise RequestError(400, "The request body is not valid JSON.", code="BAD_REQUEST") from err
        return _params(data)

    def _respond(self, result: ExecutionResult, media_type: str, request_id: str) -> Response:
        payload: dict[str, Any] = {}
        errors = result.errors or []
        request_error = result.data is None and bool(errors) and all(e.path is None for e in errors)
        if not request_error:
            payload["data"] = result.data
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        status = 400 if request_error and media_type == GRAPHQL_RESPONSE else 200
        headers = {"X-Request-Id": request_id, "Vary": "Accept"}
        retry_after = _retry_after(errors)
        if retry_after is not None:
            status = 429
            headers["Retry-After"] = str(retry_after)
        return Response(self._encode(payload), status_code=status, media_type=media_type, headers=headers)


@dataclass(frozen=True)
class _Persisted:
    request: PersistedQueryRequest
    query: str


def _overloaded() -> RequestError:
    return RequestError(
        503,
        "The server is overloaded: no database connection became free in time. Retry shortly.",
        code="SERVICE_UNAVAILABLE",
        headers={"Retry-After": "1"},
    )


def _store_unavailable() -> RequestError:
    return RequestError(
        503,
        "A service the server depends on (its shared store) is unavailable. Retry shortly.",
        code="SERVICE_UNAVAILABLE",
        headers={"Retry-After": "1"},
    )


def _pool_timed_out(error: GraphQLError) -> bool:
    """Whether a field failed because no database connection became free in time (resolvers/errors.py)."""
    return (error.extensions or {}).get("code") == "SERVICE_UNAVAILABLE"


def _retry_after(errors: list[GraphQLError]) -> int | None:
    """The wait asked by a RATE_LIMITED error (the query-cost budget), if the result carries one."""
    for error in errors:
        extensions = error.extensions or {}
        if extensions.get("code") == "RATE_LIMITED" and isinstance(extensions.get("retryAfter"), int):
            return int(extensions["retryAfter"])
    return None


def stdlib_json(payload: Any) -> bytes:
    """The standard library's encoder, with orjson's compact output (for `PRISM_PERF_BASELINE` benchmarks only)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex
