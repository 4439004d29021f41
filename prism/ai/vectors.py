"""The vector index: one Qdrant collection of requirement and document vectors, every read filtered to one
organization.

Local mode (files under PRISM's home, one process at a time) by default, a Qdrant server with QDRANT_URL. The
collection is named for the embedder, so vectors of two embedders never mix: changing the embedder means
`prism ai reindex`.
"""

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prism.ai.embeddings import Embedder
from prism.ai.slow_imports import imported
from prism.errors import AiUnavailableError

if TYPE_CHECKING:
    from qdrant_client import AsyncQdrantClient

__all__ = ["MAX_EMBEDDED_CHARACTERS", "Hit", "IndexedText", "VectorIndex"]

MAX_EMBEDDED_CHARACTERS = 8000
"""Text past this is not embedded: embedding models take a few thousand tokens, and the start says what it is about."""


@dataclass(frozen=True)
class IndexedText:
    """One source to index: its id, its organization and product, what kind of thing it is, and its text."""

    id: UUID
    organization_id: UUID
    product_id: UUID
    kind: str
    text: str


@dataclass(frozen=True)
class Hit:
    """A source found by a search, with its cosine similarity to the query (1 is identical)."""

    id: UUID
    kind: str
    product_id: UUID
    score: float


class VectorIndex:
    """Upserts, deletes and tenant-filtered searches of vectors in Qdrant; the client is opened on first use."""

    def __init__(self, embedder: Embedder, *, url: str | None, path: str, collection: str) -> None:
        self.embedder = embedder
        self._url = url
        self._path = path
        self._prefix = collection
        self._client: AsyncQdrantClient | None = None
        self._collection: str | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> tuple["AsyncQdrantClient", str]:
        # qdrant_client's first import takes about a second of CPU: in a thread of its own, never on the event loop.
        # Every method calls this before it imports anything of qdrant_client, which is then in sys.modules.
        await imported("qdrant_client")
        async with self._lock:
            if self._client is None or self._collection is None:
                from qdrant_client import AsyncQdrantClient, models

                try:
                    client = AsyncQdrantClient(url=self._url) if self._url else AsyncQdrantClient(path=self._path)
                except RuntimeError as error:
                    # Local mode locks its directory: a second process (or server) cannot open it.
                    raise AiUnavailableError(
                        f"The vector index at {self._path} is open in another process (Qdrant's local mode allows "
                        "one); set QDRANT_URL to share a Qdrant server."
                    ) from error
                if not self.embedder.dimensions:
                    self.embedder.dimensions = len((await self.embedder.embed(["dimension probe"]))[0])
                slug = re.sub(r"[^a-z0-9]+", "-", self.embedder.name.lower()).strip("-")
                name = f"{self._prefix}-{slug}-{self.embedder.dimensions}"
                if not await client.collection_exists(name):
                    await client.create_collection(
                        name,
                        vectors_config=models.VectorParams(
                            size=self.embedder.dimensions, distance=models.Distance.COSINE
                        ),
                    )
                    if self._url:
                        # Local mode has no payload indexes (it scans); a server gets the tenant index, which keeps
                        # each organization's vectors together so a filtered search stays fast.
                        await client.create_payload_index(
                            name,
                            field_name="organization_id",
                            field_schema=models.KeywordIndexParams(
                                type=models.KeywordIndexType.KEYWORD, is_tenant=True
                            ),
                            wait=True,
                        )
                        for field in ("product_id", "kind"):
                            await client.create_payload_index(
                                name, field_name=field, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
                            )
                self._client, self._collection = client, name
            return self._client, self._collection

    async def upsert(self, items: list[IndexedText]) -> None:
        """Index (or index again) these sources."""
        if not items:
            return
        client, name = await self._ready()
        from qdrant_client import models

        vectors = await self.embedder.embed([item.text[:MAX_EMBEDDED_CHARACTERS] for item in items])
        await client.upsert(
            name,
            points=[
                models.PointStruct(
                    id=str(item.id),
                    vector=vector,
                    payload={
                        "organization_id": str(item.organization_id),
                        "product_id": str(item.product_id),
                        "kind": item.kind,
                    },
                )
                for item, vector in zip(items, vectors, strict=True)
            ],
        )

    async def delete(self, organization_id: UUID, ids: list[UUID]) -> None:
        """Remove these sources of one organization (ids of another organization are left alone)."""
        if not ids:
            return
        client, name = await self._ready()
        from qdrant_client import models

        await client.delete(
            name,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[
                        self._tenant(organization_id),
                        models.HasIdCondition(has_id=[str(i) for i in ids]),
                    ]
                )
            ),
        )

    async def delete_organization(self, organization_id: UUID) -> None:
        """Remove every vector of an organization (before a reindex)."""
        client, name = await self._ready()
        from qdrant_client import models

        await client.delete(
            name, points_selector=models.FilterSelector(filter=models.Filter(must=[self._tenant(organization_id)]))
        )

    async def search(
        self,
        organization_id: UUID,
        text: str,
        *,
        limit: int,
        product_id: UUID | None = None,
        exclude: UUID | None = None,
        kind: str | None = None,
    ) -> list[Hit]:
        """The sources of `organization_id` (of one `kind`, when given) nearest to `text`, best first. There is no
        search without a tenant."""
        client, name = await self._ready()
        from qdrant_client import models

        vector = (await self.embedder.embed([text[:MAX_EMBEDDED_CHARACTERS]]))[0]
        must: list[Any] = [self._tenant(organization_id)]
        if product_id is not None:
            must.append(models.FieldCondition(key="product_id", match=models.MatchValue(value=str(product_id))))
        if kind is not None:
            must.append(models.FieldCondition(key="kind", match=models.MatchValue(value=kind)))
        must_not: list[Any] = [models.HasIdCondition(has_id=[str(exclude)])] if exclude is not None else []
        response = await client.query_points(
            name,
            query=vector,
            query_filter=models.Filter(must=must, must_not=must_not),
            limit=limit,
            with_payload=True,
        )
        return [
            Hit(
                id=UUID(str(point.id)),
                kind=str((point.payload or {}).get("kind", "requirement")),
                product_id=UUID(str((point.payload or {})["product_id"])),
                score=float(point.score),
            )
            for point in response.points
        ]

    @staticmethod
    def _tenant(organization_id: UUID) -> Any:
        from qdrant_client import models

        return models.FieldCondition(key="organization_id", match=models.MatchValue(value=str(organization_id)))

    async def close(self) -> None:
        """Close the client (local mode holds a lock on its directory until then)."""
        if self._client is not None:
            await self._client.close()
            self._client, self._collection = None, None
