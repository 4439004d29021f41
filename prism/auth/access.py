"""Product-scoped access: a viewer's effective role on one product, read in one statement and checked by services.

The rule itself is `prism.auth.rbac.effective_role`; this module only fetches its inputs (the viewer's own override
on the product and their teams' overrides) inside the caller's transaction.
"""

from uuid import UUID

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.rbac import Permission, Viewer, effective_role, require
from prism.db.access_tables import ProductMember
from prism.db.tables import TeamMember
from prism.db.tenancy import tenant_select
from prism.domain.enums import Role

__all__ = ["product_role", "require_on_product"]

_PRODUCT_MEMBER: sa.Table = ProductMember.__table__  # type: ignore[attr-defined]
_TEAM_MEMBER: sa.Table = TeamMember.__table__  # type: ignore[attr-defined]


async def product_role(session: AsyncSession, viewer: Viewer, product_id: UUID) -> Role:
    """The viewer's effective role on a product (one statement: their override and their teams')."""
    pm = _PRODUCT_MEMBER
    tm = _TEAM_MEMBER
    own = (
        tenant_select(pm, viewer.organization_id, pm.c.role)
        .where(pm.c.product_id == product_id, pm.c.user_id == viewer.user_id)
        .scalar_subquery()
    )
    teams = (
        tenant_select(pm, viewer.organization_id, sa.func.array_agg(pm.c.role))
        .join(tm, sa.and_(tm.c.team_id == pm.c.team_id, tm.c.organization_id == pm.c.organization_id))
        .where(pm.c.product_id == product_id, tm.c.user_id == viewer.user_id)
        .scalar_subquery()
    )
    connection = await session.connection()
    statement = sa.select(own.label("own"), teams.label("teams"))  # unscoped: reads only the two scoped subqueries
    found = (await connection.execute(statement)).one()
    return effective_role(
        viewer.role, Role(found.own) if found.own else None, [Role(role) for role in found.teams or ()]
    )


async def require_on_product(
    session: AsyncSession, viewer: Viewer, product_id: UUID, permission: Permission = Permission.WRITE
) -> None:
    """Raise ForbiddenError unless the viewer's effective role on the product grants `permission`."""
    require(viewer, permission, role=await product_role(session, viewer, product_id))
