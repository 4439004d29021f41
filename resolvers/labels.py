"""Labels: tags put on requirements."""

from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry import relay

from resolvers.node import LoadedNode

__all__ = ["Label", "LabelMutation", "LabelQuery"]


@strawberry.type(description="A tag that can be put on requirements, unique by name in an organization.")
class Label(LoadedNode):
    loader = "label_by_id"

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Name, at most 64 characters.")
    color: str = strawberry.field(description="Display colour as #rrggbb.")
    description: str = strawberry.field(description="What the label means.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id), name=row.name, color=row.color, description=row.description, created_at=row.created_at
        )


@strawberry.type
class LabelQuery:
    pass


@strawberry.type
class LabelMutation:
    pass
