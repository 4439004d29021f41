"""The cost model: what an operation may cost, compiled once per document and evaluated with each request's variables.

Every field costs 1; a text search (a `filter` with a non-empty `search`) costs SEARCH_COST more, since it reads
every row its list could hold. A field whose work grows with one of its arguments declares it next to the field
(`metadata=cost_from_argument(...)`) and costs that argument's value more: a forecast costs its `trials`.
A connection (a field taking `first`/`last` whose type has `edges`/`nodes`) multiplies the cost of its items by the
page size asked for (`first`, else `last`, else the default page size).
Any other field that returns a list multiplies its selection by the most items it may return
(resolvers/list_bounds.py), or by the number of `ids` it is given when it takes them (never more than that
maximum); the executor enforces the same maxima (resolvers/execution.py), so the estimate bounds what an operation
can do. Fragments count wherever they are spread.

A document is compiled into a small graph: each selection set becomes a `_Cost` holding a fixed part and the parts
that a factor multiplies (a page size or a number of ids, read from the variables when an argument is a variable).
A fragment is compiled once, the first time it is spread, and shared by every spread, so compiling visits each
selection of the document once and evaluating visits each compiled selection set once, however the fragments nest.
Compiled costs are cached with the parsed document (which the parser cache keeps), per operation.
"""

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)

from loaders.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from resolvers.list_bounds import is_list, list_maximum

__all__ = [
    "COST_CEILING",
    "SEARCH_COST",
    "CostCompiler",
    "CostPlans",
    "TooDeeplyNestedError",
    "cost_from_argument",
    "operation_cost",
]

_ITEMS = frozenset({"edges", "nodes"})
SEARCH_COST = 100
"""What a text search adds: it reads (or, with trigram indexes, probes) every row its list could hold."""
COST_CEILING = 2**53 - 1
"""Costs saturate here: the largest integer every JSON client reads exactly (and orjson writes at all)."""


_COST_FROM = "prism.cost_from_argument"


@dataclass(frozen=True)
class ArgumentCost:
    """What a field declares it costs beyond 1: the value of `field` of its input-object argument `argument`
    (`default` when absent), at most `maximum` (the resolver refuses more with a coded error of its own)."""

    argument: str
    field: str
    default: int
    maximum: int


def cost_from_argument(argument: str, field: str, *, default: int, maximum: int) -> dict[str, ArgumentCost]:
    """Field metadata declaring that the field costs the value of `argument.field` more than 1, e.g. a forecast its
    `options.trials`: the work it does grows with that value, whatever it returns."""
    return {_COST_FROM: ArgumentCost(argument, field, default, maximum)}


def _declared_cost(definition: GraphQLField | None) -> ArgumentCost | None:
    strawberry_field = definition.extensions.get("strawberry-definition") if definition is not None else None
    declared = (getattr(strawberry_field, "metadata", None) or {}).get(_COST_FROM)
    return declared if isinstance(declared, ArgumentCost) else None


@dataclass(frozen=True)
class _Variable:
    """An argument given as a variable: its value comes with each request, else from the operation's default."""

    name: str
    default: Any

    def value(self, variables: Mapping[str, Any]) -> Any:
        return variables.get(self.name, self.default)


_Argument: TypeAlias = int | list[Any] | dict[str, Any] | str | _Variable | None


def _resolve(argument: _Argument, variables: Mapping[str, Any]) -> Any:
    return argument.value(variables) if isinstance(argument, _Variable) else argument


@dataclass(frozen=True)
class _PageSize:
    """A connection's page size: `first`, else `last`, else the default; never more than the maximum."""

    first: _Argument
    last: _Argument

    def __call__(self, variables: Mapping[str, Any]) -> int:
        for argument in (self.first, self.last):
            value = _resolve(argument, variables)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, MAX_PAGE_SIZE))
        return DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class _Length:
    """How many values a list argument holds (a single value counts as a list of one, as GraphQL coerces it), up to
    the list field's maximum."""

    values: _Argument
    maximum: int

    def __call__(self, variables: Mapping[str, Any]) -> int:
        value = _resolve(self.values, variables)
        if isinstance(value, list):
            return min(len(value), self.maximum)
        return 0 if value is None else 1


@dataclass(frozen=True)
class _Search:
    """SEARCH_COST when a `filter` argument carries a non-empty `search`, else nothing."""

    filter: _Argument

    def __call__(self, variables: Mapping[str, Any]) -> int:
        value = _resolve(self.filter, variables)
        search = _resolve(value.get("search"), variables) if isinstance(value, dict) else None
        return SEARCH_COST if isinstance(search, str) and search.strip() else 0


@dataclass(frozen=True)
class _Declared:
    """A field's declared cost (ArgumentCost) read from its argument, an input object given inline or as a variable."""

    value: _Argument
    declared: ArgumentCost

    def __call__(self, variables: Mapping[str, Any]) -> int:
        value = _resolve(self.value, variables)
        amount = _resolve(value.get(self.declared.field), variables) if isinstance(value, dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool):
            return self.declared.default
        return max(0, min(amount, self.declared.maximum))


_Factor: TypeAlias = int | _PageSize | _Length | _Search | _Declared


@dataclass(eq=False)
class _Cost:
    """The cost of a selection set: `fixed`, plus each part's factor times that part's cost."""

    fixed: int = 0
    parts: list[tuple[_Factor, "_Cost"]] = field(default_factory=list)

    def add(self, factor: _Factor, cost: "_Cost") -> None:
        if not cost.parts and isinstance(factor, int):
            self.fixed = min(COST_CEILING, self.fixed + factor * cost.fixed)
        elif cost.parts or cost.fixed:
            self.parts.append((factor, cost))


class TooDeeplyNestedError(Exception):
    """The document nests selections or fragments deeper than the interpreter's recursion allows."""


class CostCompiler:
    """Compiles the operations of one document; `visited` counts the selections it looked at."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self._schema = schema
        self._fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._defaults: dict[str, Any] = {}
        self._compiled: dict[str, _Cost] = {}
        self._entered: set[str] = set()
        self.visited = 0

    def operation(self, operation: OperationDefinitionNode) -> "_Cost":
        """The compiled cost of one operation (fragments are compiled afresh: variable defaults are per operation)."""
        self._compiled, self._entered = {}, set()
        self._defaults = {
            d.variable.name.value: _literal(d.default_value)
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        root = self._schema.get_root_type(operation.operation)
        try:
            return self._selections(root, operation.selection_set)
        except RecursionError:
            raise TooDeeplyNestedError from None

    def _selections(self, parent: GraphQLNamedType | None, selection_set: SelectionSetNode) -> _Cost:
        cost = _Cost()
        for selection in selection_set.selections:
            cost.add(1, self._selection(parent, selection))
        return cost

    def _selection(self, parent: GraphQLNamedType | None, selection: SelectionNode) -> _Cost:
        self.visited += 1
        if isinstance(selection, FieldNode):
            return self._field(parent, selection)
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = self._schema.get_type(condition.name.value) if condition else parent
            return self._selections(target, selection.selection_set)
        if isinstance(selection, FragmentSpreadNode):
            return self._fragment(selection.name.value)
        return _Cost()  # pragma: no cover - graphql-core knows no other selection

    def _fragment(self, name: str) -> _Cost:
        compiled = self._compiled.get(name)
        if compiled is not None:
            return compiled
        fragment = self._fragments.get(name)
        # Unknown fragments and cycles never get this far (validation refuses them); count nothing for them anyway.
        if fragment is None or name in self._entered:
            return _Cost()
        self._entered.add(name)
        target = self._schema.get_type(fragment.type_condition.name.value)
        compiled = self._selections(target, fragment.selection_set)
        self._compiled[name] = compiled
        return compiled

    def _field(self, parent: GraphQLNamedType | None, node: FieldNode, *, page_items: bool = False) -> _Cost:
        cost = _Cost(fixed=1)
        search = self._argument(node, "filter")
        if search is not None:
            cost.add(self._factor(_Search(search)), _Cost(fixed=1))
        definition = _field(parent, node.name.value)
        declared = _declared_cost(definition)
        if declared is not None:
            cost.add(self._factor(_Declared(self._argument(node, declared.argument), declared)), _Cost(fixed=1))
        if node.selection_set is None:
            return cost
        named = get_named_type(definition.type) if definition is not None else None
        if definition is not None and named is not None and _is_connection(definition, named):
            size = self._factor(_PageSize(self._argument(node, "first"), self._argument(node, "last")))
            for selection in node.selection_set.selections:
                if isinstance(selection, FieldNode) and selection.name.value in _ITEMS:
                    self.visited += 1
                    cost.add(size, self._field(named, selection, page_items=True))
                else:
                    cost.add(1, self._selection(named, selection))
            return cost
        # The items of a page are counted by the page size above, not again by their list's maximum.
        factor = (
            1 if page_items or parent is None or definition is None else self._list_factor(parent, definition, node)
        )
        cost.add(factor, self._selections(named, node.selection_set))
        return cost

    def _list_factor(self, parent: GraphQLNamedType, definition: GraphQLField, node: FieldNode) -> _Factor:
        if not is_list(definition.type):
            return 1
        maximum = list_maximum(parent, definition)
        if maximum is None:  # introspection: bounded by the schema and metered while it runs, not multiplied
            return 1
        ids = self._argument(node, "ids")
        return maximum if ids is None else self._factor(_Length(ids, maximum))

    def _factor(self, factor: _PageSize | _Length | _Search | _Declared) -> _Factor:
        # Without variables the factor is known now, and constant parts fold into one number.
        if isinstance(factor, _PageSize):
            arguments: tuple[Any, ...] = (factor.first, factor.last)
        elif isinstance(factor, _Length):
            arguments = (factor.values,)
        elif isinstance(factor, _Declared):
            arguments = (factor.value, *(factor.value.values() if isinstance(factor.value, dict) else ()))
        else:
            arguments = (factor.filter, *(factor.filter.values() if isinstance(factor.filter, dict) else ()))
        return factor if any(isinstance(a, _Variable) for a in arguments) else factor({})

    def _argument(self, node: FieldNode, name: str) -> _Argument:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            if isinstance(argument.value, VariableNode):
                variable = argument.value.name.value
                return _Variable(variable, self._defaults.get(variable))
            return self._value(argument.value)
        return None

    def _value(self, value: ValueNode) -> _Argument:
        if isinstance(value, ObjectValueNode):
            # Only what the cost reads of an input object (its `search`), variables inside it included.
            return {
                f.name.value: _Variable(f.value.name.value, self._defaults.get(f.value.name.value))
                if isinstance(f.value, VariableNode)
                else _literal(f.value)
                for f in value.fields
            }
        return _literal(value)


def _literal(value: ValueNode) -> int | list[Any] | str | None:
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, ListValueNode):
        return list(value.values)
    if isinstance(value, StringValueNode):
        return value.value
    return None


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


def _is_connection(definition: GraphQLField, named: GraphQLNamedType) -> bool:
    return (
        ("first" in definition.args or "last" in definition.args)
        and isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
        and bool(_ITEMS & set(named.fields))
    )


def _evaluate(cost: _Cost, variables: Mapping[str, Any], memo: dict[int, int]) -> int:
    if not cost.parts:
        return cost.fixed
    known = memo.get(id(cost))
    if known is not None:
        return known
    total = cost.fixed
    for factor, part in cost.parts:
        times = factor if isinstance(factor, int) else factor(variables)
        if times:
            total = min(COST_CEILING, total + times * _evaluate(part, variables, memo))
    memo[id(cost)] = total
    return total


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of one operation of a valid document with the request's variables, at most COST_CEILING (compiled
    afresh, uncached)."""
    return _evaluate(CostCompiler(schema, document).operation(operation), variables or {}, {})


class CostPlans:
    """Compiled costs, kept with the parsed document they belong to: compiled once per document and operation.

    The parser cache hands out the same document object for the same query text, so a document seen again finds its
    compiled costs here; an entry goes when its document is garbage-collected, and at most `maxsize` are kept.
    """

    def __init__(self, maxsize: int = 512) -> None:
        self._maxsize = maxsize
        self._plans: dict[int, tuple[weakref.ref[DocumentNode], dict[str | None, _Cost]]] = {}
        self.compilations = 0

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
    ) -> int:
        """The cost of `operation` with these variables; TooDeeplyNestedError for documents nested beyond reason."""
        compiled = self._compiled(schema, document, operation)
        try:
            return _evaluate(compiled, variables or {}, {})
        except RecursionError:
            raise TooDeeplyNestedError from None

    def _compiled(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> _Cost:
        key = id(document)
        entry = self._plans.get(key)
        if entry is None or entry[0]() is not document:
            if len(self._plans) >= self._maxsize:
                del self._plans[next(iter(self._plans))]
            entry = (weakref.ref(document, lambda _: self._plans.pop(key, None)), {})
            self._plans[key] = entry
        name = operation.name.value if operation.name else None
        compiled = entry[1].get(name)
        if compiled is None:
            compiled = CostCompiler(schema, document).operation(operation)
            self.compilations += 1
            entry[1][name] = compiled
        return compiled
