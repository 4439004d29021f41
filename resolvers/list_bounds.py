"""How many items each list field may return: declared next to the field, a default for the others.

The cost model multiplies a list field's selection by this maximum, and the executor (resolvers/execution.py) never
completes more items than it, so the estimate of an operation bounds what it can really do. Connections declare
the page size cap on their `edges` and `nodes`; their cost uses the page size asked for. A plain list declares its
maximum with `strawberry.field(..., metadata=max_items(20))`; one that declares none gets DEFAULT_MAX_ITEMS.

Introspection lists (`__Schema.types`, `__Type.fields`, ...) are bounded by the schema itself and are not
multiplied: graphql-core's MaxIntrospectionDepthRule limits how they nest, and the executor meters their work like
any other.
"""

from graphql import GraphQLField, GraphQLList, GraphQLNamedType, GraphQLNonNull, GraphQLOutputType

__all__ = ["DEFAULT_MAX_ITEMS", "is_list", "list_maximum", "max_items"]

DEFAULT_MAX_ITEMS = 100
"""The maximum of a list field that declares none: as many as a connection's largest page."""

_MAX_ITEMS = "prism.max_items"


def max_items(count: int) -> dict[str, int]:
    """Field metadata declaring that a list field returns at most `count` items."""
    return {_MAX_ITEMS: count}


def is_list(type_: GraphQLOutputType) -> bool:
    """Whether a field of this type returns a list."""
    return isinstance(type_.of_type if isinstance(type_, GraphQLNonNull) else type_, GraphQLList)


def list_maximum(parent: GraphQLNamedType, field: GraphQLField) -> int | None:
    """How many items the list field `field` of `parent` may return; None for introspection, which the schema
    bounds."""
    if parent.name.startswith("__"):
        return None
    definition = field.extensions.get("strawberry-definition")
    declared = getattr(definition, "metadata", None) or {}
    maximum = declared.get(_MAX_ITEMS, DEFAULT_MAX_ITEMS)
    return int(maximum)
