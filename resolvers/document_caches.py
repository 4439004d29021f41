"""The parser and validation caches, for documents of a sensible size only.

Strawberry's caches keep up to `maxsize` entries keyed by the query text (parsing) and the parsed document
(validation). Entries are bounded in number but not in size: anyone may send texts up to the body limit (1 MB, mostly
comments or whitespace under the token limit) and pin `maxsize` of them in memory. Texts over
CACHED_DOCUMENT_MAX_BYTES are parsed and validated afresh each time instead; every client's real queries are far
smaller.
"""

from collections.abc import Iterator

from graphql import parse, validate
from strawberry.extensions import ParserCache, ValidationCache

__all__ = ["CACHED_DOCUMENT_MAX_BYTES", "BoundedParserCache", "BoundedValidationCache"]

CACHED_DOCUMENT_MAX_BYTES = 16_384


def _large(query: str | None) -> bool:
    return query is not None and len(query) > CACHED_DOCUMENT_MAX_BYTES


class BoundedParserCache(ParserCache):
    """ParserCache, except for texts over CACHED_DOCUMENT_MAX_BYTES."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if _large(context.query):
            assert context.query is not None
            context.graphql_document = parse(context.query, **context.parse_options)
            yield
            return
        yield from super().on_parse()


class BoundedValidationCache(ValidationCache):
    """ValidationCache, except for documents parsed from texts over CACHED_DOCUMENT_MAX_BYTES."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if _large(context.query):
            assert context.graphql_document is not None
            context.pre_execution_errors = validate(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
            yield
            return
        yield from super().on_validate()
