"""Teams: named groups of members, which product-level roles can be given to as a whole."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.rbac import Permission, Viewer, require
from prism.db.access_tables import ProductMember
from prism.db.base import utcnow
from prism.db.tables import Membership, Team, TeamMember
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, NotFoundError, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.dependents import delete_dependents
from prism.services.validation import UNSET, clean_text, get_for_update

__all__ = ["DESCRIPTION_MAX", "NAME_MAX", "TeamChanges", "TeamService"]

NAME_MAX = 120
DESCRIPTION_MAX = 2000


@dataclass(frozen=True)
class TeamChanges:
    """An edit of a team: fields left UNSET keep their value."""

    name: Any = UNSET
    description: Any = UNSET


class TeamService:
    """Writes to teams and their membership; OWNERs and ADMINs manage them."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def create(self, *, name: str, description: str = "") -> Team:
        """Create a team with a name unique in the organization."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        name = clean_text(name, "name", max_length=NAME_MAX)
        description = clean_text(description, "description", max_length=DESCRIPTION_MAX, required=False)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            await self._check_name_free(session, name, except_id=None)
            team = Team(organization_id=self._org, name=name, description=description)
            session.add(team)
            await self._flush_unique(session)
            record(
                session,
                organization_id=self._org,
                action="team.created",
                meta=self._meta,
                actor=self._viewer,
                target_type="team",
                target_id=team.id,
                details={"name": name},
            )
        return team

    async def update(self, team_id: UUID, changes: TeamChanges) -> Team:
        """Rename a team or change its description."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            team = await get_for_update(session, Team, team_id, self._org, "id")
            if changes.name is not UNSET:
                name = clean_text(changes.name or "", "name", max_length=NAME_MAX)
                await self._check_name_free(session, name, except_id=team.id)
                team.name = name
            if changes.description is not UNSET:
                team.description = clean_text(
                    changes.description or "", "description", max_length=DESCRIPTION_MAX, required=False
                )
            team.updated_at = utcnow()
            session.add(team)
            await self._flush_unique(session)
        return team

    async def delete(self, team_id: UUID) -> Team:
        """Delete a team; its places and product roles go with it (members stay in the organization)."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            team = await get_for_update(session, Team, team_id, self._org, "id")
            await delete_dependents(session, self._org, ProductMember, "team_id", team.id)
            await session.delete(team)
            record(
                session,
                organization_id=self._org,
                action="team.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="team",
                target_id=team.id,
                details={"name": team.name},
            )
        return team

    async def add_member(self, team_id: UUID, user_id: UUID) -> Team:
        """Put a member of the organization in a team (adding someone already there changes nothing)."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            team = await get_for_update(session, Team, team_id, self._org, "teamId")
            member = (
                await session.exec(
                    tenant_select(Membership, self._org, Membership.id).where(Membership.user_id == user_id)
                )
            ).first()
            if member is None:
                raise NotFoundError("No member with this id.", field="userId")
            existing = await session.get(TeamMember, (team.id, user_id))
            if existing is None:
                session.add(TeamMember(organization_id=self._org, team_id=team.id, user_id=user_id))
                team.updated_at = utcnow()
                record(
                    session,
                    organization_id=self._org,
                    action="team.member_added",
                    meta=self._meta,
                    actor=self._viewer,
                    target_type="team",
                    target_id=team.id,
                    details={"user_id": str(user_id)},
                )
        return team

    async def remove_member(self, team_id: UUID, user_id: UUID) -> Team:
        """Take a member out of a team."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            team = await get_for_update(session, Team, team_id, self._org, "teamId")
            existing = await session.get(TeamMember, (team.id, user_id))
            if existing is None or existing.organization_id != self._org:
                raise NotFoundError("This user is not in the team.", field="userId")
            await session.delete(existing)
            team.updated_at = utcnow()
            record(
                session,
                organization_id=self._org,
                action="team.member_removed",
                meta=self._meta,
                actor=self._viewer,
                target_type="team",
                target_id=team.id,
                details={"user_id": str(user_id)},
            )
        return team

    async def _check_name_free(self, session: AsyncSession, name: str, *, except_id: UUID | None) -> None:
        query = tenant_select(Team, self._org, Team.id).where(Team.name == name)
        if except_id is not None:
            query = query.where(Team.id != except_id)
        if (await session.exec(query)).first() is not None:
            raise ValidationError("A team with this name exists.", field="name", code=Code.ALREADY_EXISTS)

    @staticmethod
    async def _flush_unique(session: AsyncSession) -> None:
        try:
            await session.flush()
        except IntegrityError as error:
            # A concurrent request took the name between the check and the write.
            if "team_organization_id_name" not in str(error.orig):
                raise
            raise ValidationError("A team with this name exists.", field="name", code=Code.ALREADY_EXISTS) from None
