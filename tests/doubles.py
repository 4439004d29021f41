"""Recording stand-ins that tests look through: what a loader sends, what an embedder is asked to embed."""

from typing import Any

from prism.ai.embeddings import HashedEmbedder


class CapturingReader:
    """A reader that records the statements a loader sends and answers no rows."""

    def __init__(self) -> None:
        self.statements: list[Any] = []

    async def all(self, statement: Any, parameters: dict[str, Any] | None = None) -> list[Any]:
        self.statements.append(statement)
        return []


class CountingEmbedder(HashedEmbedder):
    """The offline embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts
        return await super().embed(texts)
