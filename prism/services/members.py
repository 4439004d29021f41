"""Members of an organization: adding one, role changes, removal and product-level roles.

An organization always keeps at least one OWNER. The check that another owner remains runs under a per-organization
advisory lock, so two concurrent demotions (or removals) of the last two owners cannot both pass.
"""

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.rbac import ROLE_RANK, Permission, Viewer, require
from prism.db.access_tables import ProductMember
from prism.db.base import utcnow
from prism.db.tables import Membership, Product, Team, TeamMember
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import Role
from prism.errors import Code, ForbiddenError, NotFoundError, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.validation import get_owned

__all__ = ["MemberService", "check_grantable", "check_product_role_target"]


def check_grantable(viewer: Viewer, role: Role, field: str = "role") -> None:
    """Refuse a role the viewer may not hand out or take away: only an OWNER manages OWNERs."""
    if ROLE_RANK[role] > ROLE_RANK[viewer.role]:
        raise ForbiddenError(f"Your role ({viewer.role.value}) cannot grant or revoke the {role.value} role.")


def check_product_role_target(viewer: Viewer, target: Role) -> None:
    """Refuse to set or remove a product role of a member whose organization role is above the viewer's.

    Roles below cannot restrict roles above: an ADMIN cannot touch an OWNER's product roles (and
    `prism.auth.rbac.effective_role` ignores overrides on OWNERs anyway, whoever set them).
    """
    if ROLE_RANK[target] > ROLE_RANK[viewer.role]:
        raise ForbiddenError(
            f"Your role ({viewer.role.value}) cannot set or remove the product roles of an organization {target.value}."
        )


async def lock_owners(session: AsyncSession, organization_id: UUID) -> int:
    """Take the organization's owner lock (until the transaction ends) and count its owners."""
    lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"prism.owners:{organization_id}", 0))
    await session.exec(select(lock))  # unscoped: an advisory lock, reads no table
    count = (
        await session.exec(
            tenant_select(Membership, organization_id, sa.func.count()).where(Membership.role == Role.OWNER)
        )
    ).one()
    return int(count)


class MemberService:
    """Changes to who belongs to an organization, with which role, and with which role on each product."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def _membership(self, session: AsyncSession, user_id: UUID) -> Membership:
        membership = (
            await session.exec(
                tenant_select(Membership, self._org).where(Membership.user_id == user_id).with_for_update()
            )
        ).first()
        if membership is None:
            raise NotFoundError("No member with this id.", field="userId")
        return membership

    async def add(self, user_id: UUID, role: Role) -> Membership:
        """Make an existing account a member with a role, at once (operators, through `prism members add`; people
        join through the API by accepting an invitation). An ADMIN cannot add an OWNER."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        check_grantable(self._viewer, role)
        already = ValidationError("This account is a member already.", field="userId", code=Code.ALREADY_EXISTS)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            existing = (
                await session.exec(
                    tenant_select(Membership, self._org, Membership.id).where(Membership.user_id == user_id)
                )
            ).first()
            if existing is not None:
                raise already
            membership = Membership(organization_id=self._org, user_id=user_id, role=role.value)
            session.add(membership)
            try:
                await session.flush()
            except IntegrityError as error:
                if "uq_membership_organization_id_user_id" not in str(error.orig):
                    raise
                raise already from None  # added concurrently, between the check and the insert
            record(
                session,
                organization_id=self._org,
                action="member.added",
                meta=self._meta,
                actor=self._viewer,
                target_type="user",
                target_id=user_id,
                details={"role": role.value},
            )
        return membership

    async def change_role(self, user_id: UUID, role: Role) -> Membership:
        """Give a member another role; an ADMIN cannot touch OWNERs, and the last OWNER keeps the role."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        check_grantable(self._viewer, role)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            owners = await lock_owners(session, self._org)
            membership = await self._membership(session, user_id)
            before = Role(membership.role)
            check_grantable(self._viewer, before)
            if before == role:
                return membership
            if before == Role.OWNER and owners <= 1:
                raise ValidationError(
                    "The organization must keep an owner: make someone else OWNER first.",
                    field="role",
                    code=Code.LAST_OWNER,
                )
            membership.role = role.value
            membership.updated_at = utcnow()
            session.add(membership)
            record(
                session,
                organization_id=self._org,
                action="member.role_changed",
                meta=self._meta,
                actor=self._viewer,
                target_type="user",
                target_id=user_id,
                details={"from": before.value, "to": role.value},
            )
        return membership

    async def remove(self, user_id: UUID) -> Membership:
        """Remove a member (their team places and product roles go too); the last OWNER cannot be removed."""
        require(self._viewer, Permission.MANAGE_MEMBERS)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            owners = await lock_owners(session, self._org)
            membership = await self._membership(session, user_id)
            role = Role(membership.role)
            check_grantable(self._viewer, role)
            if role == Role.OWNER and owners <= 1:
                raise ValidationError(
                    "The organization must keep an owner: make someone else OWNER first.",
                    field="userId",
                    code=Code.LAST_OWNER,
                )
            # Row by row, so each team and product role the member leaves gets its event.
            places = (
                await session.exec(tenant_select(TeamMember, self._org).where(col(TeamMember.user_id) == user_id))
            ).all()
            teams = (
                await session.exec(
                    tenant_select(Team, self._org)
                    .where(col(Team.id).in_([place.team_id for place in places]))
                    .with_for_update()
                )
            ).all()
            now = utcnow()
            for team in teams:
                team.updated_at = now  # a member leaving changes the team, as teams.remove_member says
            for place in places:
                await session.delete(place)
            roles = await session.exec(
                tenant_select(ProductMember, self._org).where(col(ProductMember.user_id) == user_id)
            )
            for role_row in roles.all():
                await session.delete(role_row)
            await session.delete(membership)
            record(
                session,
                organization_id=self._org,
                action="member.removed",
                meta=self._meta,
                actor=self._viewer,
                target_type="user",
                target_id=user_id,
                details={"role": role.value},
            )
        return membership

    async def set_product_role(
        self, product_id: UUID, role: Role, *, user_id: UUID | None = None, team_id: UUID | None = None
    ) -> ProductMember:
        """Give a member or a team a role on one product, replacing any they had there.

        A member's product role is set only by someone of at least their organization role, and never on an OWNER
        (an OWNER may do everything on every product). A team's product role binds its members except OWNERs.
        """
        require(self._viewer, Permission.MANAGE_MEMBERS)
        self._check_subject(user_id, team_id)
        check_grantable(self._viewer, role)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            await get_owned(session, Product, product_id, self._org, "productId")
            target = await self._check_subject_exists(session, user_id, team_id)
            if target is not None:
                check_product_role_target(self._viewer, target)
                if target == Role.OWNER:
                    raise ValidationError(
                        "An OWNER may do everything on every product; a product role would not change that.",
                        field="userId",
                    )
            if role == Role.OWNER:
                raise ValidationError(
                    "Ownership is organization-wide; a product role is ADMIN, MEMBER or VIEWER.", field="role"
                )
            existing = await self._product_member(session, product_id, user_id, team_id)
            before = existing.role if existing is not None else None
            entry = existing or ProductMember(
                organization_id=self._org, product_id=product_id, user_id=user_id, team_id=team_id, role=role.value
            )
            entry.role = role.value
            session.add(entry)
            await session.flush()
            record(
                session,
                organization_id=self._org,
                action="product_role.set",
                meta=self._meta,
                actor=self._viewer,
                target_type="product",
                target_id=product_id,
                details={
                    "user_id": str(user_id) if user_id else None,
                    "team_id": str(team_id) if team_id else None,
                    "from": before,
                    "to": role.value,
                },
            )
        return entry

    async def remove_product_role(
        self, product_id: UUID, *, user_id: UUID | None = None, team_id: UUID | None = None
    ) -> ProductMember:
        """Drop a member's or team's role on a product: the organization role applies there again.

        Only someone of at least the member's organization role may drop it (an OWNER's, left from before they
        became OWNER and ignored since, only another OWNER).
        """
        require(self._viewer, Permission.MANAGE_MEMBERS)
        self._check_subject(user_id, team_id)
        async with self._uow.session(self._org, self._viewer.user_id) as session:
            await get_owned(session, Product, product_id, self._org, "productId")
            if user_id is not None:
                check_product_role_target(self._viewer, Role((await self._membership(session, user_id)).role))
            existing = await self._product_member(session, product_id, user_id, team_id)
            if existing is None:
                raise NotFoundError("This member or team has no role on this product.", field="productId")
            check_grantable(self._viewer, Role(existing.role))
            await session.delete(existing)
            record(
                session,
                organization_id=self._org,
                action="product_role.removed",
                meta=self._meta,
                actor=self._viewer,
                target_type="product",
                target_id=product_id,
                details={
                    "user_id": str(user_id) if user_id else None,
                    "team_id": str(team_id) if team_id else None,
                    "role": existing.role,
                },
            )
        return existing

    @staticmethod
    def _check_subject(user_id: UUID | None, team_id: UUID | None) -> None:
        if (user_id is None) == (team_id is None):
            raise ValidationError("Give exactly one of userId and teamId.", field="userId")

    async def _check_subject_exists(
        self, session: AsyncSession, user_id: UUID | None, team_id: UUID | None
    ) -> Role | None:
        """Check that the member or team exists; the member's organization role (None for a team)."""
        if user_id is not None:
            return Role((await self._membership(session, user_id)).role)
        if team_id is not None:
            await get_owned(session, Team, team_id, self._org, "teamId")
        return None

    async def _product_member(
        self, session: AsyncSession, product_id: UUID, user_id: UUID | None, team_id: UUID | None
    ) -> ProductMember | None:
        subject = ProductMember.user_id == user_id if user_id is not None else ProductMember.team_id == team_id
        return (
            await session.exec(
                tenant_select(ProductMember, self._org)
                .where(ProductMember.product_id == product_id, subject)
                .with_for_update()
            )
        ).first()
