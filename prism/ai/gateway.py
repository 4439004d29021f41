"""The AI gateway: the embedder and vector index one process shares, built from the settings."""

from dataclasses import dataclass

from prism.ai.duplicates import DuplicateCheck, DuplicatePolicy, duplicate_policy
from prism.ai.embeddings import build_embedder
from prism.ai.vectors import VectorIndex
from prism.config import Settings

__all__ = ["AiGateway", "build_gateway"]


@dataclass
class AiGateway:
    """What AI features use: the vector index (with its embedder), and the duplicate warning's policy and second
    check. Nothing is opened until first used."""

    index: VectorIndex
    duplicate_policy: DuplicatePolicy
    duplicates: DuplicateCheck

    @property
    def offline(self) -> bool:
        """Whether retrieval runs on the offline embedder (no model configured)."""
        return self.index.embedder.name.startswith("offline")

    async def close(self) -> None:
        await self.index.close()


def build_gateway(settings: Settings) -> AiGateway:
    """The gateway the settings describe: Qdrant at QDRANT_URL or on disk under PRISM's home."""
    path = settings.qdrant_path
    if path is None and settings.qdrant_url is None:
        path = str(settings.home_path / "qdrant")
    embedder = build_embedder(settings.embedding_model, local=settings.embedder)
    return AiGateway(
        index=VectorIndex(
            embedder, url=settings.qdrant_url, path=path or ":memory:", collection=settings.qdrant_collection
        ),
        duplicate_policy=duplicate_policy(
            embedder.name, settings.ai_duplicate_threshold, settings.ai_duplicate_coverage
        ),
        duplicates=DuplicateCheck(embedder),
    )
