"""Loaders of access control: members' teams, teams' members and the product roles a member holds."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiodataloader import DataLoader

from prism.db.access_tables import ProductMember
from prism.db.tables import Membership, Team, TeamMember
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork

__all__ = ["MembersByTeamLoader", "ProductOverrides", "ProductOverridesByUserLoader", "TeamsByUserLoader"]

Row = sa.Row[Any]
"""A row of a Core select: columns by attribute, as SQLAlchemy returns them."""


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


class TeamsByUserLoader(DataLoader[UUID, list[Row]]):
    """The teams each member belongs to, by name."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, user_ids: Sequence[UUID]) -> list[list[Row]]:
        link, team = _table(TeamMember), _table(Team)
        statement = (
            tenant_select(link, self._organization_id, link.c.user_id.label("_user_id"), *team.c)
            .join(team, team.c.id == link.c.team_id)
            .where(link.c.user_id.in_(user_ids))
            .order_by(team.c.name)
        )
        grouped: dict[UUID, list[Row]] = defaultdict(list)
        for row in await self._reader.all(statement):
            grouped[row._user_id].append(row)
        return [grouped.get(i, []) for i in user_ids]


class MembersByTeamLoader(DataLoader[UUID, list[Row]]):
    """The memberships of each team's members, in the order they joined the team."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, team_ids: Sequence[UUID]) -> list[list[Row]]:
        link, membership = _table(TeamMember), _table(Membership)
        statement = (
            tenant_select(link, self._organization_id, link.c.team_id.label("_team_id"), *membership.c)
            .join(
                membership,
                sa.and_(membership.c.user_id == link.c.user_id, membership.c.organization_id == link.c.organization_id),
            )
            .where(link.c.team_id.in_(team_ids))
            .order_by(link.c.created_at, link.c.user_id)
        )
        grouped: dict[UUID, list[Row]] = defaultdict(list)
        for row in await self._reader.all(statement):
            grouped[row._team_id].append(row)
        return [grouped.get(i, []) for i in team_ids]


@dataclass(frozen=True)
class ProductOverrides:
    """A member's product-level roles: their own by product, and their teams' by product."""

    own: dict[UUID, str] = field(default_factory=dict)
    teams: dict[UUID, list[str]] = field(default_factory=dict)


class ProductOverridesByUserLoader(DataLoader[UUID, ProductOverrides]):
    """Every product-level role that applies to a member, directly or through a team (one statement)."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        super().__init__()
        self._reader = reader
        self._organization_id = organization_id

    async def batch_load_fn(self, user_ids: Sequence[UUID]) -> list[ProductOverrides]:
        pm, tm = _table(ProductMember), _table(TeamMember)
        subject = sa.func.coalesce(pm.c.user_id, tm.c.user_id).label("_user_id")
        statement = (
            tenant_select(pm, self._organization_id, subject, pm.c.product_id, pm.c.role, pm.c.team_id)
            .outerjoin(tm, sa.and_(tm.c.team_id == pm.c.team_id, tm.c.organization_id == pm.c.organization_id))
            .where(sa.or_(pm.c.user_id.in_(user_ids), tm.c.user_id.in_(user_ids)))
        )
        found: dict[UUID, ProductOverrides] = defaultdict(ProductOverrides)
        for row in await self._reader.all(statement):
            overrides = found[row._user_id]
            if row.team_id is None:
                overrides.own[row.product_id] = row.role
            else:
                overrides.teams.setdefault(row.product_id, []).append(row.role)
        return [found.get(i, ProductOverrides()) for i in user_ids]
