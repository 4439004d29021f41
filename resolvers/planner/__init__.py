"""The planned read executor: a query whose every field is plannable is compiled once into a plan and answered with
one batched statement per relation level, rows assembled straight into the answer's dicts; everything else runs on
the Strawberry resolvers, which stay the reference (docs/architecture.md, "The planned executor").

The executor (resolvers/execution.py) asks `Planner.plan` after parsing, validation and the cost limits have
passed; plans are compiled from the types' declarations (compile.py) and run against the request's loaders
(run.py). A request the plan cannot answer exactly as the resolvers would (an error to report, a list over its
maximum, work over the budget) is handed to the resolvers from the start.
"""

import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Hashable
from typing import Any

import asyncpg
from graphql import OperationDefinitionNode
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from prism.db.errors import loggable
from prism.kv import StoreUnavailableError
from resolvers.planner.compile import Compiler, NotPlannableError
from resolvers.planner.plans import FallbackError, RootPlan
from resolvers.planner.roots import ROOTS
from resolvers.planner.run import PlanRun

__all__ = ["FallbackError", "PlanRun", "Planner", "RootPlan"]

logger = logging.getLogger("prism.graphql")


def _in_the_database(error: BaseException) -> bool:
    """Whether a statement failed in the database or on its connection (not a bug of the planner's own)."""
    return isinstance(error, DBAPIError | asyncpg.PostgresError | asyncpg.InterfaceError | OSError)


class Planner:
    """Compiled plans (or the decision not to plan) for each operation and shape of its variables, at most `maxsize`.

    An operation is known by its parsed node, which the parser cache hands out again for the same text, and the
    values of its boolean variables (which `@skip`/`@include` may read); an entry goes with its document.
    """

    def __init__(self, maxsize: int = 512) -> None:
        self._maxsize = maxsize
        self._plans: OrderedDict[Hashable, tuple[weakref.ref[OperationDefinitionNode], RootPlan | None]] = OrderedDict()
        self.compilations = 0

    def answer(self, executor: Any) -> Awaitable[dict[str, Any] | None] | None:
        """The `data` of the executor's operation from its plan (awaitable; None inside when the resolvers must answer
        this request after all), or None when the operation is not planned."""
        plan = self.plan(executor.schema, executor.fragments, executor.variable_values, executor.operation)
        if plan is None:
            return None
        return self._run(plan, executor)

    async def _run(self, plan: RootPlan, executor: Any) -> dict[str, Any] | None:
        context = executor.context_value
        run = PlanRun(context, executor.variable_values, executor.schema._strawberry_schema)
        try:
            data = await run.root(plan)
        except FallbackError as reason:
            logger.debug("the resolvers answer this request of a planned operation: %s", reason)
            return None
        except (PoolTimeout, StoreUnavailableError):
            raise
        except Exception as failure:
            if _in_the_database(failure):
                # The transaction is aborted (or its connection lost): the resolvers would fail at once in it, at the
                # root, not where the read failed. They answer from a new transaction, as on their own path.
                logger.warning(
                    "a planned read failed in the database; the resolvers answer", exc_info=loggable(failure)
                )
                await context.uow.end_failed_read()
                return None
            # A bug of the planner must not cost the client its answer: the resolvers are the reference.
            logger.error("the planned executor failed; the resolvers answer instead", exc_info=loggable(failure))
            return None
        meter = executor.meter
        if meter.work + run.work > meter.budget:
            return None  # the resolvers stop it at the same point and answer QUERY_TOO_COMPLEX
        if len(run.errors) > 1:
            return None  # the resolvers report several errors in the order their fields fail
        meter.charge(run.work)
        for error, path in run.errors:
            executor.collected_errors.add(error, path)
        context.executor = "planned"
        return data

    def plan(
        self, schema: Any, fragments: Any, variable_values: Any, operation: OperationDefinitionNode
    ) -> RootPlan | None:
        """The plan of `operation` for these variables, or None when the resolvers answer it."""
        coerced = getattr(variable_values, "coerced", variable_values) or {}
        shape = tuple(sorted((name, value) for name, value in coerced.items() if isinstance(value, bool)))
        key = (id(operation), shape)
        entry = self._plans.get(key)
        if entry is not None and entry[0]() is operation:
            self._plans.move_to_end(key)
            return entry[1]
        try:
            plan: RootPlan | None = Compiler(schema, fragments, variable_values, operation, ROOTS).compile()
        except NotPlannableError:
            plan = None
        self.compilations += 1
        if len(self._plans) >= self._maxsize:
            self._plans.popitem(last=False)
        self._plans[key] = (weakref.ref(operation, lambda _: self._plans.pop(key, None)), plan)
        return plan
