"""Input checks shared by services; each failure names the input field and carries a stable code."""

import re
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from prism.db.tenancy import tenant_select
from prism.errors import Code, ConflictError, NotFoundError, ValidationError

__all__ = [
    "BRIEF_MAX_CHARACTERS",
    "UNSET",
    "check_dates",
    "check_number",
    "check_version",
    "clean_brief",
    "clean_text",
    "get_for_update",
    "get_owned",
]

Row = TypeVar("Row", bound=SQLModel)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marks an update field the client did not send (as opposed to null, which clears it)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(value: str, field: str, *, max_length: int, required: bool = True) -> str:
    """Strip a text input and enforce its documented length limit."""
    if _CONTROL.search(value):
        raise ValidationError(f"{field} contains control characters.", field=field)
    cleaned = value.strip()
    if required and not cleaned:
        raise ValidationError(f"{field} must not be empty.", field=field)
    if len(cleaned) > max_length:
        raise ValidationError(
            f"{field} is {len(cleaned)} characters long; the limit is {max_length}.", field=field, code=Code.TOO_LONG
        )
    return cleaned


BRIEF_MAX_CHARACTERS = 10_000
"""The longest brief an AI generation (generateStories, generatePrd) takes, measured without surrounding space."""


def clean_brief(brief: str) -> str:
    """An AI generation's brief, stripped and checked alike by every feature: BAD_USER_INPUT when nothing is left,
    TOO_LONG past BRIEF_MAX_CHARACTERS (what a text area adds around it is not counted)."""
    cleaned = brief.strip()
    if not cleaned:
        raise ValidationError("brief is empty.", field="brief", code=Code.BAD_USER_INPUT)
    if len(cleaned) > BRIEF_MAX_CHARACTERS:
        raise ValidationError(
            f"brief is longer than {BRIEF_MAX_CHARACTERS} characters.", field="brief", code=Code.TOO_LONG
        )
    return cleaned


def check_number(value: float | None, field: str, *, minimum: float, maximum: float) -> float | None:
    """Keep a number within a documented range."""
    if value is None:
        return None
    if value != value or not minimum <= value <= maximum:  # value != value catches NaN
        raise ValidationError(
            f"{field} must be between {minimum:g} and {maximum:g}.", field=field, code=Code.OUT_OF_RANGE
        )
    return value


def check_dates(start: date | None, end: date | None, field: str) -> None:
    """An end date may not come before its start date."""
    if start is not None and end is not None and end < start:
        raise ValidationError("The end date comes before the start date.", field=field, code=Code.OUT_OF_RANGE)


def check_version(row_version: int, expected: int, what: str) -> None:
    """Optimistic concurrency: refuse a change made from a stale copy."""
    if row_version != expected:
        raise ConflictError(
            f"This {what} was changed by someone else (version {row_version}, you sent {expected}). "
            "Reload it and try again.",
            field="version",
        )


async def get_owned(session: AsyncSession, model: type[Row], id: UUID, organization_id: UUID, field: str) -> Row:
    """A row of the organization by primary key; another tenant's row is reported as not found."""
    statement = tenant_select(model, organization_id).where(model.id == id)  # type: ignore[attr-defined]
    row = (await session.exec(statement)).first()
    if row is None:
        raise NotFoundError(f"No {model.__name__.lower()} with this id.", field=field)
    return row


async def get_for_update(session: AsyncSession, model: type[Row], id: UUID, organization_id: UUID, field: str) -> Row:
    """Like `get_owned`, but locks the row until the transaction ends."""
    statement = tenant_select(model, organization_id).where(model.id == id)  # type: ignore[attr-defined]
    row = (await session.exec(statement.with_for_update())).first()
    if row is None:
        raise NotFoundError(f"No {model.__name__.lower()} with this id.", field=field)
    return row
