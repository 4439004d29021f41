"""AI retrieval: requirements and documents near a requirement or a text, found in the organization's vector index."""

import logging
from contextlib import AbstractAsyncContextManager
from typing import Annotated
from uuid import UUID

import strawberry

from prism.ai.retrieval import DOCUMENT, REQUIREMENT, requirement_text
from prism.errors import Code, NotFoundError, ValidationError
from resolvers.common import UserError, decode_id
from resolvers.context import Context
from resolvers.documents import Document
from resolvers.list_bounds import max_items
from resolvers.node import find_node, load_node
from resolvers.permissions import CanRead
from resolvers.requirements import Requirement

__all__ = ["AiQuery", "DocumentMatch", "RequirementMatch", "RetrievalResult", "duplicate_warnings"]

logger = logging.getLogger(__name__)

DUPLICATES_WARNED = 3
"""The most LIKELY_DUPLICATE warnings one creation answers."""

Info = strawberry.Info[Context, None]

MAX_MATCHES = 50
"""The most matches one retrieval answers."""


def _while_embedding(info: Info) -> AbstractAsyncContextManager[None]:
    """Where a text is embedded (a model call with a remote embedding model): without holding the request's
    connection. A mutation's duplicate warnings are resolved after its use case committed (`RequirementPayload`),
    so no uncommitted write, transaction or lock waits on the model either."""
    return info.context.uow.without_connection()


@strawberry.type(description="A requirement found by a retrieval, with how close it is to what was asked.")
class RequirementMatch:
    requirement: Requirement = strawberry.field(description="The requirement found.")
    key: str = strawberry.field(description="Its key, like PRISM-12: the source to cite.")
    score: float = strawberry.field(
        description="Cosine similarity of its text to the query, from -1 to 1 (1: the same words)."
    )


@strawberry.type(description="A document (PRD, spec, note) found by a retrieval, with how close it is.")
class DocumentMatch:
    document: Document = strawberry.field(description="The document found.")
    title: str = strawberry.field(description="Its title: the source to cite.")
    score: float = strawberry.field(
        description="Cosine similarity of its title and body to the query, from -1 to 1 (1: the same words)."
    )


@strawberry.type(description="What a retrieval found, best first, and how it searched.")
class RetrievalResult:
    matches: list[RequirementMatch] = strawberry.field(
        description="The requirements found, best first: the sources an AI feature would use.",
        metadata=max_items(MAX_MATCHES),
    )
    embedder: str = strawberry.field(description="The embedding model the index was searched with.")
    offline: bool = strawberry.field(
        description="True when the offline embedder answered (shared words, not meaning; see docs/ai.md)."
    )
    search_text: strawberry.Private[str] = ""
    count: strawberry.Private[int] = 0
    product_id: strawberry.Private[UUID | None] = None

    @strawberry.field(
        description=(
            "The documents (PRDs, specs, notes) nearest the same text, best first, as many as `first` at most; "
            "searched only when asked for."
        ),
        metadata=max_items(MAX_MATCHES),
    )
    async def documents(self, info: Info) -> list[DocumentMatch]:
        async with _while_embedding(info):
            hits = await info.context.runtime.ai.index.search(
                info.context.member.organization_id,
                self.search_text,
                limit=self.count + 10,
                product_id=self.product_id,
                kind=DOCUMENT,
            )
        found: list[DocumentMatch] = []
        for hit in hits:
            # Loaded like any read (tenant and product roles): a stale or unreadable vector is skipped.
            node = await load_node(info, Document, hit.id)
            if node is not None:
                found.append(DocumentMatch(document=node, title=node.title, score=round(hit.score, 4)))
            if len(found) == self.count:
                break
        return found


MAX_SEARCH_CHARACTERS = 10_000
"""The longest `text` or `query` a search takes: a requirement's own text is searched by its id."""


def _search_text(text: str, field: str) -> str:
    if not text.strip():
        raise ValidationError(f"{field} is empty.", field=field, code=Code.BAD_USER_INPUT)
    if len(text) > MAX_SEARCH_CHARACTERS:
        raise ValidationError(
            f"{field} is longer than {MAX_SEARCH_CHARACTERS} characters.", field=field, code=Code.TOO_LONG
        )
    return text


def _first(first: int | None) -> int:
    count = 10 if first is None else first
    if not 1 <= count <= MAX_MATCHES:
        raise ValidationError(f"first must be between 1 and {MAX_MATCHES}.", field="first", code=Code.BAD_USER_INPUT)
    return count


async def _matches(
    info: Info, text: str, first: int, *, product_id: UUID | None = None, exclude: UUID | None = None
) -> RetrievalResult:
    gateway = info.context.runtime.ai
    # A little more than asked: a hit the viewer may not read (a product they have no role on) or deleted since
    # its vector was written is skipped, not returned.
    async with _while_embedding(info):
        hits = await gateway.index.search(
            info.context.member.organization_id,
            text,
            limit=first + 10,
            product_id=product_id,
            exclude=exclude,
            kind=REQUIREMENT,
        )
    found: list[RequirementMatch] = []
    for hit in hits:
        node = await load_node(info, Requirement, hit.id)
        if node is not None:
            key = node.key(info)
            if not isinstance(key, str):
                key = await key
            found.append(RequirementMatch(requirement=node, key=key, score=round(hit.score, 4)))
        if len(found) == first:
            break
    return RetrievalResult(
        matches=found,
        embedder=gateway.index.embedder.name,
        offline=gateway.offline,
        search_text=text,
        count=first,
        product_id=product_id,
    )


async def duplicate_warnings(info: Info, requirement: Requirement) -> list[UserError]:
    """LIKELY_DUPLICATE warnings for the requirements of the same product that the active embedder's duplicate
    policy calls likely duplicates of `requirement` (prism.ai.duplicates: cosine, then the word check), best first.
    The index is only as fresh as its jobs (a requirement created a moment ago may not be in it yet), and a
    failure warns of nothing: a warning never stands in the way of the change."""
    gateway = info.context.runtime.ai
    organization_id = info.context.member.organization_id
    text = requirement_text(requirement.title, requirement.description, requirement.acceptance_criteria)
    warnings: list[UserError] = []
    try:
        found = await _matches(
            info, text, DUPLICATES_WARNED, product_id=requirement.product_id, exclude=requirement.uuid
        )
        for match in found.matches:
            other = match.requirement
            other_text = requirement_text(other.title, other.description, other.acceptance_criteria)
            if await gateway.duplicates.likely_duplicate(
                gateway.duplicate_policy, text, other_text, match.score, organization_id=organization_id
            ):
                warnings.append(
                    UserError(
                        field=["input", "title"],
                        message=f"This looks like {match.key} ({other.title!r}, {match.score:.2f} similar).",
                        code=Code.LIKELY_DUPLICATE.value,
                    )
                )
    except Exception:
        logger.warning("duplicate check failed", exc_info=True)
        return []
    return warnings


@strawberry.type
class AiQuery:
    @strawberry.field(
        description=(
            "Requirements like a given one (`id`) or like a text (`text`), best first, from the organization's "
            "vector index. Another organization's requirement is NOT_FOUND."
        ),
        permission_classes=[CanRead],
    )
    async def similar_requirements(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="A requirement whose likes to find (not itself).")
        ] = None,
        text: Annotated[
            str | None,
            strawberry.argument(description="A text to find requirements like (at most 10,000 characters: TOO_LONG)."),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="How many, 1-50; 10 when omitted.")] = None,
    ) -> RetrievalResult:
        if (id is None) == (text is None):
            raise ValidationError("Give either id or text.", field="id", code=Code.BAD_USER_INPUT)
        count = _first(first)
        if id is not None:
            requirement = await find_node(info, Requirement, id)
            query = requirement_text(requirement.title, requirement.description, requirement.acceptance_criteria)
            return await _matches(info, query, count, exclude=requirement.uuid)
        assert text is not None
        return await _matches(info, _search_text(text, "text"), count)

    @strawberry.field(
        description=(
            "Requirements (`matches`) and documents (`documents`) whose text is nearest a search query, best first, "
            "optionally in one product."
        ),
        permission_classes=[CanRead],
    )
    async def semantic_search(
        self,
        info: Info,
        query: Annotated[
            str, strawberry.argument(description="What to look for, in words (at most 10,000 characters: TOO_LONG).")
        ],
        product_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this product's requirements.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="How many, 1-50; 10 when omitted.")] = None,
    ) -> RetrievalResult:
        count = _first(first)
        query = _search_text(query, "query")
        if product_id is None:
            return await _matches(info, query, count)
        from resolvers.products import Product

        product = await load_node(info, Product, decode_id(product_id, "Product", "productId"))
        if product is None:
            raise NotFoundError("No Product with this id.", field="productId")
        return await _matches(info, query, count, product_id=product.uuid)
