"""The filter and ordering inputs of requirement lists, and their translation to the loaders' filter and order.

Kept apart from the Requirement type: products, sprints and releases list requirements too, and declare those lists
with these inputs without importing the type's module.
"""

import enum
from typing import Any
from uuid import UUID

import strawberry

from loaders.pagination import Order
from loaders.sources import RequirementListFilter
from prism.errors import ValidationError
from prism.services.validation import clean_text
from resolvers.common import SortDirection, TimeRange, decode_id, time_filter
from resolvers.connections import ListArguments
from resolvers.enums import Priority, RequirementKind, RequirementStatus

__all__ = [
    "MAX_FILTER_VALUES",
    "REQUIREMENT_LIST",
    "RequirementFilter",
    "RequirementOrder",
    "RequirementOrderField",
    "decode_ids",
    "parse_key",
    "requirement_list_args",
]

MAX_FILTER_VALUES = 100


@strawberry.input(
    description="Which requirements to list. Each list matches any of its values; fields combine with AND."
)
class RequirementFilter:
    product_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In these products.")
    statuses: list[RequirementStatus] | None = strawberry.field(default=None, description="In these statuses.")
    kinds: list[RequirementKind] | None = strawberry.field(default=None, description="Of these kinds.")
    priorities: list[Priority] | None = strawberry.field(default=None, description="With these priorities.")
    assignee_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Assigned to these users.")
    unassigned: bool | None = strawberry.field(default=None, description="True: also (or only) unassigned ones.")
    sprint_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In these sprints.")
    no_sprint: bool | None = strawberry.field(default=None, description="True: also (or only) those in no sprint.")
    release_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="In these releases.")
    label_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="With any of these labels.")
    parent_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Directly under these.")
    top_level: bool | None = strawberry.field(default=None, description="True: no parent; false: has a parent.")
    search: str | None = strawberry.field(
        default=None, description="Text in the title or description, case-insensitive (max 200 characters)."
    )
    created_at: TimeRange | None = strawberry.field(default=None, description="Created within this range.")
    updated_at: TimeRange | None = strawberry.field(
        default=None,
        description=(
            "Changed within this range. For incremental sync, pass `{after: <the newest updatedAt you hold>}` and "
            "sort by UPDATED_AT ascending."
        ),
    )


@strawberry.enum(description="Fields requirements can be sorted by.")
class RequirementOrderField(enum.Enum):
    RANK = strawberry.enum_value("RANK", description="Manual ranking (the backlog order).")
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="Creation time.")
    UPDATED_AT = strawberry.enum_value("UPDATED_AT", description="Last change.")
    NUMBER = strawberry.enum_value("NUMBER", description="Number within the product.")
    TITLE = strawberry.enum_value("TITLE", description="Title, alphabetically.")
    PRIORITY = strawberry.enum_value("PRIORITY", description="Most urgent first when descending.")
    ESTIMATE = strawberry.enum_value("ESTIMATE", description="Estimate; unestimated ones first when ascending.")


@strawberry.input(description="How to sort requirements.")
class RequirementOrder:
    field: RequirementOrderField = strawberry.field(description="The field to sort by.")
    direction: SortDirection = strawberry.field(default=SortDirection.ASC, description="Ascending or descending.")


def decode_ids(values: list[strawberry.ID] | None, type_name: str, field: str) -> tuple[UUID, ...]:
    if not values:
        return ()
    if len(values) > MAX_FILTER_VALUES:
        raise ValidationError(f"{field} takes at most {MAX_FILTER_VALUES} values.", field=field)
    return tuple(decode_id(v, type_name, field) for v in values)


def _names(values: list[Any] | None) -> tuple[str, ...]:
    return tuple(sorted({v.name for v in values})) if values else ()


def requirement_list_args(
    filter: RequirementFilter | None, order_by: RequirementOrder | None
) -> tuple[RequirementListFilter, Order]:
    """Translate GraphQL filter and order inputs to the loader's hashable filter and order."""
    f = filter or RequirementFilter()
    search = clean_text(f.search, "search", max_length=200, required=False) if f.search else None
    list_filter = RequirementListFilter(
        product_ids=decode_ids(f.product_ids, "Product", "productIds"),
        statuses=_names(f.statuses),
        kinds=_names(f.kinds),
        priorities=_names(f.priorities),
        assignee_ids=decode_ids(f.assignee_ids, "User", "assigneeIds"),
        unassigned=f.unassigned,
        sprint_ids=decode_ids(f.sprint_ids, "Sprint", "sprintIds"),
        no_sprint=f.no_sprint,
        release_ids=decode_ids(f.release_ids, "Release", "releaseIds"),
        label_ids=decode_ids(f.label_ids, "Label", "labelIds"),
        parent_ids=decode_ids(f.parent_ids, "Requirement", "parentIds"),
        top_level=f.top_level,
        search=search or None,
        times=time_filter(f.created_at, f.updated_at),
    )
    order = Order(
        field=order_by.field.name if order_by else "RANK",
        descending=bool(order_by and order_by.direction == SortDirection.DESC),
    )
    return list_filter, order


def parse_key(key: str) -> tuple[str, int]:
    """Split a human key like PRISM-12 into product key and number."""
    product_key, _, number = key.strip().upper().rpartition("-")
    # ASCII digits only: str.isdigit() also admits "²" and "١٢", which int() refuses or reads as another number.
    if not product_key or not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise ValidationError("key must look like PRISM-12.", field="key")
    return product_key, int(number)


REQUIREMENT_LIST: ListArguments[RequirementFilter, RequirementOrder] = ListArguments(
    filter=RequirementFilter, order_by=RequirementOrder, convert=requirement_list_args
)
"""The `filter` and `orderBy` arguments of every requirement list."""
