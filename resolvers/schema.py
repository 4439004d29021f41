"""Builds the one strawberry.Schema from every area's root types and the schema extensions."""

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any
from uuid import UUID

import strawberry
from graphql import GraphQLError, get_named_type
from strawberry import relay
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaxTokensLimiter
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult

from prism.errors import NotFoundError, ValidationError
from prism.web.graphql_http import MAX_QUERY_TOKENS
from resolvers.accounts import AccountsMutation, AccountsQuery
from resolvers.ai import AiQuery
from resolvers.ai_analysis import AiAnalysisQuery
from resolvers.ai_prd import AiPrdMutation
from resolvers.ai_priorities import AiPriorityQuery
from resolvers.ai_prompts import AiPromptMutation, AiPromptQuery
from resolvers.ai_sprint_plans import AiSprintPlanMutation, AiSprintPlanQuery
from resolvers.ai_stories import AiStoriesMutation, AiStoriesQuery
from resolvers.api_keys import ApiKeysMutation, ApiKeysQuery
from resolvers.attachments import AttachmentsMutation
from resolvers.audit import AuditMutation, AuditQuery
from resolvers.boundary import add_use_case_boundaries
from resolvers.comments import CommentsMutation, CommentsQuery
from resolvers.context import Context, release_event_connection
from resolvers.deleted_requirements import DeletedRequirementsQuery
from resolvers.delivery import Deliverer
from resolvers.document_caches import BoundedParserCache, BoundedValidationCache
from resolvers.documents import DocumentsMutation, DocumentsQuery
from resolvers.errors import ErrorCodes, coded_errors
from resolvers.execution import metered_executor, resolve_directly
from resolvers.fanout import Renderings
from resolvers.features import FeaturesMutation
from resolvers.identity import IdentityMutation, IdentityQuery
from resolvers.invitations import InvitationsMutation, InvitationsQuery
from resolvers.jobs import JobsMutation, JobsQuery
from resolvers.known_queries import KnownQueries
from resolvers.labels import LabelMutation, LabelQuery
from resolvers.limits import QueryLimits, limit_extensions
from resolvers.list_bounds import max_items
from resolvers.members import MembersMutation, MembersQuery
from resolvers.node import MAX_NODES, NODE_TYPES
from resolvers.permissions import CanRead
from resolvers.planner import Planner
from resolvers.presence import PresenceQuery
from resolvers.product_roles import ProductRolesMutation, ProductRolesQuery
from resolvers.products import ProductMutation, ProductQuery
from resolvers.releases import ReleasesMutation, ReleasesQuery
from resolvers.reports import ReportsMutation, ReportsQuery
from resolvers.request_checks import OPERATION_RESOLUTION_FAILURE, RequestChecks
from resolvers.requirement_mutations import RequirementMutation
from resolvers.requirement_queries import RequirementQuery
from resolvers.roadmaps import RoadmapsMutation, RoadmapsQuery
from resolvers.sprints import SprintsMutation, SprintsQuery
from resolvers.subscriptions import Subscription
from resolvers.teams import TeamsMutation, TeamsQuery
from resolvers.usage import UsageMutation

__all__ = ["build_schema"]

Info = strawberry.Info[Context, None]


async def _resolve_nodes(info: Info, ids: list[relay.GlobalID]) -> list[Any]:
    by_type: dict[str, list[str]] = {}
    for gid in ids:
        by_type.setdefault(gid.type_name, []).append(gid.node_id)
    found: dict[tuple[str, str], Any] = {}
    for type_name, node_ids in by_type.items():
        node_type = NODE_TYPES.get(type_name)
        if node_type is None:
            continue
        for node_id, node in zip(node_ids, await node_type.resolve_nodes(info=info, node_ids=node_ids), strict=True):
            found[(type_name, node_id)] = node
    return [found.get((gid.type_name, gid.node_id)) for gid in ids]


@strawberry.type(description="Where every read starts.")
class Query(
    IdentityQuery,
    ProductQuery,
    RequirementQuery,
    DeletedRequirementsQuery,
    SprintsQuery,
    ReleasesQuery,
    RoadmapsQuery,
    DocumentsQuery,
    CommentsQuery,
    LabelQuery,
    AccountsQuery,
    ApiKeysQuery,
    MembersQuery,
    TeamsQuery,
    InvitationsQuery,
    ProductRolesQuery,
    AuditQuery,
    JobsQuery,
    PresenceQuery,
    AiQuery,
    AiPriorityQuery,
    AiPromptQuery,
    AiStoriesQuery,
    AiAnalysisQuery,
    AiSprintPlanQuery,
    ReportsQuery,
):
    @strawberry.field(
        description="Any object by its global id; NOT_FOUND when it does not exist or is not yours.",
        permission_classes=[CanRead],
    )
    async def node(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="A global id from any `id` field.")],
    ) -> relay.Node | None:
        try:
            UUID(id.node_id)
        except ValueError:
            raise ValidationError("id is not a valid ID.", field="id") from None
        (node,) = await _resolve_nodes(info, [id])
        if node is None:
            raise NotFoundError("Nothing with this id.", field="id")
        return node  # type: ignore[no-any-return]

    @strawberry.field(
        description="Several objects by global id, in order; null for each one not found (max 100).",
        permission_classes=[CanRead],
        metadata=max_items(MAX_NODES),
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[relay.GlobalID], strawberry.argument(description="Global ids from `id` fields.")],
    ) -> list[relay.Node | None]:
        if len(ids) > MAX_NODES:
            raise ValidationError(f"nodes takes at most {MAX_NODES} ids.", field="ids")
        return await _resolve_nodes(info, ids)


@strawberry.type(description="Every change goes through a mutation; each one is a single transaction.")
class Mutation(
    IdentityMutation,
    ProductMutation,
    RequirementMutation,
    SprintsMutation,
    ReleasesMutation,
    RoadmapsMutation,
    DocumentsMutation,
    CommentsMutation,
    AttachmentsMutation,
    LabelMutation,
    AccountsMutation,
    ApiKeysMutation,
    MembersMutation,
    InvitationsMutation,
    TeamsMutation,
    ProductRolesMutation,
    AuditMutation,
    JobsMutation,
    AiPromptMutation,
    AiStoriesMutation,
    AiSprintPlanMutation,
    AiPrdMutation,
    ReportsMutation,
    FeaturesMutation,
    UsageMutation,
):
    pass


class PrismSchema(strawberry.Schema):
    """The schema; errors are logged by the ErrorCodes extension, which knows which ones are bugs."""

    renderings: Renderings
    deliverer: Deliverer
    known_queries: KnownQueries | None = None

    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        return None

    async def execute(  # type: ignore[override]
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Any = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        known = self.known_queries
        if known is not None and root_value is None and allowed_operation_types is None:
            # A query text already parsed and validated without error: answered without repeating that work.
            document = known.document(query, operation_name)
            if document is not None:
                assert query is not None
                answer = await known.execute(
                    document, query, variable_values, context_value, operation_name, operation_extensions
                )
                if answer is not None:
                    if answer.errors:
                        answer.errors = coded_errors(answer.errors, getattr(context_value, "request_id", None))
                    return answer
        try:
            result = await super().execute(
                query,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_name=operation_name,
                allowed_operation_types=allowed_operation_types,
                operation_extensions=operation_extensions,
            )
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            # Strawberry raises these past its extensions (RequestChecks answers the same cases first): a request
            # error, never an HTTP 500.
            message = "The request does not name an operation this endpoint can run."
            return ExecutionResult(
                data=None, errors=[GraphQLError(message, extensions={"code": OPERATION_RESOLUTION_FAILURE})]
            )
        # Some failures end the operation before extensions see its result (a syntax error raised by the parser
        # cache, an exception in an extension): give those their codes too.
        if result.errors:
            result.errors = coded_errors(result.errors, getattr(context_value, "request_id", None))
        elif known is not None and root_value is None and allowed_operation_types is None:
            known.learn(query, operation_name, result)
        return result

    async def stream(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Subscriptions: each result's errors get their codes, as `execute` gives them to queries."""
        source = await super().stream(*args, **kwargs)
        request_id = getattr(kwargs.get("context_value"), "request_id", None)

        async def coded() -> AsyncIterator[Any]:
            async with aclosing(source):
                async for result in source:
                    errors = getattr(result, "errors", None)
                    if errors:
                        result.errors = coded_errors(errors, request_id)  # type: ignore[union-attr]
                    await release_event_connection()
                    yield result

        return coded()


def _no_arguments(arguments: dict[str, Any], info: Any) -> dict[str, Any]:
    # Arguments carry passwords and tokens (signUp, logIn): traces record which field ran, never its input.
    return {}


def build_schema(
    tracing: bool = False, caches: bool = True, limits: QueryLimits | None = None, planner: bool = False
) -> strawberry.Schema:
    """The PRISM schema with its extensions (parse and validation caches, token and query limits, error codes).

    With `tracing`, every operation and resolver becomes an OpenTelemetry span (arguments are not recorded).
    `caches=False` parses and validates every request again (for `PRISM_PERF_BASELINE` benchmarks only).
    `limits`: depth, aliases, cost, introspection and suggestions (resolvers/limits.py); the defaults when not given.
    `planner`: answer the queries the planned executor can plan with it (resolvers/planner).
    """
    limits = limits or QueryLimits()
    caching: list[Any] = (
        [lambda: BoundedParserCache(maxsize=512), lambda: BoundedValidationCache(maxsize=512)] if caches else []
    )
    extensions: list[Any] = []
    if tracing:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        extensions.append(lambda: OpenTelemetryExtension(arg_filter=_no_arguments))
    add_use_case_boundaries(Mutation)
    schema = PrismSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=list(NODE_TYPES.values()),
        extensions=[
            *caching,
            RequestChecks,
            lambda: MaxTokensLimiter(max_token_count=MAX_QUERY_TOKENS),  # the endpoint's operation-type read's too
            *limit_extensions(limits),
            ErrorCodes,
            *extensions,
        ],
        execution_context_class=metered_executor(limits.max_cost, Planner() if planner else None),
    )
    _describe_mutation_inputs(schema)
    # Plain resolvers (no arguments, extensions or permissions) are called without Strawberry's wrapper.
    resolve_directly(schema)
    if caches and not tracing:
        schema.known_queries = KnownQueries(schema)
    # Subscriptions over WebSocket share each event's rendering among the subscribers that see the same answer.
    schema.renderings = Renderings()
    # ... and deliver them from one task of the process, each subscription a registration, not a task of its own.
    schema.deliverer = Deliverer(schema.renderings)
    return schema


def _describe_mutation_inputs(schema: strawberry.Schema) -> None:
    """Describe each mutation's `input` argument by its input type, unless the resolver describes it itself."""
    mutation = schema._schema.mutation_type
    for field in mutation.fields.values() if mutation else ():
        argument = field.args.get("input")
        if argument is not None and not argument.description:
            argument.description = get_named_type(argument.type).description


def schema_sdl(schema: strawberry.Schema) -> str:
    """The schema as SDL, ending with a newline, exactly as committed in schema.graphql."""
    return schema.as_str().rstrip("\n") + "\n"
