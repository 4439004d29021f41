"""The executor: graphql-core's, metering the work an operation really does and bounding every list it completes.

The cost model decides before execution whether an operation may run; this decides while it runs. Work is counted
where it is cheap to count, at object boundaries: completing an object adds the number of fields it resolves (the
keys of that object in the answer), so scalar fields get no hook of their own. An operation whose work passes the
budget stops: every object and list completed after that point fails instead, and the QueryCost extension answers
QUERY_TOO_COMPLEX. A list longer than its field's declared maximum (resolvers/list_bounds.py) is cut to that
maximum before its items are completed, and the cut is reported in the answer's `extensions.truncated`.
"""

from collections.abc import AsyncIterable, Awaitable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar, Protocol

from graphql import GraphQLError, GraphQLList, GraphQLObjectType, GraphQLOutputType, GraphQLResolveInfo, OperationType
from graphql.execution import ExecutionResult
from graphql.execution.collect_fields import DeferUsage, FieldDetailsList, GroupedFieldSet
from graphql.execution.incremental.incremental_executor import DeliveryGroupMap
from graphql.pyutils import AwaitableOrValue, Path, is_iterable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.list_bounds import list_maximum

__all__ = [
    "MeteredExecutor",
    "MeteredResult",
    "PlannedReads",
    "WorkMeter",
    "charge_work",
    "metered_executor",
    "subscription_executor",
]

OVER_BUDGET = "QUERY_TOO_COMPLEX"


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
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def build_response(self, data: dict[str, Any] | None) -> Any:
        response = super().build_response(data)
        return MeteredResult(response, self.meter) if isinstance(response, ExecutionResult) else response


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
