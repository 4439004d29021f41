"""The use-case boundary: each top-level mutation field commits its work, or rolls all of it back.

Services flush and never commit (prism/db/unit_of_work.py); this is the one place a request's writes become
durable. A field that answers user errors (a validation or business rule refused the change) or fails writes
nothing, however many services it called; a field that succeeds commits before its payload is read, so the
payload shows what was written, through fresh loaders.
"""

from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver

from resolvers.context import Context

__all__ = ["UseCaseBoundary", "add_use_case_boundaries"]


class UseCaseBoundary(FieldExtension):
    """Commits a mutation field's unit of work when it succeeds; rolls it back on user errors or failure."""

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: strawberry.Info[Context, None], **kwargs: Any
    ) -> Any:
        context = info.context
        try:
            payload = await next_(source, info, **kwargs)
        except BaseException:
            await context.uow.rollback()
            raise
        if getattr(payload, "user_errors", None):
            await context.uow.rollback()
        else:
            await context.uow.commit()
        context.after_write()
        return payload


def add_use_case_boundaries(mutation: type) -> None:
    """Give every field of the root mutation type its boundary (once, however often the schema is built)."""
    for field in mutation.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if not any(isinstance(extension, UseCaseBoundary) for extension in field.extensions):
            field.extensions.append(UseCaseBoundary())
