"""How a requirement's history keeps its values: one text on each side of a change, written alike by every writer.

A requirement_event stores what an attribute held before and after a change as text: an enum by name (`DONE`), a
number in its shortest exact decimal form (`3`, `2.5`; never `3.0`), a reference by the row id it points at (the
API turns it into the object, or its global id), a title as written. Long texts (description, acceptance criteria)
are not copied into history: their events say that the text changed, not what it was.
"""

import enum
from decimal import Decimal
from uuid import UUID

from prism.domain.enums import RequirementEventKind

__all__ = ["REFERENCE_KINDS", "WITHOUT_VALUES", "number_of", "stored_value"]

K = RequirementEventKind

REFERENCE_KINDS = frozenset({K.ASSIGNEE, K.SPRINT, K.RELEASE, K.PARENT, K.LABEL_ADDED, K.LABEL_REMOVED})
"""Kinds whose values are row ids: a user, a sprint, a release, a parent requirement, a label."""

WITHOUT_VALUES = frozenset({K.DESCRIPTION, K.ACCEPTANCE_CRITERIA})
"""Kinds that record that a long text changed, without its old or new text."""


def stored_value(value: object) -> str | None:
    """The text history keeps for one side of a change (None for no value)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        raise TypeError("history keeps no booleans")
    if isinstance(value, int | float | Decimal):
        return format(Decimal(repr(float(value))).normalize(), "f")
    if isinstance(value, UUID | str):
        return str(value)
    raise TypeError(f"history cannot keep a {type(value).__name__}")


def number_of(text: str | None) -> float | None:
    """The number a stored value holds (an estimate), or None when there is none."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None
