"""Queries already known to be valid, answered again without parsing, validating or the extensions' bookkeeping.

Strawberry runs every request through its extension machinery: the eight extensions built anew, four hook context
managers entered around parsing, validation and execution, the parser and validation caches looked up by text and
document. For a query text it has already parsed and validated without an error, all of that decides nothing new:
parsing, validation (depth, aliases, tokens, NUL literals, introspection) and the choice of the operation depend on
the text and the operation name alone. `KnownQueries` remembers such texts (queries, not mutations or
subscriptions; texts small enough for the parser cache) and answers them again with what does depend on the request:

- the variables' NUL check (RequestChecks): a request with one takes the full path and its error;
- the query cost with the request's variables and the caller's budget, before execution, and the charge of the work
  actually done after it: the `QueryCost` extension itself, its hook driven here;
- execution by the schema's executor (the planned executor, or the resolvers it hands over to), with the same
  arguments Strawberry passes;
- the errors' codes and masking (`ErrorCodes`) and the suggestions' removal (`HideSuggestions`): those extensions'
  own hooks, in Strawberry's order; the answer's `extensions` from every extension's results.

So the answer is the same, byte for byte, as the full path's (tests/test_known_queries.py runs both). The schema
uses it only when its extensions are exactly the ones above (no tracing, no custom directives).
"""

import weakref
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, cast

from graphql import DocumentNode, GraphQLError, OperationType, parse
from graphql import execute as graphql_execute
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.execution import ExecutionContext
from strawberry.types.graphql import OperationType as StrawberryOperationType

from resolvers.document_caches import CACHED_DOCUMENT_MAX_BYTES, BoundedParserCache, BoundedValidationCache
from resolvers.errors import ErrorCodes
from resolvers.limits import HideSuggestions, QueryCost
from resolvers.request_checks import RequestChecks, contains_nul, select_operation

__all__ = ["KnownQueries"]

ExtensionFactory = Callable[[], SchemaExtension]

# Extensions whose work is about the document alone (parsing, validation, the operation's choice): done once for a
# known text. Any other kind of extension in a schema turns the fast path off.
_DOCUMENT_ONLY = (BoundedParserCache, BoundedValidationCache, RequestChecks, MaxTokensLimiter, AddValidationRules)
_PER_REQUEST = (QueryCost, HideSuggestions, ErrorCodes)
_ALLOWED_OPERATIONS = (StrawberryOperationType.QUERY,)


class KnownQueries:
    """The query texts a schema has validated without error, at most `maxsize` (each parsed once, whatever operations
    of it were asked for), and their fast answer."""

    def __init__(self, schema: Any, maxsize: int = 512) -> None:
        self._schema = schema
        self._maxsize = maxsize
        # Text -> its parsed document, held weakly, and the operation names (None: the only operation) learned with
        # it: a text of many operations is held once, whichever of them ran (at most `maxsize` texts). The document is
        # the parser cache's: once that cache (and the validation cache, and every request) has let it go, the text
        # is answered by the full path and learned again, so known texts never keep documents alive themselves.
        self._known: OrderedDict[str, tuple[weakref.ref[DocumentNode], set[str | None]]] = OrderedDict()
        # Factories of the per-request extensions, in the schema's order (their hooks nest in that order).
        self._per_request: list[ExtensionFactory] = []
        # The parser cache's own parse (shared by its instances) and options: a learned text is held as the document
        # that cache already holds for it, not as a second one.
        self._parse: Callable[..., DocumentNode] = parse
        self._parse_options: dict[str, Any] = {}
        self.enabled = not getattr(schema, "directives", None)
        for factory in schema.extensions:
            if isinstance(factory, SchemaExtension):  # a shared instance: keep Strawberry's own path
                self.enabled = False
                continue
            sample = factory()
            if isinstance(sample, BoundedParserCache):
                self._parse = sample.cached_parse_document
            elif isinstance(sample, MaxTokensLimiter):
                self._parse_options["max_tokens"] = sample.max_token_count
            if isinstance(sample, _PER_REQUEST):
                self._per_request.append(factory)
            elif not isinstance(sample, _DOCUMENT_ONLY):
                self.enabled = False
        if self._parse is parse:  # no parser cache: nothing would keep a learned document
            self.enabled = False

    def document(self, query: str | None, operation_name: str | None) -> DocumentNode | None:
        """The parsed document of a known query text (and operation name), or None."""
        if query is None or not self.enabled:
            return None
        entry = self._known.get(query)
        if entry is None or operation_name not in entry[1]:
            return None
        document = entry[0]()
        if document is None:  # the caches have let it go
            del self._known[query]
            return None
        self._known.move_to_end(query)
        return document

    def learn(self, query: str | None, operation_name: str | None, result: ExecutionResult) -> None:
        """Remember `query` if the full path answered it without any error and it names a query operation."""
        if not self.enabled or query is None or result.errors or len(query) > CACHED_DOCUMENT_MAX_BYTES:
            return
        entry = self._known.get(query)
        known = entry[0]() if entry is not None else None
        if known is None:
            entry = None
        elif entry is not None and operation_name in entry[1]:
            return
        try:
            document = self._parse(query, **self._parse_options) if known is None else known
            operation = select_operation(document, operation_name)
        except GraphQLError:
            return
        if operation.operation is not OperationType.QUERY:
            return
        if entry is not None:
            entry[1].add(operation_name)  # bounded by the operations the text holds
            return
        self._known.pop(query, None)  # a text whose document was let go
        if len(self._known) >= self._maxsize:
            self._known.popitem(last=False)
        self._known[query] = (weakref.ref(document), {operation_name})

    async def execute(
        self,
        document: DocumentNode,
        query: str,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult | None:
        """The answer to a known query, as the full path gives it; None when the full path must answer (a NUL in the
        variables, whose error it reports)."""
        if contains_nul(variable_values):
            return None
        schema = self._schema
        context = ExecutionContext(
            query=query,
            schema=schema,
            allowed_operations=_ALLOWED_OPERATIONS,
            context=context_value,
            variables=variable_values,
            provided_operation_name=operation_name,
            operation_extensions=operation_extensions,
        )
        context.graphql_document = document
        extensions = [factory() for factory in self._per_request]
        for extension in extensions:
            extension.execution_context = context
        try:
            result = await self._operation(schema, context, extensions)
        except Exception as error:  # noqa: BLE001 - as Strawberry answers an exception raised around execution
            failure = error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)
            result = ExecutionResult(data=None, errors=[failure])
        else:
            result = ExecutionResult(data=result.data, errors=result.errors)
        merged: dict[str, Any] = {}
        for extension in extensions:
            merged.update(extension.get_results())  # type: ignore[arg-type]
        merged.update(context.extensions_results)
        result.extensions = merged
        context.result = result
        return result

    async def _operation(self, schema: Any, context: ExecutionContext, extensions: list[SchemaExtension]) -> Any:
        """Execution inside the per-request extensions' `on_operation` and `on_execute` hooks, as Strawberry nests
        them: entered in the schema's order, left in the reverse order."""
        # The per-request extensions' hooks are generators (checked when the schema is built).
        operation_hooks: list[Generator[None]] = [
            cast("Generator[None]", extension.on_operation())
            for extension in extensions
            if type(extension).on_operation is not SchemaExtension.on_operation
        ]
        execute_hooks: list[AsyncGenerator[None]] = [
            cast("AsyncGenerator[None]", extension.on_execute())
            for extension in extensions
            if type(extension).on_execute is not SchemaExtension.on_execute
        ]
        try:
            for hook in operation_hooks:
                next(hook)
            for async_hook in execute_hooks:
                await anext(async_hook)
            await self._run(schema, context)
            for async_hook in reversed(execute_hooks):
                await _finish_async(async_hook)
            for hook in reversed(operation_hooks):
                _finish(hook)
        except BaseException:
            # As Strawberry's exit stack leaves them: the hooks end without their code after `yield`.
            for async_hook in execute_hooks:
                await async_hook.aclose()
            for hook in operation_hooks:
                hook.close()
            raise
        return context.result

    @staticmethod
    async def _run(schema: Any, context: ExecutionContext) -> None:
        """Execution as Strawberry asks graphql-core for it, unless an extension answered already (a refusal)."""
        if context.result is None:
            assert context.graphql_document is not None
            result: Any = graphql_execute(
                schema._schema,
                context.graphql_document,
                root_value=None,
                middleware=None,
                variable_values=context.variables,
                operation_name=context.operation_name,
                context_value=context.context,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                executor_class=schema.execution_context_class,
                operation_extensions=context.operation_extensions,
            )
            if optimized_is_awaitable(result):
                result = await result
            context.result = result


def _finish(hook: Generator[None]) -> None:
    try:
        next(hook)
    except StopIteration:
        return
    raise RuntimeError("an extension's on_operation hook yielded twice")


async def _finish_async(hook: AsyncGenerator[None]) -> None:
    try:
        await anext(hook)
    except StopAsyncIteration:
        return
    raise RuntimeError("an extension's on_execute hook yielded twice")
