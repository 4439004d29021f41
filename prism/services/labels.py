"""Labels: create, rename, recolour and delete the tags put on requirements.

Label names are unique in an organization without regard to case, so "Bug" and "bug" cannot both exist.
"""

import re
from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.rbac import Permission, Viewer, require
from prism.db.base import utcnow
from prism.db.tables import Label, Requirement, RequirementEvent, RequirementLabel
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.enums import RequirementEventKind
from prism.errors import Code, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.validation import clean_text, get_for_update

__all__ = ["DEFAULT_COLOR", "DESCRIPTION_MAX", "NAME_MAX", "LabelChanges", "LabelService", "clean_color"]

NAME_MAX = 64
DESCRIPTION_MAX = 500
DEFAULT_COLOR = "#6b7280"
_COLOR = re.compile(r"^#[0-9a-f]{6}$")


@dataclass(frozen=True)
class LabelChanges:
    """The fields an update may set; None leaves a field as it is."""

    name: str | None = None
    color: str | None = None
    description: str | None = None


def clean_color(color: str) -> str:
    """A display colour as lower-case `#rrggbb`."""
    cleaned = color.strip().lower()
    if not _COLOR.match(cleaned):
        raise ValidationError("color must look like #rrggbb (for example #3b82f6).", field="color")
    return cleaned


class LabelService:
    """Writes to labels."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def create(self, *, name: str, color: str | None = None, description: str = "") -> Label:
        """Create a label whose name no other label of the organization has, in any case."""
        require(self._viewer, Permission.WRITE)
        label = Label(
            organization_id=self._org,
            name=clean_text(name, "name", max_length=NAME_MAX),
            color=clean_color(color) if color is not None else DEFAULT_COLOR,
            description=clean_text(description, "description", max_length=DESCRIPTION_MAX, required=False),
        )
        async with self._uow.session(self._org) as session:
            await self._check_name_free(session, label.name, except_id=None)
            session.add(label)
        return label

    async def update(self, label_id: UUID, changes: LabelChanges) -> Label:
        """Rename, recolour or redescribe a label."""
        require(self._viewer, Permission.WRITE)
        name = clean_text(changes.name, "name", max_length=NAME_MAX) if changes.name is not None else None
        color = clean_color(changes.color) if changes.color is not None else None
        description = (
            clean_text(changes.description, "description", max_length=DESCRIPTION_MAX, required=False)
            if changes.description is not None
            else None
        )
        async with self._uow.session(self._org) as session:
            label = await get_for_update(session, Label, label_id, self._org, "id")
            if name is not None and name != label.name:
                await self._check_name_free(session, name, except_id=label.id)
                label.name = name
            if color is not None:
                label.color = color
            if description is not None:
                label.description = description
            label.updated_at = utcnow()
            session.add(label)
        return label

    async def delete(self, label_id: UUID) -> Label:
        """Delete a label and take it off every requirement that carries it."""
        require(self._viewer, Permission.WRITE)
        async with self._uow.session(self._org) as session:
            label = await get_for_update(session, Label, label_id, self._org, "id")
            # One by one, so each requirement that carried the label gets its event (labels removed), its history
            # entry, and a new version and updatedAt (a client syncing by updatedAt must see the change).
            links = (
                await session.exec(
                    tenant_select(RequirementLabel, self._org).where(col(RequirementLabel.label_id) == label.id)
                )
            ).all()
            carriers = (
                await session.exec(
                    tenant_select(Requirement, self._org)
                    .where(col(Requirement.id).in_([link.requirement_id for link in links]))
                    .with_for_update()
                )
            ).all()
            now = utcnow()
            for requirement in carriers:
                requirement.version += 1
                requirement.updated_at = now
                session.add(
                    RequirementEvent(
                        organization_id=self._org,
                        requirement_id=requirement.id,
                        actor_id=self._viewer.user_id,
                        kind=RequirementEventKind.LABEL_REMOVED.value,
                        from_value=str(label.id),
                        to_value=None,
                        created_at=now,
                    )
                )
            for link in links:
                await session.delete(link)
            await session.flush()  # the links first: the label's own delete would cascade them away unseen
            record(
                session,
                organization_id=self._org,
                action="label.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Label",
                target_id=label.id,
                details={"name": label.name},
            )
            await session.delete(label)
        return label

    async def _check_name_free(self, session: AsyncSession, name: str, *, except_id: UUID | None) -> None:
        # The unique constraint is case-sensitive; this lock serialises name checks of one organization so two
        # requests cannot both find "Bug" and "bug" free.
        lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"label-names:{self._org}", 0))
        await session.exec(select(lock))  # unscoped: an advisory lock, reads no table
        query = tenant_select(Label, self._org, Label.id).where(sa.func.lower(Label.name) == name.lower())
        if except_id is not None:
            query = query.where(Label.id != except_id)
        if (await session.exec(query)).first() is not None:
            raise ValidationError(f"A label named {name!r} exists.", field="name", code=Code.ALREADY_EXISTS)
