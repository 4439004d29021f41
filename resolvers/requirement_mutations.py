"""The mutations that create, change, move, rank, transition and delete requirements."""

from typing import Any

import strawberry

from prism.domain import enums as domain
from prism.services.requirements import RequirementChanges, RequirementDraft
from prism.services.validation import UNSET as SERVICE_UNSET
from resolvers.ai import DUPLICATES_WARNED, duplicate_warnings
from resolvers.common import UserError, decode_id, user_errors_field
from resolvers.connections import payload
from resolvers.context import Context
from resolvers.enums import Priority, RequirementKind, RequirementStatus
from resolvers.list_bounds import max_items
from resolvers.permissions import CanWrite
from resolvers.requirement_filters import decode_ids
from resolvers.requirements import Requirement

__all__ = ["RequirementMutation"]

Info = strawberry.Info[Context, None]


@strawberry.input(description="A new requirement.")
class CreateRequirementInput:
    product_id: strawberry.ID = strawberry.field(description="The product it belongs to.")
    kind: RequirementKind = strawberry.field(description="Epic, feature, story, task or bug.")
    title: str = strawberry.field(description="One-line summary, 1-255 characters.")
    description: str = strawberry.field(default="", description="Markdown, at most 50,000 characters.")
    acceptance_criteria: str = strawberry.field(default="", description="Markdown, at most 20,000 characters.")
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="The requirement to nest under.")
    priority: Priority = strawberry.field(default=Priority.NONE, description="How urgent it is.")
    estimate: float | None = strawberry.field(default=None, description="Story points, 0-1000.")
    assignee_id: strawberry.ID | None = strawberry.field(default=None, description="A member to assign.")
    sprint_id: strawberry.ID | None = strawberry.field(default=None, description="A sprint of the same product.")
    release_id: strawberry.ID | None = strawberry.field(default=None, description="A release of the same product.")
    label_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Up to 20 labels.")


@strawberry.input(description="Changes to a requirement. Omitted fields stay as they are; null clears optional ones.")
class UpdateRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to change.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="New title, 1-255 characters.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="New description.")
    acceptance_criteria: str | None = strawberry.field(default=strawberry.UNSET, description="New criteria.")
    priority: Priority | None = strawberry.field(default=strawberry.UNSET, description="New priority.")
    kind: RequirementKind | None = strawberry.field(
        default=strawberry.UNSET,
        description="New kind; it must still fit under the parent and over the children (else INVALID_PARENT).",
    )
    estimate: float | None = strawberry.field(default=strawberry.UNSET, description="Points 0-1000; null clears.")
    assignee_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Null unassigns.")
    sprint_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Null: out of sprint.")
    release_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Null: no release.")
    label_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces all labels (up to 20); null or [] removes them."
    )


@strawberry.input(description="A requirement to delete; its children move up to its parent.")
class DeleteRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to delete.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")


@strawberry.input(description="A new place in the hierarchy.")
class MoveRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to move.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    parent_id: strawberry.ID | None = strawberry.field(description="The new parent; null makes it top-level.")


@strawberry.input(description="A new position in the product's ranking: give exactly one of afterId and beforeId.")
class RerankRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to move.")
    after_id: strawberry.ID | None = strawberry.field(default=None, description="Place it right after this one.")
    before_id: strawberry.ID | None = strawberry.field(default=None, description="Place it right before this one.")


@strawberry.input(description="A workflow step.")
class TransitionRequirementInput:
    id: strawberry.ID = strawberry.field(description="The requirement to move.")
    version: int = strawberry.field(description="The version you last saw; a newer one fails with CONFLICT.")
    status: RequirementStatus = strawberry.field(description="The status to move to; the workflow must allow it.")


@strawberry.type(description="The result of a requirement mutation.")
class RequirementPayload:
    requirement: Requirement | None = strawberry.field(description="The requirement after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()
    check_duplicates: strawberry.Private[bool] = False
    """Whether `warnings` looks for likely duplicates (a creation, or an update of the title, that succeeded)."""

    @strawberry.field(
        description=(
            "What the client may want to show though the change succeeded: LIKELY_DUPLICATE when createRequirement, "
            "or updateRequirement changing the title, finds a requirement of the same product that reads almost the "
            "same (docs/ai.md)."
        ),
        metadata=max_items(DUPLICATES_WARNED),
    )
    async def warnings(self, info: Info) -> list[UserError]:
        # Resolved after the mutation's use-case boundary has committed (resolvers/boundary.py): the duplicate check
        # (an embedding, a model call with a remote embedding model) holds no connection, no transaction and no
        # lock of the change, and runs only for a client that asks for the warnings.
        if not self.check_duplicates or self.requirement is None:
            return []
        return await duplicate_warnings(info, self.requirement)


@strawberry.type(description="The result of deleting a requirement.")
class DeleteRequirementPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted requirement.")
    user_errors: list[UserError] = user_errors_field()


def _optional_id(value: Any, type_name: str, field: str) -> Any:
    if value is strawberry.UNSET:
        return SERVICE_UNSET
    return None if value is None else decode_id(value, type_name, field)


def _unset(value: Any) -> Any:
    return SERVICE_UNSET if value is strawberry.UNSET else value


@strawberry.type
class RequirementMutation:
    @strawberry.mutation(
        description="Create a requirement at the bottom of its product's ranking.", permission_classes=[CanWrite]
    )
    async def create_requirement(self, info: Info, input: CreateRequirementInput) -> RequirementPayload:
        async def create() -> Any:
            draft = RequirementDraft(
                product_id=decode_id(input.product_id, "Product", "productId"),
                kind=domain.RequirementKind(input.kind.name),
                title=input.title,
                description=input.description,
                acceptance_criteria=input.acceptance_criteria,
                parent_id=_optional_id(input.parent_id, "Requirement", "parentId"),
                priority=domain.Priority(input.priority.name),
                estimate=input.estimate,
                assignee_id=_optional_id(input.assignee_id, "User", "assigneeId"),
                sprint_id=_optional_id(input.sprint_id, "Sprint", "sprintId"),
                release_id=_optional_id(input.release_id, "Release", "releaseId"),
                label_ids=decode_ids(input.label_ids, "Label", "labelIds"),
            )
            return await info.context.services.requirements.create(draft)

        result = await payload(RequirementPayload, create, requirement=Requirement.from_row)
        result.check_duplicates = result.requirement is not None
        return result

    @strawberry.mutation(description="Edit a requirement's fields.", permission_classes=[CanWrite])
    async def update_requirement(self, info: Info, input: UpdateRequirementInput) -> RequirementPayload:
        async def update() -> Any:
            priority = _unset(input.priority)
            kind = _unset(input.kind)
            changes = RequirementChanges(
                title=_unset(input.title),
                description=_unset(input.description),
                acceptance_criteria=_unset(input.acceptance_criteria),
                priority=priority.name if isinstance(priority, Priority) else priority,
                kind=kind.name if isinstance(kind, RequirementKind) else kind,
                estimate=_unset(input.estimate),
                assignee_id=_optional_id(input.assignee_id, "User", "assigneeId"),
                sprint_id=_optional_id(input.sprint_id, "Sprint", "sprintId"),
                release_id=_optional_id(input.release_id, "Release", "releaseId"),
                label_ids=(
                    SERVICE_UNSET
                    if input.label_ids is strawberry.UNSET
                    else decode_ids(input.label_ids, "Label", "labelIds")
                ),
            )
            return await info.context.services.requirements.update(
                decode_id(input.id, "Requirement"), input.version, changes
            )

        result = await payload(RequirementPayload, update, requirement=Requirement.from_row)
        result.check_duplicates = result.requirement is not None and input.title is not strawberry.UNSET
        return result

    @strawberry.mutation(
        description="Delete a requirement; its children move up to its parent.", permission_classes=[CanWrite]
    )
    async def delete_requirement(self, info: Info, input: DeleteRequirementInput) -> DeleteRequirementPayload:
        return await payload(
            DeleteRequirementPayload,
            lambda: info.context.services.requirements.delete(decode_id(input.id, "Requirement"), input.version),
            deleted_id=lambda _: input.id,
        )

    @strawberry.mutation(
        description="Move a requirement under another parent; cycles are refused.", permission_classes=[CanWrite]
    )
    async def move_requirement(self, info: Info, input: MoveRequirementInput) -> RequirementPayload:
        async def move() -> Any:
            parent = None if input.parent_id is None else decode_id(input.parent_id, "Requirement", "parentId")
            return await info.context.services.requirements.move(
                decode_id(input.id, "Requirement"), input.version, parent
            )

        return await payload(RequirementPayload, move, requirement=Requirement.from_row)

    @strawberry.mutation(
        description="Change a requirement's position in its product's ranking.", permission_classes=[CanWrite]
    )
    async def rerank_requirement(self, info: Info, input: RerankRequirementInput) -> RequirementPayload:
        async def rerank() -> Any:
            return await info.context.services.requirements.rerank(
                decode_id(input.id, "Requirement"),
                after_id=None if input.after_id is None else decode_id(input.after_id, "Requirement", "afterId"),
                before_id=None if input.before_id is None else decode_id(input.before_id, "Requirement", "beforeId"),
            )

        return await payload(RequirementPayload, rerank, requirement=Requirement.from_row)

    @strawberry.mutation(
        description="Move a requirement to another status; invalid transitions are refused.",
        permission_classes=[CanWrite],
    )
    async def transition_requirement(self, info: Info, input: TransitionRequirementInput) -> RequirementPayload:
        async def transition() -> Any:
            return await info.context.services.requirements.transition(
                decode_id(input.id, "Requirement"), input.version, domain.RequirementStatus(input.status.name)
            )

        return await payload(RequirementPayload, transition, requirement=Requirement.from_row)
