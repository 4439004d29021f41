"""Query limits that need the schema: aliases per document, the cost of an operation, field suggestions.

Cost: every field costs 1; a connection (a field taking `first`/`last` whose type has `edges`/`nodes`) multiplies
the cost of its items by the page size asked for (`first`, else `last`, else the default page size); a field taking
a list of `ids` multiplies its subtree by their number. Fragments count wherever they are spread. An operation
above the maximum is refused before it runs (QUERY_TOO_COMPLEX); one that fits is charged to its caller's budget
per minute: it may start when the budget left covers that bound (else RATE_LIMITED), and the budget is then
charged what it actually resolved (one per field in the answer), as Shopify does. A request with
`extensions: {"cost": true}` gets `extensions.cost` {requested, actual, maximum, limit, remaining}; refusals always
carry the figures in the error.
"""

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, SchemaExtension

from loaders.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from prism.ratelimit import RateLimiter, identity_of

__all__ = [
    "HideSuggestions",
    "QueryCost",
    "QueryLimits",
    "limit_extensions",
    "max_aliases_rule",
    "operation_cost",
    "without_suggestions",
]

_ITEMS = frozenset({"edges", "nodes"})
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def max_aliases_rule(max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing documents with more than `max_aliases` aliased fields (QUERY_TOO_COMPLEX)."""

    class MaxAliasesRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            total = sum(
                _aliases(d.selection_set, fragments, set())
                for d in document.definitions
                if isinstance(d, OperationDefinitionNode)
            )
            if total > max_aliases:
                context.report_error(
                    GraphQLError(
                        f"The operation uses {total} aliases; at most {max_aliases} are allowed.",
                        extensions={"code": "QUERY_TOO_COMPLEX"},
                    )
                )

    return MaxAliasesRule


def _aliases(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode], seen: set[str]
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += (1 if selection.alias else 0) + _aliases(selection.selection_set, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            total += _aliases(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            # Each spread counts again (a fragment spread ten times aliases ten times); cycles are invalid anyway.
            if fragment is not None and selection.name.value not in seen:
                total += _aliases(fragment.selection_set, fragments, seen | {selection.name.value})
    return total


class _Coster:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        defaults: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults = defaults

    def selection_cost(self, parent: GraphQLNamedType | None, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(target, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.selection_cost(target, fragment.selection_set)
        return total

    def field_cost(self, parent: GraphQLNamedType | None, node: FieldNode) -> int:
        definition = _field(parent, node.name.value)
        if definition is None:  # __typename and introspection meta-fields
            return 1 + self.selection_cost(None, node.selection_set) if node.selection_set else 1
        named = get_named_type(definition.type)
        if node.selection_set is None:
            return 1
        if self._is_connection(definition, named):
            size = self._page_size(node)
            total = 1
            for selection in node.selection_set.selections:
                cost = self.selection_cost(named, SelectionSetNode(selections=(selection,)))
                is_items = isinstance(selection, FieldNode) and selection.name.value in _ITEMS
                total += cost * size if is_items else cost
            return total
        return 1 + self._list_size(node) * self.selection_cost(named, node.selection_set)

    def _is_connection(self, definition: GraphQLField, named: GraphQLNamedType) -> bool:
        return (
            ("first" in definition.args or "last" in definition.args)
            and isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
            and bool(_ITEMS & set(named.fields))
        )

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                variable = value.name.value
                return self.variables.get(variable, self.defaults.get(variable))
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, ListValueNode):
                return list(value.values)
        return None

    def _page_size(self, node: FieldNode) -> int:
        for name in ("first", "last"):
            value = self._argument(node, name)
            if isinstance(value, int):
                return max(0, min(value, MAX_PAGE_SIZE))
        return DEFAULT_PAGE_SIZE

    def _list_size(self, node: FieldNode) -> int:
        ids = self._argument(node, "ids")
        return max(1, len(ids)) if isinstance(ids, list) else 1


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


def _default(value: Any) -> Any:
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, ListValueNode):
        return list(value.values)
    return None


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of one operation of a valid document, with the request's variables."""
    root = schema.get_root_type(operation.operation)
    definitions = operation.variable_definitions or ()
    defaults = {d.variable.name.value: _default(d.default_value) for d in definitions if d.default_value}
    return _Coster(schema, fragments, variables or {}, defaults).selection_cost(root, operation.selection_set)


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


class QueryCost(SchemaExtension):
    """Refuses operations above `max_cost` before they run and charges the rest to the caller's budget."""

    def __init__(self, *, max_cost: int, limiter: RateLimiter | None = None) -> None:
        self._max_cost = max_cost
        self._limiter = limiter
        self._report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = _operation(document, context.operation_name) if document is not None else None
        if document is None or operation is None:
            yield
            return
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        cost = operation_cost(context.schema._schema, operation, fragments, context.variables)
        report: dict[str, Any] = {"requested": cost, "maximum": self._max_cost}
        self._report = report
        if cost > self._max_cost:
            context.result = _refused(
                f"The operation may cost {cost}; at most {self._max_cost} is allowed. Ask for smaller pages "
                "(`first`/`last`) or fewer nested connections.",
                {"code": "QUERY_TOO_COMPLEX", "cost": cost, "maximum": self._max_cost},
            )
            yield
            return
        if self._limiter is None:
            yield
            return
        viewer = getattr(context.context, "viewer", None)
        meta = getattr(context.context, "meta", None)
        identity = identity_of(viewer, getattr(meta, "ip", None))
        budget = await self._limiter.budget(identity)
        report.update(limit=budget.limit, remaining=budget.remaining)
        if cost > budget.remaining:
            context.result = _refused(
                f"The operation may cost {cost} and {budget.remaining} of the query-cost budget "
                f"({budget.limit} per minute) is left; retry in {budget.retry_after} seconds.",
                {
                    "code": "RATE_LIMITED",
                    "retryAfter": budget.retry_after,
                    "cost": cost,
                    "limit": budget.limit,
                    "remaining": budget.remaining,
                },
            )
            yield
            return
        yield
        # The budget pays for what was resolved (the bound above only decides whether the operation may start).
        actual = max(1, _resolved_fields(getattr(context.result, "data", None)))
        after = await self._limiter.charge(identity, actual)
        report.update(actual=actual, remaining=after.remaining)

    def get_results(self) -> dict[str, Any]:
        # Reported to clients that ask (`extensions: {"cost": true}` in the request), so answers stay as they were.
        asked = (self.execution_context.operation_extensions or {}).get("cost") is True
        return {"cost": self._report} if asked and self._report is not None else {}


def _resolved_fields(data: Any) -> int:
    """How many fields an answer holds (each key of each object, through lists)."""
    if isinstance(data, dict):
        return sum(1 + _resolved_fields(value) for value in data.values())
    if isinstance(data, list):
        return sum(_resolved_fields(item) for item in data)
    return 0


def _refused(message: str, extensions: dict[str, Any]) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


class HideSuggestions(SchemaExtension):
    """Removes graphql-core's "Did you mean ...?" hints, which spell out the schema to whoever probes it."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            error.message = _SUGGESTION.sub("", error.message)


def without_suggestions(message: str) -> str:
    """The message without its suggestions."""
    return _SUGGESTION.sub("", message)


@dataclass(frozen=True)
class QueryLimits:
    """The limits a schema enforces besides depth and tokens; `limiter` charges costs to per-minute budgets."""

    max_aliases: int = 30
    max_cost: int = 1_000_000
    limiter: RateLimiter | None = None
    introspection: bool = True
    suggestions: bool = True


def limit_extensions(limits: QueryLimits) -> list[Any]:
    """The schema extensions (as factories) that enforce `limits`.

    Validation rules are built once here: the validation cache is keyed by rule classes, so a class made per request
    would never hit it.
    """
    rules: list[type[ASTValidationRule]] = [max_aliases_rule(limits.max_aliases)]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: QueryCost(max_cost=limits.max_cost, limiter=limits.limiter),
    ]
    if not limits.suggestions:
        extensions.insert(0, HideSuggestions)
    return extensions
