"""Depth and alias limits, checked in one walk of the document that visits each fragment once.

A fragment may be spread many times, and fragments may spread each other: walking a fragment again at each spread
makes the work double with every level of nesting (30 levels of fragments spreading the next twice is 2**30 visits).
Here each fragment is measured once, the first time it is spread, and its measure is reused at every later spread,
so the walk visits each selection of the document once. What is counted does not change: aliases inside a fragment
count at each spread, and a fragment adds its depth wherever it is spread.
"""

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

__all__ = ["Shape", "ShapeWalker", "document_limits_rule"]


@dataclass(frozen=True)
class Shape:
    """How deep a selection nests and how many aliases it uses (fragments counted at every spread)."""

    depth: int
    aliases: int


_EMPTY = Shape(depth=0, aliases=0)


class ShapeWalker:
    """Measures the operations of one document; `visited` counts the selections it looked at."""

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._measured: dict[str, Shape] = {}
        self._entered: set[str] = set()
        self.visited = 0

    def operation(self, operation: OperationDefinitionNode) -> Shape:
        """The shape of one operation."""
        return self._selections(operation.selection_set)

    def _selections(self, selection_set: SelectionSetNode) -> Shape:
        depth = aliases = 0
        for selection in selection_set.selections:
            self.visited += 1
            if isinstance(selection, FieldNode):
                aliases += 1 if selection.alias else 0
                if selection.selection_set is None:
                    continue
                inner = self._selections(selection.selection_set)
                aliases += inner.aliases
                # Introspection does not count towards depth (as in Strawberry's QueryDepthLimiter): its type
                # references nest deeply, and graphql-core's MaxIntrospectionDepthRule bounds it instead.
                if not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self._selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
            else:  # pragma: no cover - graphql-core knows no other selection
                continue
            aliases += inner.aliases
            depth = max(depth, inner.depth)
        return Shape(depth=depth, aliases=aliases)

    def _fragment(self, name: str) -> Shape:
        measured = self._measured.get(name)
        if measured is not None:
            return measured
        fragment = self._fragments.get(name)
        # An unknown fragment or a cycle: graphql-core's KnownFragmentNames and NoFragmentCycles rules refuse those.
        if fragment is None or name in self._entered:
            return _EMPTY
        self._entered.add(name)
        shape = self._selections(fragment.selection_set)
        self._measured[name] = shape
        return shape


def document_limits_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing (QUERY_TOO_COMPLEX) operations nested deeper than `max_depth` fields and documents
    with more than `max_aliases` aliased fields."""

    class DocumentLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            walker = ShapeWalker(context.document)
            aliases = 0
            try:
                for definition in context.document.definitions:
                    if not isinstance(definition, OperationDefinitionNode):
                        continue
                    shape = walker.operation(definition)
                    aliases += shape.aliases
                    if shape.depth > max_depth:
                        name = definition.name.value if definition.name else "The operation"
                        self._refuse(f"{name} nests fields {shape.depth} levels deep; at most {max_depth} are allowed.")
            except RecursionError:
                self._refuse("The document nests selections or fragments too deeply.")
                return
            if aliases > max_aliases:
                self._refuse(f"The operation uses {aliases} aliases; at most {max_aliases} are allowed.")

        def _refuse(self, message: str) -> None:
            self.report_error(GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX"}))

    return DocumentLimitsRule
