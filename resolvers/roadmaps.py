"""Roadmaps: types, queries and mutations."""

import strawberry

__all__ = ["RoadmapsMutation", "RoadmapsQuery"]


@strawberry.type
class RoadmapsQuery:
    pass


@strawberry.type
class RoadmapsMutation:
    pass
