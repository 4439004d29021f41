"""Sprints and releases: the types (their mutations live beside them as they grow)."""

from datetime import date, datetime
from typing import Any, Self

import strawberry
from strawberry import relay

from resolvers.enums import ReleaseState, SprintState
from resolvers.node import LoadedNode

__all__ = ["PlanningMutation", "PlanningQuery", "Release", "Sprint"]


@strawberry.type(description="A time-box of work in one product.")
class Sprint(LoadedNode):
    loader = "sprint_by_id"

    id: relay.NodeID[str]
    name: str = strawberry.field(description='Display name, like "Sprint 14".')
    goal: str = strawberry.field(description="What the sprint should achieve.")
    starts_on: date | None = strawberry.field(description="First day.")
    ends_on: date | None = strawberry.field(description="Last day.")
    state: SprintState = strawberry.field(description="PLANNED, ACTIVE or CLOSED.")
    capacity: float | None = strawberry.field(description="Points the team expects to finish.")
    started_at: datetime | None = strawberry.field(description="When it was started.")
    closed_at: datetime | None = strawberry.field(description="When it was closed.")
    created_at: datetime = strawberry.field(description="When it was created.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            name=row.name,
            goal=row.goal,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            state=SprintState(row.state),
            capacity=row.capacity,
            started_at=row.started_at,
            closed_at=row.closed_at,
            created_at=row.created_at,
            version=row.version,
            product_id=row.product_id,
        )


@strawberry.type(description="A planned shipment of a product.")
class Release(LoadedNode):
    loader = "release_by_id"

    id: relay.NodeID[str]
    name: str = strawberry.field(description='Display name, like "2.0".')
    description: str = strawberry.field(description="Release notes or scope, in markdown.")
    target_date: date | None = strawberry.field(description="When it should ship.")
    state: ReleaseState = strawberry.field(description="Where the release is in its life cycle.")
    released_at: datetime | None = strawberry.field(description="When it shipped.")
    created_at: datetime = strawberry.field(description="When it was created.")
    version: int = strawberry.field(description="Increases with every edit; send it back to update.")
    product_id: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=str(row.id),
            name=row.name,
            description=row.description,
            target_date=row.target_date,
            state=ReleaseState(row.state),
            released_at=row.released_at,
            created_at=row.created_at,
            version=row.version,
            product_id=row.product_id,
        )


@strawberry.type
class PlanningQuery:
    pass


@strawberry.type
class PlanningMutation:
    pass
