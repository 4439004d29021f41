"""Maps every GraphQL error to a stable `extensions.code` and hides unexpected ones behind a request id."""

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import SchemaExtension

from prism.db.errors import loggable
from prism.errors import Code, PrismError
from prism.kv import StoreUnavailableError

__all__ = ["ErrorCodes", "classify", "coded_errors"]

logger = logging.getLogger("prism.graphql")

_TOO_COMPLEX_MARKERS = ("tokens. Parsing aborted",)


def classify(error: GraphQLError) -> tuple[str, bool]:
    """The code for an error, and whether it is unexpected (a bug, to be masked and logged)."""
    original = error.original_error
    if isinstance(original, PrismError):
        return original.code.value, False
    existing = (error.extensions or {}).get("code")
    if isinstance(existing, str):
        return existing, False
    if original is None or isinstance(original, GraphQLError):
        message = error.message
        if any(marker in message for marker in _TOO_COMPLEX_MARKERS):
            return "QUERY_TOO_COMPLEX", False
        if message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED", False
        if message.startswith("Variable '") or error.path is not None:
            return Code.BAD_USER_INPUT.value, False
        return "GRAPHQL_VALIDATION_FAILED", False
    if isinstance(original, ValueError | TypeError) and error.path is None:
        return Code.BAD_USER_INPUT.value, False
    if isinstance(original, PoolTimeout):
        # Overload, not a bug: every database connection stayed busy for the whole pool timeout.
        logger.warning("database pool exhausted", extra={"path": error.path})
        return "SERVICE_UNAVAILABLE", False
    if isinstance(original, StoreUnavailableError):
        logger.warning("shared store unavailable", extra={"path": error.path})
        return "SERVICE_UNAVAILABLE", False
    return Code.INTERNAL_SERVER_ERROR.value, True


def coded_errors(errors: list[GraphQLError], request_id: str | None) -> list[GraphQLError]:
    """The errors with a code each, unexpected ones logged and masked; errors that have a code are kept as they are.

    Applying it twice changes nothing, so the schema can run it again on results the extension never saw.
    """
    return [_process(error, request_id) for error in errors]


class ErrorCodes(SchemaExtension):
    """Gives each error a code; replaces unexpected errors by a generic message carrying the request id."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        result.errors = coded_errors(errors, request_id)


def _process(error: GraphQLError, request_id: str | None) -> GraphQLError:
    if "code" in (error.extensions or {}) and error.original_error is None:
        return error
    code, unexpected = classify(error)
    extensions: dict[str, Any] = {**(error.extensions or {}), "code": code}
    message = error.message
    if unexpected:
        logger.error(
            "unexpected error in GraphQL execution",
            exc_info=loggable(error.original_error) if error.original_error is not None else None,
            extra={"request_id": request_id, "path": error.path},
        )
        message = f"Internal server error. Quote request id {request_id} when reporting it."
        extensions["requestId"] = request_id
    elif isinstance(error.original_error, PrismError) and error.original_error.field:
        extensions.setdefault("field", error.original_error.field)
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )
