"""Products: create, edit, archive and unarchive; a product's key prefixes its requirement keys."""

import re
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from prism.auth.rbac import Permission, Viewer, require
from prism.db.base import utcnow
from prism.db.tables import Product
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, ValidationError
from prism.services.audit import RequestMeta, record
from prism.services.validation import check_version, clean_text, get_for_update

__all__ = ["ProductChanges", "ProductService"]

_KEY = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")


@dataclass(frozen=True)
class ProductChanges:
    """The fields an update may set; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None


def clean_key(key: str) -> str:
    """Product keys are 2-10 upper-case letters and digits starting with a letter, like PRISM."""
    cleaned = key.strip().upper()
    if not _KEY.match(cleaned):
        raise ValidationError(
            "key must be 2 to 10 letters or digits, starting with a letter (for example PRISM).", field="key"
        )
    return cleaned


class ProductService:
    """Writes to products."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    async def create(self, *, key: str, name: str, description: str = "") -> Product:
        """Create a product with a key unique in the organization."""
        require(self._viewer, Permission.MANAGE_PRODUCTS)
        org = self._viewer.organization_id
        key = clean_key(key)
        product = Product(
            organization_id=org,
            key=key,
            name=clean_text(name, "name", max_length=120),
            description=clean_text(description, "description", max_length=10_000, required=False),
        )
        async with self._uow.session(org) as session:
            taken = (await session.exec(tenant_select(Product, org, Product.id).where(Product.key == key))).first()
            if taken is not None:
                raise ValidationError(f"A product with key {key} exists.", field="key", code=Code.ALREADY_EXISTS)
            session.add(product)
            try:
                await session.flush()
            except IntegrityError as error:
                # Another request created the key between the check above and this insert.
                if "uq_product_organization_id_key" not in str(error.orig):
                    raise
                raise ValidationError(
                    f"A product with key {key} exists.", field="key", code=Code.ALREADY_EXISTS
                ) from None
        return product

    async def update(self, product_id: UUID, version: int, changes: ProductChanges) -> Product:
        """Edit a product's name or description, refusing stale versions."""
        require(self._viewer, Permission.MANAGE_PRODUCTS)
        async with self._uow.session(self._viewer.organization_id) as session:
            product = await get_for_update(session, Product, product_id, self._viewer.organization_id, "id")
            check_version(product.version, version, "product")
            if changes.name is not None:
                product.name = clean_text(changes.name, "name", max_length=120)
            if changes.description is not None:
                product.description = clean_text(changes.description, "description", max_length=10_000, required=False)
            product.version += 1
            product.updated_at = utcnow()
            session.add(product)
        return product

    async def archive(self, product_id: UUID, version: int) -> Product:
        """Archive a product: it leaves default lists but keeps its history."""
        require(self._viewer, Permission.MANAGE_PRODUCTS)
        async with self._uow.session(self._viewer.organization_id) as session:
            product = await get_for_update(session, Product, product_id, self._viewer.organization_id, "id")
            check_version(product.version, version, "product")
            if product.archived_at is None:
                product.archived_at = utcnow()
                record(
                    session,
                    organization_id=product.organization_id,
                    action="product.archived",
                    meta=self._meta,
                    actor=self._viewer,
                    target_type="Product",
                    target_id=product.id,
                    details={"key": product.key, "name": product.name},
                )
            product.version += 1
            product.updated_at = utcnow()
            session.add(product)
        return product

    async def unarchive(self, product_id: UUID, version: int) -> Product:
        """Bring an archived product back into default lists, where its work can go on; the inverse of archive."""
        require(self._viewer, Permission.MANAGE_PRODUCTS)
        async with self._uow.session(self._viewer.organization_id) as session:
            product = await get_for_update(session, Product, product_id, self._viewer.organization_id, "id")
            check_version(product.version, version, "product")
            if product.archived_at is not None:
                product.archived_at = None
                record(
                    session,
                    organization_id=product.organization_id,
                    action="product.unarchived",
                    meta=self._meta,
                    actor=self._viewer,
                    target_type="Product",
                    target_id=product.id,
                    details={"key": product.key, "name": product.name},
                )
            product.version += 1
            product.updated_at = utcnow()
            session.add(product)
        return product
