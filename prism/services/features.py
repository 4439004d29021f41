"""Features: what a product ships that people use, created, renamed, relinked and deleted by its writers.

A feature's key is what SDKs report usage under (`POST /api/v1/usage-events`, `recordUsageEvents`): unique within
its product, case-sensitive, letters, digits and `. _ : -`. A feature may name the requirement that shipped it, which
must be a requirement of the same product. Deleting a feature deletes its usage events.
"""

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.auth.access import require_on_product
from prism.auth.rbac import Viewer
from prism.db.adoption_tables import Feature
from prism.db.base import utcnow
from prism.db.tables import Product, Requirement
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.validation import UNSET, clean_text, get_for_update, get_owned

__all__ = ["FEATURE_KEY", "KEY_MAX", "NAME_MAX", "FeatureChanges", "FeatureService", "clean_feature_key"]

KEY_MAX = 64
NAME_MAX = 120
FEATURE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
"""A feature key: what an SDK sends, so no spaces and nothing a URL or a log line would mangle."""


def clean_feature_key(key: str, field: str = "key") -> str:
    """A feature key as stored, or a BAD_USER_INPUT naming `field`."""
    cleaned = key.strip()
    if not FEATURE_KEY.match(cleaned):
        raise ValidationError(
            f"{field} must be 1-{KEY_MAX} letters, digits, '.', '_', ':' or '-', starting with a letter or digit "
            "(like `bulk-edit`).",
            field=field,
        )
    return cleaned


@dataclass(frozen=True)
class FeatureChanges:
    """What an update may change; UNSET leaves a field as it is, and `requirement_id=None` unlinks."""

    key: str | None = None
    name: str | None = None
    requirement_id: Any = UNSET


class FeatureService:
    """Writes to features; each checks WRITE on the feature's product (the effective product role)."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def create(self, *, product_id: UUID, key: str, name: str, requirement_id: UUID | None = None) -> Feature:
        """Create a feature of a product, optionally linked to the requirement that shipped it."""
        async with self._uow.session(self._org) as session:
            # The product first: another organization's product is NOT_FOUND whatever else the input holds.
            product = await get_owned(session, Product, product_id, self._org, "productId")
            await require_on_product(session, self._viewer, product.id)
            clean_key = clean_feature_key(key)
            clean_name = clean_text(name, "name", max_length=NAME_MAX)
            if requirement_id is not None:
                await self._check_requirement(session, requirement_id, product.id)
            await self._check_key_free(session, product.id, clean_key, except_id=None)
            feature = Feature(
                organization_id=self._org,
                product_id=product.id,
                requirement_id=requirement_id,
                key=clean_key,
                name=clean_name,
            )
            session.add(feature)
            await session.flush()
            record(
                session,
                organization_id=self._org,
                action="feature.created",
                meta=self._meta,
                actor=self._viewer,
                target_type="Feature",
                target_id=feature.id,
                details={"key": clean_key, "productId": str(product.id)},
            )
        return feature

    async def update(self, feature_id: UUID, changes: FeatureChanges) -> Feature:
        """Rename a feature, change its key, or link it to another requirement (or none)."""
        async with self._uow.session(self._org) as session:
            feature = await get_for_update(session, Feature, feature_id, self._org, "id")
            await require_on_product(session, self._viewer, feature.product_id)
            clean_key = clean_feature_key(changes.key) if changes.key is not None else None
            clean_name = clean_text(changes.name, "name", max_length=NAME_MAX) if changes.name is not None else None
            if clean_key is not None and clean_key != feature.key:
                await self._check_key_free(session, feature.product_id, clean_key, except_id=feature.id)
                feature.key = clean_key
            if clean_name is not None:
                feature.name = clean_name
            if changes.requirement_id is not UNSET:
                if changes.requirement_id is not None:
                    await self._check_requirement(session, changes.requirement_id, feature.product_id)
                feature.requirement_id = changes.requirement_id
            feature.updated_at = utcnow()
            session.add(feature)
        return feature

    async def delete(self, feature_id: UUID) -> Feature:
        """Delete a feature and, through the foreign key, every usage event recorded for it."""
        async with self._uow.session(self._org) as session:
            feature = await get_for_update(session, Feature, feature_id, self._org, "id")
            await require_on_product(session, self._viewer, feature.product_id)
            record(
                session,
                organization_id=self._org,
                action="feature.deleted",
                meta=self._meta,
                actor=self._viewer,
                target_type="Feature",
                target_id=feature.id,
                details={"key": feature.key, "productId": str(feature.product_id)},
            )
            await session.delete(feature)
        return feature

    async def _check_requirement(self, session: AsyncSession, requirement_id: UUID, product_id: UUID) -> None:
        requirement = await get_owned(session, Requirement, requirement_id, self._org, "requirementId")
        if requirement.product_id != product_id:
            raise ValidationError("The requirement belongs to another product than the feature.", field="requirementId")

    async def _check_key_free(
        self, session: AsyncSession, product_id: UUID, key: str, *, except_id: UUID | None
    ) -> None:
        # Serialises key checks of one product, so two requests cannot both find a key free (the unique constraint
        # would then fail one of them with an error instead of ALREADY_EXISTS).
        lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"feature-keys:{product_id}", 0))
        await session.exec(select(lock))  # unscoped: an advisory lock, reads no table
        query = tenant_select(Feature, self._org, Feature.id).where(
            Feature.product_id == product_id, Feature.key == key
        )
        if except_id is not None:
            query = query.where(Feature.id != except_id)
        if (await session.exec(query)).first() is not None:
            raise ValidationError(
                f"The product has a feature with the key {key!r}.", field="key", code=Code.ALREADY_EXISTS
            )
