"""The root queries that read requirements: one by key or id, and every requirement of the organization."""

from typing import Annotated

import strawberry

from loaders.rows import RequirementByKeyLoader
from loaders.sources import REQUIREMENTS_BY_ORGANIZATION
from prism.errors import NotFoundError, ValidationError
from resolvers.common import decode_id
from resolvers.connections import connection_field
from resolvers.context import Context
from resolvers.permissions import CanRead
from resolvers.requirement_filters import REQUIREMENT_LIST, parse_key
from resolvers.requirements import Requirement

__all__ = ["RequirementQuery", "requirement_not_found"]

Info = strawberry.Info[Context, None]


def requirement_not_found(*, by_key: bool) -> NotFoundError:
    """What `requirement(key:|id:)` answers when no requirement of the viewer's organization matches (the planner
    too)."""
    return NotFoundError("No requirement with this key or id.", field="key" if by_key else "id")


@strawberry.type
class RequirementQuery:
    @strawberry.field(
        description="One requirement by key (PRISM-12) or id; NOT_FOUND when none of yours matches.",
        permission_classes=[CanRead],
    )
    async def requirement(
        self,
        info: Info,
        key: Annotated[str | None, strawberry.argument(description="Human key, like PRISM-12.")] = None,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="Global id.")] = None,
    ) -> Requirement | None:
        if (key is None) == (id is None):
            raise ValidationError("Pass exactly one of key and id.", field="key")
        if key is not None:
            row = await Requirement.rows_by(info, RequirementByKeyLoader).load(parse_key(key))
        else:
            assert id is not None
            row = await Requirement.rows(info).load(decode_id(id, "Requirement"))
        if row is None:
            raise requirement_not_found(by_key=key is not None)
        return Requirement.from_row(row)

    requirements = connection_field(
        Requirement,
        source=REQUIREMENTS_BY_ORGANIZATION,
        of_organization=True,
        arguments=REQUIREMENT_LIST,
        description="Requirements across the organization's products, filtered and sorted.",
        permission_classes=[CanRead],
    )
