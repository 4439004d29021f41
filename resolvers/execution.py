"""The executor: graphql-core's, metering the work an operation really does and bounding every list it completes.

The cost model decides before execution whether an operation may run; this decides while it runs. Work is counted
where it is cheap to count, at object boundaries: completing an object adds the number of fields it resolves (the
keys of that object in the answer), so scalar fields get no hook of their own. An operation whose work passes the
budget stops: every object and list completed after that point fails instead, and the QueryCost extension answers
QUERY_TOO_COMPLEX. A list longer than its field's declared maximum (resolvers/list_bounds.py) is cut to that
maximum before its items are completed, and the cut is reported in the answer's `extensions.truncated`.

Most fields of a long list are plain columns: a Strawberry field without resolver, arguments or extensions, whose
value is the attribute of the same name and whose type is a scalar or an enum. graphql-core gives each of them a
path, a resolve info, Strawberry's default resolver and three steps of value completion (4,150 of a dashboard's
6,202 fields, about a quarter of its CPU on the resolvers). `execute_fields` answers such a field inline instead:
the attribute, coerced by the field's scalar or enum type, exactly as that path would. Whatever is not plain on the
way (null on a non-null field, an exception, an awaitable, a value the type refuses) is completed from that one read
(the value, or the exception as the resolver's error) as graphql-core's `execute_field` completes a resolver's
result, so errors, their paths and the answer's bytes are those graphql-core gives, and the attribute is read once,
as graphql-core's default resolver reads it. The other fields without arguments are resolved and completed in the
same loop as `execute_field` would (that method is the reference), and objects go straight to
`complete_object_value`, which checks the type, charges the meter and executes the subfields in one call. A list of
objects of one object type is completed in one loop (`complete_object_list`) with the steps graphql-core takes for
each item, its subfields collected once. A resolve info is one tuple built from what the field and the executor
hold; a built-in scalar's value that its coercion returns unchanged, and an enum member's name, need no call. What
each field of a selection needs is worked out once per selection and operation (`plan_fields`). A resolve hook
(tracing) or a deferred fragment turns `execute_fields`'s inline paths off: graphql-core's own runs, so the hook sees
every field (a list of objects is still completed in one loop; the hook wraps resolvers, not completion).

A field whose resolver is a plain function of the object (`def key(self, info)`, a relation answered from what the
page prefetched) goes through Strawberry's resolver wrapper: argument conversion, field extensions, a chain of
partials, about as much again as the field itself. `resolve_directly` gives each such field, once when the schema is
built, a resolver that calls the function as that wrapper would (the object, and Strawberry's `Info` for `info`),
without the steps that have nothing to do for it: no arguments, no field extensions or permission classes, no
exception handlers, not async.
"""

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import EnumMeta
from inspect import Parameter, iscoroutinefunction
from itertools import islice
from math import isfinite
from types import CoroutineType, GeneratorType, MethodType
from typing import Any, ClassVar, Protocol

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    OperationType,
)
from graphql.execution import ExecutionResult
from graphql.execution.collect_fields import DeferUsage, FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import invalid_return_type_error
from graphql.execution.incremental.incremental_executor import DeliveryGroupMap
from graphql.pyutils import AwaitableOrValue, Path, Undefined, gather_with_cancel, is_iterable
from graphql.pyutils import is_awaitable as default_is_awaitable
from graphql.type.scalars import serialize_float, serialize_id, serialize_int, serialize_string
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo as _StrawberryResolveInfo
from strawberry.types.info import Info

from resolvers.list_bounds import list_maximum

__all__ = [
    "MeteredExecutor",
    "MeteredResult",
    "PlannedReads",
    "WorkMeter",
    "charge_work",
    "metered_executor",
    "resolve_directly",
    "subscription_executor",
]

OVER_BUDGET = "QUERY_TOO_COMPLEX"
STRAWBERRY_FIELD = "strawberry-definition"
"""Where Strawberry keeps a GraphQL field's StrawberryField (GraphQLCoreConverter.DEFINITION_BACKREF)."""
_PLAIN_VALUES = frozenset({str, int, float, bool})
_STR_AS_IS = frozenset({serialize_string, serialize_id})
"""Output coercions that return a str as it is (String's and ID's): a str field's value needs no call of them."""
"""Attribute values that are neither exceptions nor awaitable: no check needed before coercing them."""


_NOT_AWAITABLE: set[type] = set()
"""Classes whose instances graphql-core's check found not awaitable: no coroutine, generator or `__await__`."""
_KNOWN_CHECKS = (optimized_is_awaitable, default_is_awaitable)


def is_awaitable(value: Any) -> bool:
    """graphql-core's (and Strawberry's) `is_awaitable`, remembering the classes whose instances are not.

    The check is asked several times for every field; for an object of a GraphQL type it costs two `isinstance`
    and a failed attribute look-up each time. Python's `await` reads `__await__` from the class, so a class without
    it, and that is no coroutine or generator, makes no awaitable instance.
    """
    cls = type(value)
    if cls in _NOT_AWAITABLE:
        return False
    if optimized_is_awaitable(value):
        return True
    if (
        len(_NOT_AWAITABLE) < 10_000
        and value.__class__ is cls
        and not hasattr(cls, "__await__")
        and not issubclass(cls, CoroutineType | GeneratorType)
    ):
        _NOT_AWAITABLE.add(cls)
    return False


_new_tuple = tuple.__new__
"""A named tuple (a resolve info) from its items, without its class's `__new__` (a Python function)."""

_UNREAD: Any = object()
"""`execute_fields`: the field's attribute was not read inline (its resolver is called)."""


@dataclass(frozen=True, slots=True)
class _Raised:
    """`execute_fields`: reading the field's attribute inline raised this (the field's error, as its resolver's)."""

    error: Exception


@dataclass(frozen=True, slots=True)
class PlainLeaf:
    """A field answered inline: the source's attribute `attribute`, coerced by the field's scalar or enum type."""

    attribute: str
    coerce: Callable[[Any], Any]
    non_null: bool
    as_is: type | None = None
    """The class whose values `coerce` returns as they are (see `_AS_IS`): str for String and ID, float (finite)
    for Float, int (32-bit) for Int."""
    members: type | None = None
    """For a Strawberry enum: its Python enum, whose members' GraphQL names `names` holds by their id."""
    names: dict[int, str] | None = None


@dataclass(frozen=True, slots=True)
class PlannedField:
    """A field of a selection, with what executing it needs worked out once: a field without arguments is resolved
    and completed in `execute_fields` as graphql-core's `execute_field` would (that method is the reference);
    `leaf`, when it is a plain column (answered without its resolver); `coerce`, when its type is a scalar or an
    enum (a plain value is coerced without the completion steps)."""

    response_name: str
    field_details_list: FieldDetailsList
    leaf: PlainLeaf | None
    field_def: GraphQLField | None
    """None: the field takes arguments (or is unknown) and goes through `execute_field`."""
    field_nodes: list[FieldNode]
    resolve: Callable[..., Any] | None
    coerce: Callable[[Any], Any] | None
    object_type: GraphQLObjectType | None = None
    """The field's type, or the type under its non-null, when that is an object type: completed by
    `complete_object_value` directly (graphql-core's `complete_value` ends there for it, after six tests)."""
    info_head: tuple[Any, ...] = ()
    """The first four items of the field's resolve info (name, nodes, return type, parent type): the same for
    every object of the selection."""


PlannedFields = list[PlannedField]
"""A selection's fields in order."""


def plain_leaf(parent_type: GraphQLObjectType, field_details_list: FieldDetailsList) -> PlainLeaf | None:
    """How to answer this field inline, or None when it is not a plain column (see the module)."""
    node = field_details_list[0].node
    field_def = parent_type.fields.get(node.name.value)
    if field_def is None or field_def.args or any(details.node.arguments for details in field_details_list):
        return None
    strawberry_field = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
    if (
        strawberry_field is None
        or not getattr(field_def.resolve, "_is_default", False)
        or not strawberry_field.is_basic_field
        or strawberry_field.default_resolver is not getattr
        or not strawberry_field.python_name
    ):
        return None
    field_type = field_def.type
    non_null = isinstance(field_type, GraphQLNonNull)
    leaf = field_type.of_type if non_null else field_type
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    coerce = output_coercion(leaf)
    members, names = _ENUM_NAMES.get(leaf, (None, None))  # type: ignore[arg-type]
    return PlainLeaf(
        attribute=strawberry_field.python_name,
        coerce=coerce,
        non_null=non_null,
        as_is=_AS_IS.get(getattr(leaf, "coerce_output_value", None)),
        members=members,
        names=names,
    )


_AS_IS: dict[Any, type] = {serialize_string: str, serialize_id: str, serialize_float: float, serialize_int: int}
"""graphql-core's output coercions of the built-in scalars, and the class of values each returns unchanged: any str
(String, ID), a finite float (Float), an int of 32 bits (Int)."""
_MIN_INT, _MAX_INT = -(2**31), 2**31 - 1


def output_coercion(leaf: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    """The leaf type's `coerce_output_value`; for an enum of Strawberry's, a look-up of its members' names first.

    Strawberry's enum type compares the value with each of the type's values in turn (a property read for each):
    the look-up answers the name the first equal value has, as that loop does, and leaves anything else to it.
    """
    coerce = leaf.coerce_output_value
    members = getattr(leaf, "wrapped_cls", None)
    if not isinstance(leaf, GraphQLEnumType) or not isinstance(members, EnumMeta):
        return coerce
    known = _ENUM_COERCIONS.get(leaf)
    if known is not None:
        return known
    # By the member's id: an enum's members live as long as it does, and Enum's __hash__ is a Python function.
    names: dict[int, str] = {}
    member: Any
    for member in members:
        for name, value in leaf.values.items():
            if member.value == value.value:
                names[id(member)] = name
                break

    def coerce_member(value: Any) -> Any:
        name = names.get(id(value)) if type(value) is members else None
        return coerce(value) if name is None else name

    if len(_ENUM_COERCIONS) < 10_000:
        _ENUM_COERCIONS[leaf] = coerce_member
        if not issubclass(members, Exception) and not hasattr(members, "__await__"):
            # Its members are neither exceptions nor awaitable: `execute_fields` may answer them by name at once.
            _ENUM_NAMES[leaf] = (members, names)
    return coerce_member


_ENUM_COERCIONS: dict[GraphQLEnumType, Callable[[Any], Any]] = {}
"""`output_coercion` of each enum type of a schema, built once."""
_ENUM_NAMES: dict[GraphQLEnumType, tuple[type, dict[int, str]]] = {}
"""For each Strawberry enum type: its Python enum and its members' names by id (see `output_coercion`)."""


@dataclass
class WorkMeter:
    """The fields one operation resolved, against its budget, and the lists cut to their maximum."""

    budget: int
    work: int = 0
    exceeded: bool = False
    truncated: list[dict[str, Any]] = field(default_factory=list)

    def charge(self, fields: int) -> None:
        self.work += fields
        if self.work > self.budget:
            self.exceeded = True

    def refuse(self) -> GraphQLError:
        return GraphQLError(
            f"The operation resolved more than {self.budget} fields; at most {self.budget} are allowed.",
            extensions={"code": OVER_BUDGET, "maximum": self.budget},
        )


class MeteredResult(ExecutionResult):
    """An execution result that carries the meter of the operation that produced it."""

    __slots__ = ("meter",)

    def __init__(self, result: ExecutionResult, meter: WorkMeter) -> None:
        super().__init__(result.data, result.errors, result.extensions)
        self.meter = meter


class PlannedReads(Protocol):
    """The planned executor as this one sees it (resolvers/planner): the answer of a query, or None to resolve it."""

    def answer(self, executor: "MeteredExecutor") -> Awaitable[dict[str, Any] | None] | None: ...


class MeteredExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor with a work meter; `max_work` (and `planner`) are set by `metered_executor`.

    With a planner, a query the planner can answer is answered by it (the root fields' values straight from
    batched SQL), after parsing, validation and the cost limits, which ran before execution as for any operation;
    whatever it declines runs on the resolvers below.
    """

    max_work: ClassVar[int]
    planner: ClassVar[PlannedReads | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Sub-executors are shallow copies, so they share this meter.
        self.meter = WorkMeter(budget=self.max_work)
        _METER.set(self.meter)
        if self.is_awaitable in _KNOWN_CHECKS:
            self.is_awaitable = is_awaitable  # type: ignore[method-assign,assignment]
        # The fields of each selection set, planned once per operation (shared by sub-executors, shallow copies).
        self.planned_fields: dict[int, tuple[GroupedFieldSet, GraphQLObjectType, PlannedFields]] = {}
        # What every resolve info of this executor ends with (`remember_info_tail`); a copy finds another owner.
        self.info_owner: MeteredExecutor | None = None
        self.info_tail: tuple[type, tuple[Any, ...]] | None = None
        if self.operation.operation is OperationType.SUBSCRIPTION:
            # Built in the operation's own task just before its subscription resolver is called.
            _SUBSCRIPTION_EXECUTOR.set(self)

    def build_per_event_executor(self, payload: Any) -> "MeteredExecutor":
        """Each event of a subscription is an execution of its own, with a budget of its own: a copy sharing the
        subscription's meter would count every event ever delivered against one operation's budget."""
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, MeteredExecutor)
        executor.meter = WorkMeter(budget=self.max_work)
        _METER.set(executor.meter)
        executor.planned_fields = {}  # nor keep every event's selections for the subscription's lifetime
        return executor

    def execute_root_grouped_field_set(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        serially: bool,
        position_context: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        planner = self.planner
        planned = planner.answer(self) if planner is not None and not serially and position_context is None else None
        if planned is not None:
            return self._planned_or_resolved(planned, root_type, root_value, grouped_field_set, position_context)
        return self._resolve_root(root_type, root_value, grouped_field_set, serially, position_context)

    async def _planned_or_resolved(
        self,
        planned: Awaitable[dict[str, Any] | None],
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        position_context: DeliveryGroupMap | None,
    ) -> dict[str, Any]:
        data = await planned
        if data is not None:
            return data
        resolved = self._resolve_root(root_type, root_value, grouped_field_set, False, position_context)
        if self.is_awaitable(resolved):
            return await resolved  # type: ignore[no-any-return]
        return resolved  # type: ignore[return-value]

    def _resolve_root(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        serially: bool,
        position_context: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        self.meter.charge(len(grouped_field_set))
        return super().execute_root_grouped_field_set(
            root_type, root_value, grouped_field_set, serially, position_context
        )

    def execute_collected_subfields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path,
        grouped_field_set: GroupedFieldSet,
        new_defer_usages: Sequence[DeferUsage],
        delivery_group_map: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        meter = self.meter
        meter.charge(len(grouped_field_set))
        if meter.exceeded:
            raise meter.refuse()
        return super().execute_collected_subfields(
            parent_type, source_value, path, grouped_field_set, new_defer_usages, delivery_group_map
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's `execute_fields`, with plain columns answered inline (see the module)."""
        middleware = self.middleware_manager
        if position_context is not None or (middleware is not None and middleware.middlewares):
            # A resolve hook (tracing) must see every field; deferred fragments keep graphql-core's own path.
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        planned = self.planned_fields.get(id(grouped_field_set))
        if planned is None or planned[0] is not grouped_field_set or planned[1] is not parent_type:
            planned = (grouped_field_set, parent_type, self.plan_fields(parent_type, grouped_field_set))
            self.planned_fields[id(grouped_field_set)] = planned
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        info_tail = self.info_tail if self.info_owner is self else None
        type_name = parent_type.name
        try:
            for planned_field in planned[2]:
                response_name = planned_field.response_name
                leaf = planned_field.leaf
                read: Any = _UNREAD
                if leaf is not None:
                    # The attribute is read once, as graphql-core calls a resolver once: whatever is not plain (an
                    # exception raised, null on a non-null field, an awaitable, a value the type refuses) is
                    # completed below from what this read gave, never read again.
                    try:
                        read = value = getattr(source_value, leaf.attribute)
                    except Exception as raw_error:  # noqa: BLE001 - completed below as the resolver's error
                        read = _Raised(raw_error)
                    else:
                        try:
                            cls = type(value)
                            if cls is leaf.as_is and (
                                cls is str
                                or (cls is float and isfinite(value))
                                or (cls is int and _MIN_INT <= value <= _MAX_INT)
                            ):
                                # What the scalar's coercion returns for this value, without the call.
                                results[response_name] = value
                                continue
                            if cls is leaf.members:
                                name = leaf.names.get(id(value))  # type: ignore[union-attr]
                                if name is not None:
                                    results[response_name] = name  # what `output_coercion` answers
                                    continue
                            if value is None or value is Undefined:
                                if not leaf.non_null:
                                    results[response_name] = None
                                    continue
                            elif type(value) in _PLAIN_VALUES or not (
                                isinstance(value, Exception) or is_awaitable(value)
                            ):
                                coerced = leaf.coerce(value)
                                if coerced is not None and coerced is not Undefined:
                                    results[response_name] = coerced
                                    continue
                        except Exception:  # noqa: BLE001, S110 - the completion below coerces it again, located
                            pass
                field_details_list = planned_field.field_details_list
                field_path = _new_tuple(Path, (path, response_name, type_name))  # Path(...) without its __new__
                field_def = planned_field.field_def
                if field_def is None:
                    # Never a plain column (its definition is the one `plain_leaf` found): nothing was read.
                    result = self.execute_field(
                        parent_type, source_value, field_details_list, field_path, position_context
                    )
                    if result is Undefined:
                        continue
                    waiting = is_awaitable(result)
                else:
                    # graphql-core's execute_field for a field without arguments, no middleware.
                    return_type = field_def.type
                    info: GraphQLResolveInfo
                    if info_tail is not None:
                        info = _new_tuple(info_tail[0], (*planned_field.info_head, field_path, *info_tail[1]))
                    else:
                        info = self.build_resolve_info(field_def, planned_field.field_nodes, parent_type, field_path)
                        info_tail = self.remember_info_tail(info)
                    try:
                        if read is _UNREAD:
                            result = planned_field.resolve(source_value, info)  # type: ignore[misc]
                        elif type(read) is _Raised:
                            raise read.error
                        else:
                            result = read
                        waiting = is_awaitable(result)
                        if waiting:
                            result = self.complete_awaitable_value(
                                return_type, field_details_list, info, field_path, result, position_context
                            )
                        else:
                            coerce = planned_field.coerce
                            if coerce is None or type(result) not in _PLAIN_VALUES:
                                coerced = None
                            elif type(result) is str and coerce in _STR_AS_IS:
                                coerced = result
                            else:
                                coerced = coerce(result)
                            object_type = planned_field.object_type
                            if coerced is not None and coerced is not Undefined:
                                result = coerced
                            elif (
                                object_type is not None
                                and result is not None
                                and result is not Undefined
                                and not isinstance(result, Exception)
                            ):
                                # Where graphql-core's `complete_value` ends for an object, six tests later.
                                result = self.complete_object_value(
                                    object_type, field_details_list, info, field_path, result, position_context
                                )
                                waiting = is_awaitable(result)
                                if waiting:
                                    result = _await_completed(
                                        self,
                                        result,  # type: ignore[arg-type]
                                        return_type,
                                        field_details_list,
                                        field_path,
                                    )
                            else:
                                result = self.complete_value(
                                    return_type, field_details_list, info, field_path, result, position_context
                                )
                                waiting = is_awaitable(result)
                                if waiting:
                                    result = _await_completed(self, result, return_type, field_details_list, field_path)
                    except Exception as raw_error:  # noqa: BLE001 - as execute_field: a field error
                        self.handle_field_error(raw_error, return_type, field_details_list, field_path)
                        result, waiting = None, False
                results[response_name] = result
                if waiting:
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                name = awaitable_fields[0]
                results[name] = await results[name]
            else:
                awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def remember_info_tail(self, info: GraphQLResolveInfo) -> tuple[type, tuple[Any, ...]] | None:
        """The class of Strawberry's resolve info and the items after its path, which are this executor's own
        (schema, fragments, root value, operation, variables, context, ...) and so the same in every info it builds:
        `execute_fields` then builds an info as one tuple of the field's four items, the path and these, which is
        what `build_resolve_info` returns, for two Python calls fewer. None when a subclass builds infos its own way.
        """
        if self.info_owner is not self:
            self.info_owner = self
            built_by_strawberry = (
                type(self).build_resolve_info is StrawberryGraphQLCoreExecutionContext.build_resolve_info
                and type(info) is _StrawberryResolveInfo  # type: ignore[comparison-overlap]
            )
            self.info_tail = (type(info), tuple(info[5:])) if built_by_strawberry else None
        return self.info_tail

    def plan_fields(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> PlannedFields:
        """The selection's fields, each with what `execute_fields` needs to execute it."""
        fields = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            found = self.schema.get_field(parent_type, node.name.value)
            field_def = found if found is not None and not found.args and not node.arguments else None
            leaf_type: Any = None
            if field_def is not None:
                leaf_type = field_def.type
                leaf_type = leaf_type.of_type if isinstance(leaf_type, GraphQLNonNull) else leaf_type
            field_nodes = [details.node for details in field_details_list]
            fields.append(
                PlannedField(
                    response_name=response_name,
                    field_details_list=field_details_list,
                    leaf=plain_leaf(parent_type, field_details_list),
                    field_def=field_def,
                    field_nodes=field_nodes,
                    resolve=None if field_def is None else field_def.resolve or self.field_resolver,
                    coerce=output_coercion(leaf_type)
                    if isinstance(leaf_type, GraphQLScalarType | GraphQLEnumType)
                    else None,
                    object_type=leaf_type if isinstance(leaf_type, GraphQLObjectType) else None,
                    info_head=()
                    if field_def is None
                    else (field_nodes[0].name.value, field_nodes, field_def.type, parent_type),
                )
            )
        return fields

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's `complete_value`, going straight to `complete_object_value` for an object of an object
        type (non-null or not), which is where that method's type tests end for it, one call and six tests later."""
        object_type = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if (
            isinstance(object_type, GraphQLObjectType)
            and result is not None
            and result is not Undefined
            and not isinstance(result, Exception)
        ):
            # Never None (a dict or an awaitable of one), so a non-null type has nothing to check.
            return self.complete_object_value(object_type, field_details_list, info, path, result, position_context)
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's, with `collect_and_execute_subfields` (below) in the same call: one call fewer per object."""
        is_type_of = return_type.is_type_of
        if is_type_of:
            checked = is_type_of(result, info)
            if checked is not True:
                if self.is_awaitable(checked):
                    return _checked_object(
                        self, checked, return_type, field_details_list, path, result, position_context
                    )
                if not checked:
                    raise invalid_return_type_error(return_type, result, field_details_list)
        # graphql-core's memo of `collect_subfields` (the same key), read without the call when it holds the set.
        memo = self._relevant_sub_fields.get((return_type, id(field_details_list)))
        collected = memo[1] if memo is not None else self.collect_subfields(return_type, field_details_list)
        grouped_field_set, new_defer_usages, _ = collected
        if new_defer_usages or position_context is not None:
            return self.execute_collected_subfields(
                return_type, result, path, grouped_field_set, new_defer_usages, position_context
            )
        meter = self.meter
        meter.work += len(grouped_field_set)  # WorkMeter.charge, inline
        if meter.work > meter.budget:
            meter.exceeded = True
        if meter.exceeded:
            raise meter.refuse()
        return self.execute_fields(return_type, result, path, grouped_field_set, None)

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's, with the meter's charge (`execute_collected_subfields`) made here when nothing is
        deferred: three calls fewer for each object of a list."""
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(return_type, field_details_list)
        if new_defer_usages or position_context is not None:
            return self.execute_collected_subfields(
                return_type, result, path, grouped_field_set, new_defer_usages, position_context
            )
        meter = self.meter
        meter.charge(len(grouped_field_set))
        if meter.exceeded:
            raise meter.refuse()
        return self.execute_fields(return_type, result, path, grouped_field_set, None)

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: AsyncIterable[Any] | Iterable[Any],
        position_context: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[list[Any]]:
        meter = self.meter
        if meter.exceeded:
            raise meter.refuse()
        parent = info.parent_type
        maximum = list_maximum(parent, parent.fields[info.field_name])
        if maximum is not None and is_iterable(result):
            items = result if isinstance(result, list | tuple) else list(islice(result, maximum + 1))
            if len(items) > maximum:
                meter.truncated.append({"path": path.as_list(), "maximum": maximum})
                items = items[:maximum]
            result = items
        item_type = return_type.of_type
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            isinstance(object_type, GraphQLObjectType)
            and isinstance(result, list | tuple)
            and position_context is None
            and self.get_stream_usage(field_details_list, path) is None
        ):
            grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
            if not new_defer_usages:
                return self.complete_object_list(
                    item_type, object_type, field_details_list, info, path, result, grouped_field_set
                )
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def complete_object_list(
        self,
        item_type: GraphQLOutputType,
        object_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        items: list[Any] | tuple[Any, ...],
        grouped_field_set: GroupedFieldSet,
    ) -> AwaitableOrValue[list[Any]]:
        """graphql-core's `complete_iterable_value` for a list of objects of one object type, nothing streamed or
        deferred: each item's `complete_list_item_value`, `complete_value` and `complete_object_value` in one loop,
        the subfields collected once for the list (graphql-core memoizes the same collection per item), the meter
        charged per object as `collect_and_execute_subfields` charges it. Errors are handled at the same points
        with the same paths: a null item of a non-null type, an exception as item, a refused `is_type_of`, an
        awaitable item (completed by graphql-core's `complete_awaitable_list_item_value`)."""
        is_awaitable = self.is_awaitable
        is_type_of = object_type.is_type_of
        non_null = item_type is not object_type
        meter = self.meter
        charge = len(grouped_field_set)
        execute_fields = self.execute_fields
        completed_results: list[Any] = []
        append_completed = completed_results.append
        awaitable_indices: list[int] = []
        index = 0
        try:
            for index, item in enumerate(items):
                item_path = _new_tuple(Path, (path, index, None))  # Path(...) without its __new__
                if is_awaitable(item):
                    append_completed(
                        self.complete_awaitable_list_item_value(
                            item, item_type, field_details_list, info, item_path, None
                        )
                    )
                    awaitable_indices.append(index)
                    continue
                try:
                    if isinstance(item, Exception):
                        raise item
                    if item is None or item is Undefined:
                        if non_null:
                            msg = f"Cannot return null for non-nullable field {info.parent_type}.{info.field_name}."
                            raise TypeError(msg)
                        append_completed(None)
                        continue
                    completed: Any
                    if is_type_of:
                        checked = is_type_of(item, info)
                        if checked is True:
                            completed = _UNREAD
                        elif is_awaitable(checked):
                            completed = _checked_object(
                                self, checked, object_type, field_details_list, item_path, item, None
                            )
                        elif not checked:
                            raise invalid_return_type_error(object_type, item, field_details_list)
                        else:
                            completed = _UNREAD
                    else:
                        completed = _UNREAD
                    if completed is _UNREAD:
                        meter.work += charge  # WorkMeter.charge, inline
                        if meter.work > meter.budget:
                            meter.exceeded = True
                        if meter.exceeded:
                            raise meter.refuse()
                        completed = execute_fields(object_type, item, item_path, grouped_field_set, None)
                        if type(completed) is dict:
                            append_completed(completed)
                            continue
                    if is_awaitable(completed):
                        append_completed(_await_completed(self, completed, item_type, field_details_list, item_path))
                        awaitable_indices.append(index)
                    else:
                        append_completed(completed)
                except Exception as raw_error:  # noqa: BLE001 - as complete_list_item_value: the item's error
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    append_completed(None)
        except Exception:
            # As graphql-core: whatever was started, and awaitable items not reached, settle in the background.
            maybe_awaitables = [completed_results[i] for i in awaitable_indices]
            maybe_awaitables.extend(item for item in items[index + 1 :] if is_awaitable(item))
            if maybe_awaitables:
                self.settle_in_background(maybe_awaitables)
            raise
        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:
            if len(awaitable_indices) == 1:
                position = awaitable_indices[0]
                completed_results[position] = await completed_results[position]
            else:
                awaited = await gather_with_cancel(*(completed_results[i] for i in awaitable_indices))
                for position, value in zip(awaitable_indices, awaited, strict=True):
                    completed_results[position] = value
            return completed_results

        return get_completed_results()

    def build_response(self, data: dict[str, Any] | None) -> Any:
        response = super().build_response(data)
        return MeteredResult(response, self.meter) if isinstance(response, ExecutionResult) else response


async def _await_completed(
    executor: MeteredExecutor,
    completed: Awaitable[Any],
    return_type: GraphQLOutputType,
    field_details_list: FieldDetailsList,
    path: Path,
) -> Any:
    """graphql-core's `await_completed` (in `execute_field`): a field's completion that had to wait."""
    try:
        return await completed
    except Exception as raw_error:  # noqa: BLE001 - as execute_field: a field error
        executor.handle_field_error(raw_error, return_type, field_details_list, path)
        return None


async def _checked_object(
    executor: MeteredExecutor,
    checked: Awaitable[Any],
    return_type: GraphQLObjectType,
    field_details_list: FieldDetailsList,
    path: Path,
    result: Any,
    position_context: DeliveryGroupMap | None,
) -> dict[str, Any]:
    """graphql-core's `execute_subfields_async` (in `complete_object_value`): an `is_type_of` that had to wait."""
    if not await executor.with_abort_signal(checked):
        raise invalid_return_type_error(return_type, result, field_details_list)
    sub_fields = executor.collect_and_execute_subfields(return_type, field_details_list, path, result, position_context)
    if executor.is_awaitable(sub_fields):
        return await sub_fields  # type: ignore[no-any-return]
    return sub_fields  # type: ignore[return-value]


_SUBSCRIPTION_EXECUTOR: ContextVar[MeteredExecutor | None] = ContextVar("prism_subscription_executor", default=None)
_METER: ContextVar[WorkMeter | None] = ContextVar("prism_work_meter", default=None)


def charge_work(amount: int) -> None:
    """Count `amount` more work against the running operation, for a resolver whose work is not its fields (a
    forecast's trials, as the cost model charges them): the caller's budget is charged it like resolved fields."""
    meter = _METER.get()
    if meter is not None:
        meter.charge(amount)


def subscription_executor() -> MeteredExecutor | None:
    """The executor of the subscription operation whose resolver runs in this task (its document, variables and
    context, validated): `build_per_event_executor(payload).execute_operation(False)` answers one event."""
    return _SUBSCRIPTION_EXECUTOR.get()


def metered_executor(max_work: int, planner: PlannedReads | None = None) -> type[MeteredExecutor]:
    """The executor class for a schema whose operations may resolve at most `max_work` fields, answering the queries
    `planner` can plan with their plans."""
    return type("MeteredExecutor", (MeteredExecutor,), {"max_work": max_work, "planner": planner})


def resolve_directly(schema: Any) -> int:
    """Give every plain resolver of `schema` (a strawberry.Schema) a direct call (see the module); how many."""
    graphql_schema = schema._schema
    roots = {graphql_schema.query_type, graphql_schema.mutation_type, graphql_schema.subscription_type}
    handlers = getattr(schema.schema_converter, "_get_field_exception_handlers", None)
    count = 0
    for graphql_type in graphql_schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type in roots or graphql_type.name[:2] == "__":
            continue
        for field_def in graphql_type.fields.values():
            strawberry_field = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
            if (
                strawberry_field is None
                or handlers is None
                or handlers(strawberry_field)
                or not _calls_its_resolver(strawberry_field)
            ):
                continue
            direct = direct_resolver(
                strawberry_field, field_def, schema.config.info_class
            ) or direct_resolver_with_arguments(
                strawberry_field, schema.config, schema.schema_converter.scalar_registry
            )
            if direct is not None:
                field_def.resolve = direct
                count += 1
    return count


def _calls_its_resolver(strawberry_field: Any) -> bool:
    """Whether Strawberry's wrapper ends in the resolver's function: its field's `get_result` and its resolver's
    `__call__` are Strawberry's own (a subclass of either may change the answer)."""
    from strawberry.types.field import StrawberryField
    from strawberry.types.fields.resolver import StrawberryResolver

    resolver = strawberry_field.base_resolver
    return type(strawberry_field).get_result is StrawberryField.get_result and (
        resolver is None or type(resolver).__call__ is StrawberryResolver.__call__
    )


def direct_resolver(strawberry_field: Any, field_def: Any, info_class: type) -> Callable[..., Any] | None:
    """The direct call of a plain resolver, or None when the field needs Strawberry's wrapper (see the module)."""
    resolver = strawberry_field.base_resolver
    if (
        resolver is None
        or strawberry_field.is_async
        or strawberry_field.extensions
        or strawberry_field.arguments
        or field_def.args
        or not callable(resolver.wrapped_func)
    ):
        return None
    function = resolver.wrapped_func
    parameters = list(resolver.signature.parameters.values())
    if isinstance(function, MethodType):
        parameters = parameters[1:]  # bound: `cls` of a classmethod (relay's Node.id)
    self_parameter, info_parameter = resolver.self_parameter, resolver.info_parameter
    to_source = {p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p is not None}
    known = {p.name for p in (self_parameter, info_parameter) if p is not None} | to_source
    if {p.name for p in parameters} != known or (self_parameter is not None and parameters[0] is not self_parameter):
        return None
    info_name = info_parameter.name if info_parameter is not None else None

    if self_parameter is not None and not to_source:
        if info_name is None:

            def resolve_self(source: Any, info: GraphQLResolveInfo) -> Any:
                return function(source)

            return _not_default(resolve_self)

        if (
            len(parameters) == 2
            and parameters[1] is info_parameter
            and info_parameter.kind in (Parameter.POSITIONAL_ONLY, Parameter.POSITIONAL_OR_KEYWORD)
            and info_class.__init__ is Info.__init__  # type: ignore[misc]
            and info_class.__new__ is object.__new__  # type: ignore[comparison-overlap]
        ):
            # `def key(self, info)`: the info passed by position, and built as Info's own __init__ (generated by
            # dataclasses: two attributes set, no __post_init__) builds it, without the call.
            new = object.__new__

            def resolve_self_positional_info(source: Any, info: GraphQLResolveInfo) -> Any:
                wrapped: Any = new(info_class)
                wrapped._raw_info = info
                wrapped._field = strawberry_field
                return function(source, wrapped)

            return _not_default(resolve_self_positional_info)

        def resolve_self_info(source: Any, info: GraphQLResolveInfo) -> Any:
            return function(source, **{info_name: info_class(_raw_info=info, _field=strawberry_field)})

        return _not_default(resolve_self_info)

    def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
        kwargs = dict.fromkeys(to_source, source)
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=strawberry_field)
        return function(source, **kwargs) if self_parameter is not None else function(**kwargs)

    return _not_default(resolve)


_PLAIN_ARGUMENT_TYPES = (int, str, float, bool)
"""Argument types whose values Strawberry's conversion returns as graphql-core coerced them: built-in scalars, which
are leaf types to it (overridden by a custom scalar or not)."""


def direct_resolver_with_arguments(
    strawberry_field: Any, config: Any, scalar_registry: Any
) -> Callable[..., Any] | None:
    """The direct call of a resolver with arguments (a connection's `first`, `after`, `filter`...), or None when the
    field needs Strawberry's wrapper: a resolver of the object, its arguments and perhaps `info`, nothing else, and no
    field extensions (permission classes are one). The arguments are converted as Strawberry's `convert_arguments`
    converts them, by its own `convert_argument`, except that each argument's GraphQL name is worked out once here
    (Strawberry converts the Python name on every call) and a value that conversion returns unchanged (null for an
    optional argument, a built-in scalar's value) is passed without the call. An async resolver is awaited inside a
    coroutine of this function, as Strawberry's wrapper does: a conversion error surfaces where it did."""
    resolver = strawberry_field.base_resolver
    if (
        resolver is None
        or strawberry_field.extensions
        or not strawberry_field.arguments
        or not callable(resolver.wrapped_func)
        or isinstance(resolver.wrapped_func, MethodType)
        or resolver.parent_parameter is not None
        or resolver.root_parameter is not None
        or resolver.self_parameter is None
        # Strawberry's async wrapper awaits the result only when it is awaitable: an async generator's (a list
        # completed from it) is returned as it is. Awaited here only what a coroutine function returns.
        or (strawberry_field.is_async and not iscoroutinefunction(resolver.wrapped_func))
    ):
        return None
    function = resolver.wrapped_func
    parameters = list(resolver.signature.parameters.values())
    self_parameter, info_parameter = resolver.self_parameter, resolver.info_parameter
    arguments = {argument.python_name: argument for argument in strawberry_field.arguments}
    if (
        parameters[0] is not self_parameter
        or {p.name for p in parameters[1:]} != {*(() if info_parameter is None else (info_parameter.name,)), *arguments}
        or any(p.kind in (Parameter.POSITIONAL_ONLY, Parameter.VAR_POSITIONAL) for p in parameters[1:])
    ):
        return None
    from strawberry.types.arguments import convert_argument
    from strawberry.types.base import StrawberryMaybe, StrawberryOptional

    # (GraphQL name, Python name, type, whether null converts to null, whether a value converts to itself)
    converted: list[tuple[str, str, Any, bool, bool]] = []
    for python_name, argument in arguments.items():
        type_ = argument.type
        optional = isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe)
        inner = type_.of_type if optional else type_
        plain = inner in _PLAIN_ARGUMENT_TYPES
        converted.append((config.name_converter.from_argument(argument), python_name, type_, optional, plain))
    info_name = None if info_parameter is None else info_parameter.name
    info_class = config.info_class

    def arguments_of(info: Any, given: dict[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for graphql_name, python_name, type_, optional, plain in converted:
            if graphql_name in given:
                value = given[graphql_name]
                if (value is None and optional) or (plain and value is not None):
                    kwargs[python_name] = value
                else:
                    kwargs[python_name] = convert_argument(
                        value, type_, scalar_registry, config, info, path=(graphql_name,)
                    )
        if info_name is not None:
            kwargs[info_name] = info
        return kwargs

    if strawberry_field.is_async:

        async def resolve_async(source: Any, info: GraphQLResolveInfo, **given: Any) -> Any:
            wrapped = info_class(_raw_info=info, _field=strawberry_field)
            return await function(source, **arguments_of(wrapped, given))

        return _not_default(resolve_async)

    def resolve(source: Any, info: GraphQLResolveInfo, **given: Any) -> Any:
        wrapped = info_class(_raw_info=info, _field=strawberry_field)
        return function(source, **arguments_of(wrapped, given))

    return _not_default(resolve)


def _not_default(resolve: Callable[..., Any]) -> Callable[..., Any]:
    resolve._is_default = False  # type: ignore[attr-defined] # as Strawberry marks the resolvers of its fields
    return resolve
