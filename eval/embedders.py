"""The embedders to measure: PRISM's offline one always; all-MiniLM-L6-v2 and a LiteLLM model when available."""

from collections.abc import Callable
from dataclasses import dataclass

from prism.ai.embeddings import Embedder, HashedEmbedder, build_embedder
from prism.ai.minilm import MINILM_INSTALL_HINT, MiniLMEmbedder, minilm_missing

__all__ = ["Candidate", "candidates"]


@dataclass(frozen=True)
class Candidate:
    """An embedder to measure, built on demand (a model takes seconds to load), or why it cannot be."""

    key: str
    build: Callable[[], Embedder] | None
    unavailable: str | None = None


def _minilm() -> Candidate:
    missing = minilm_missing()
    if missing:
        return Candidate("minilm", None, f"not installed ({', '.join(missing)}): {MINILM_INSTALL_HINT}")
    return Candidate("minilm", MiniLMEmbedder)


def candidates(embedding_model: str | None) -> list[Candidate]:
    """Every embedder this machine can run: the offline one, MiniLM (PRISM_EMBEDDER=minilm), and
    PRISM_EMBEDDING_MODEL when set."""
    found = [Candidate("offline", HashedEmbedder), _minilm()]
    if embedding_model:
        found.append(Candidate("litellm", lambda: build_embedder(embedding_model)))
    return found
