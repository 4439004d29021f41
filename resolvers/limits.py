"""Query limits that need the schema: depth and aliases, the cost of an operation, introspection, suggestions.

Depth and aliases are validation rules (resolvers/document_limits.py), so the validation cache checks them once
per document. The cost of an operation (resolvers/cost.py) is compiled once per document and evaluated with each
request's variables before anything runs: above the maximum it is refused (QUERY_TOO_COMPLEX). One that fits is
charged to its caller's budget per minute: it may start when the budget left covers that bound (else
RATE_LIMITED), and the budget is then charged what it actually resolved (one per field in the answer, counted by
the executor while it ran: resolvers/execution.py), as Shopify does. An operation whose actual work passes the
maximum is stopped by the executor and answered QUERY_TOO_COMPLEX like one refused beforehand. A request with
`extensions: {"cost": true}` gets `extensions.cost` {requested, actual, maximum, limit, remaining}; refusals
always carry the figures in the error.
"""

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, SchemaExtension

from prism.ratelimit import RateLimiter, identity_of
from resolvers.cost import COST_CEILING, CostPlans, TooDeeplyNestedError
from resolvers.document_limits import document_limits_rule
from resolvers.execution import OVER_BUDGET, WorkMeter
from resolvers.request_checks import NoNulCharactersRule

__all__ = ["HideSuggestions", "QueryCost", "QueryLimits", "limit_extensions", "without_suggestions"]

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


class QueryCost(SchemaExtension):
    """Refuses operations above `max_cost` before they run and charges the rest to the caller's budget."""

    def __init__(self, *, max_cost: int, plans: CostPlans, limiter: RateLimiter | None = None) -> None:
        self._max_cost = max_cost
        self._plans = plans
        self._limiter = limiter
        self._report: dict[str, Any] | None = None
        self._truncated: list[dict[str, Any]] = []

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = _operation(document, context.operation_name) if document is not None else None
        if document is None or operation is None:
            yield
            return
        try:
            cost = self._plans.cost(context.schema._schema, document, operation, context.variables)
        except TooDeeplyNestedError:
            context.result = _refused("The document nests selections or fragments too deeply.", _TOO_COMPLEX)
            yield
            return
        report: dict[str, Any] = {"requested": cost, "maximum": self._max_cost}
        self._report = report
        if cost > self._max_cost:
            amount = f"more than {COST_CEILING - 1}" if cost >= COST_CEILING else str(cost)
            context.result = _refused(
                f"The operation may cost {amount}; at most {self._max_cost} is allowed. Ask for smaller pages "
                "(`first`/`last`) or fewer nested connections.",
                {**_TOO_COMPLEX, "cost": cost, "maximum": self._max_cost},
            )
            yield
            return
        limiter, identity, budget = self._limiter, "", None
        if limiter is not None:
            viewer = getattr(context.context, "viewer", None)
            meta = getattr(context.context, "meta", None)
            identity = identity_of(viewer, getattr(meta, "ip", None))
            budget = await limiter.budget(identity)
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
        meter: WorkMeter | None = getattr(context.result, "meter", None)
        if meter is None:
            return
        self._truncated = meter.truncated[:_TRUNCATIONS_REPORTED]
        if meter.exceeded:
            _stop(context.result, meter, operation)
        report["actual"] = meter.work
        if limiter is not None:
            # The budget pays for what was resolved (the bound above only decides whether the operation may start).
            after = await limiter.charge(identity, max(1, meter.work), left=budget)
            report["remaining"] = after.remaining

    def get_results(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        # Lists cut to their maximum are always reported: the answer holds fewer items than exist.
        if self._truncated:
            results["truncated"] = self._truncated
        # Reported to clients that ask (`extensions: {"cost": true}` in the request), so answers stay as they were.
        asked = (self.execution_context.operation_extensions or {}).get("cost") is True
        if asked and self._report is not None:
            results["cost"] = self._report
        return results


_TOO_COMPLEX = {"code": OVER_BUDGET}
_TRUNCATIONS_REPORTED = 20


def _stop(result: Any, meter: WorkMeter, operation: OperationDefinitionNode) -> None:
    """Answer an operation the executor stopped with one QUERY_TOO_COMPLEX error instead of its partial answer.

    A mutation has already written what it wrote, so its answer is kept, with the one error for what was cut off.
    The result is changed in place: Strawberry returns the object it holds, not `execution_context.result`.
    """
    kept = [e for e in result.errors or () if (e.extensions or {}).get("code") != OVER_BUDGET]
    if operation.operation is not OperationType.MUTATION:
        result.data, kept = None, []
    result.errors = [*kept, meter.refuse()]


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
    """The limits a schema enforces besides tokens; `limiter` charges costs to per-minute budgets."""

    max_depth: int = 12
    max_aliases: int = 30
    max_cost: int = 1_000_000
    limiter: RateLimiter | None = None
    introspection: bool = True
    suggestions: bool = True


def limit_extensions(limits: QueryLimits) -> list[Any]:
    """The schema extensions (as factories) that enforce `limits`.

    Validation rules are built once here: the validation cache is keyed by rule classes, so a class made per request
    would never hit it. The compiled costs are shared by every request for the same reason.
    """
    rules: list[type[ASTValidationRule]] = [
        document_limits_rule(limits.max_depth, limits.max_aliases),
        NoNulCharactersRule,
    ]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    plans = CostPlans()
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: QueryCost(max_cost=limits.max_cost, plans=plans, limiter=limits.limiter),
    ]
    if not limits.suggestions:
        extensions.insert(0, HideSuggestions)
    return extensions
