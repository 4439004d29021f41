"""Checks on what a request sends, made right after parsing and before anything else: which operation it runs, and
no NUL characters anywhere in its values.

- The operation: the one `operationName` names, or the only one the document holds. An unknown name, a document
  of several operations without a name, and a document of fragments only are request errors
  (OPERATION_RESOLUTION_FAILURE), as the GraphQL specification says; Strawberry would otherwise run the first
  operation, or raise and answer HTTP 500.
- NUL: PostgreSQL text cannot hold U+0000 and no input of PRISM means one, so a NUL in a variable (in a string or
  in an object's key, at any depth) or in a string literal of the document is refused (BAD_USER_INPUT) before it
  can reach a query, a log line or a key lookup.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, StringValueNode, ValidationRule
from strawberry.extensions import SchemaExtension

__all__ = [
    "OPERATION_RESOLUTION_FAILURE",
    "NoNulCharactersRule",
    "RequestChecks",
    "contains_nul",
    "select_operation",
]

OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
_UNKNOWN = object()


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    """The operation a request runs; a coded GraphQLError when the document and `operationName` do not name one."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        for operation in operations:
            if operation.name is not None and operation.name.value == operation_name:
                return operation
        raise _unresolved(f"The document has no operation named {operation_name!r}.")
    if not operations:
        raise _unresolved("The document holds fragments but no operation to run.")
    if len(operations) > 1:
        raise _unresolved("The document holds several operations: name the one to run in `operationName`.")
    return operations[0]


def _unresolved(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": OPERATION_RESOLUTION_FAILURE})


def contains_nul(value: Any) -> bool:
    """Whether a JSON value holds U+0000 in any string or object key, at any depth."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


class RequestChecks(SchemaExtension):
    """Refuses a request whose operation cannot be determined or whose variables hold a NUL, once it is parsed."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.graphql_document is None:  # a syntax error, answered as such
            return
        # The name the request gave: Strawberry's `operation_name` falls back to the first operation's, which would
        # hide a missing name. Without the attribute (another Strawberry), only the ambiguity check is lost.
        provided = context.__dict__.get("_provided_operation_name", _UNKNOWN)
        if provided is not _UNKNOWN:
            select_operation(context.graphql_document, provided)
        if contains_nul(context.variables):
            raise GraphQLError(
                "Variables must not contain NUL characters (U+0000).", extensions={"code": "BAD_USER_INPUT"}
            )


class NoNulCharactersRule(ValidationRule):
    """Refuses string literals holding U+0000 (written `\\u0000` in the document)."""

    def enter_string_value(self, node: StringValueNode, *args: Any) -> None:
        if "\x00" in node.value:
            self.report_error(
                GraphQLError(
                    "Strings must not contain NUL characters (U+0000).",
                    node,
                    extensions={"code": "BAD_USER_INPUT"},
                )
            )
