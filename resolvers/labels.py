"""Labels: tags put on requirements."""

from datetime import datetime

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.rows import LabelByIdLoader
from loaders.sources import LABELS_BY_ORGANIZATION
from prism.db.tables import Label as LabelTable
from prism.services.labels import LabelChanges
from resolvers.common import (
    CREATED_AT_DESCRIPTION,
    UPDATED_AT_DESCRIPTION,
    TimeRange,
    UserError,
    decode_id,
    user_errors_field,
)
from resolvers.connections import connection_field, payload, time_ranges
from resolvers.context import Context
from resolvers.declarations import reads
from resolvers.node import LoadedNode
from resolvers.permissions import CanRead, CanWrite

__all__ = ["Label", "LabelFilter", "LabelMutation", "LabelQuery"]

Info = strawberry.Info[Context, None]


@reads(LabelTable)
@strawberry.type(description="A tag that can be put on requirements, unique by name in an organization.")
class Label(LoadedNode):
    loader = LabelByIdLoader

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Name, at most 64 characters.")
    color: str = strawberry.field(description="Display colour as #rrggbb.")
    description: str = strawberry.field(description="What the label means.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last renamed, recoloured or redescribed.")


@strawberry.input(description="Which labels to list; fields combine with AND.")
class LabelFilter:
    created_at: TimeRange | None = strawberry.field(default=None, description=CREATED_AT_DESCRIPTION)
    updated_at: TimeRange | None = strawberry.field(default=None, description=UPDATED_AT_DESCRIPTION)


@strawberry.type
class LabelQuery:
    labels = connection_field(
        Label,
        source=LABELS_BY_ORGANIZATION,
        of_organization=True,
        arguments=time_ranges(LabelFilter, Order("NAME")),
        description="The organization's labels, by name.",
        permission_classes=[CanRead],
    )


@strawberry.input(description="A new label.")
class CreateLabelInput:
    name: str = strawberry.field(
        description="Name, 1-64 characters, unique in the organization regardless of case (ALREADY_EXISTS otherwise)."
    )
    color: str | None = strawberry.field(
        default=None, description="Display colour as #rrggbb, like #3b82f6; grey (#6b7280) when omitted."
    )
    description: str = strawberry.field(default="", description="What the label means, at most 500 characters.")


@strawberry.input(description="Changes to a label; omitted fields stay as they are.")
class UpdateLabelInput:
    id: strawberry.ID = strawberry.field(description="The label to change.")
    name: str | None = strawberry.field(
        default=None, description="New name, 1-64 characters, unique in the organization regardless of case."
    )
    color: str | None = strawberry.field(default=None, description="New colour as #rrggbb.")
    description: str | None = strawberry.field(default=None, description="New description, at most 500 characters.")


@strawberry.input(description="A label to delete; it is taken off every requirement that carries it.")
class DeleteLabelInput:
    id: strawberry.ID = strawberry.field(description="The label to delete.")


@strawberry.type(description="The result of a label mutation.")
class LabelPayload:
    label: Label | None = strawberry.field(description="The label after the change; null on failure.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type(description="The result of deleting a label.")
class DeleteLabelPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The global id of the deleted label.")
    user_errors: list[UserError] = user_errors_field()


@strawberry.type
class LabelMutation:
    @strawberry.mutation(description="Create a label.", permission_classes=[CanWrite])
    async def create_label(self, info: Info, input: CreateLabelInput) -> LabelPayload:
        return await payload(
            LabelPayload,
            lambda: info.context.services.labels.create(
                name=input.name, color=input.color, description=input.description
            ),
            label=Label.from_row,
        )

    @strawberry.mutation(description="Rename, recolour or redescribe a label.", permission_classes=[CanWrite])
    async def update_label(self, info: Info, input: UpdateLabelInput) -> LabelPayload:
        return await payload(
            LabelPayload,
            lambda: info.context.services.labels.update(
                decode_id(input.id, "Label"),
                LabelChanges(name=input.name, color=input.color, description=input.description),
            ),
            label=Label.from_row,
        )

    @strawberry.mutation(description="Delete a label and take it off every requirement.", permission_classes=[CanWrite])
    async def delete_label(self, info: Info, input: DeleteLabelInput) -> DeleteLabelPayload:
        return await payload(
            DeleteLabelPayload,
            lambda: info.context.services.labels.delete(decode_id(input.id, "Label")),
            deleted_id=lambda _: input.id,
        )
