"""The embedders to measure: PRISM's offline one always; all-MiniLM-L6-v2, all-mpnet-base-v2 and a LiteLLM model
when available."""

from collections.abc import Callable
from dataclasses import dataclass

from prism.ai import mpnet
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


def _mpnet() -> Candidate:
    missing = mpnet.mpnet_missing()  # through the module: a test can say what is installed
    if missing:
        return Candidate("mpnet", None, f"not installed ({', '.join(missing)}): {mpnet.MPNET_INSTALL_HINT}")
    return Candidate("mpnet", mpnet.MPNetEmbedder)


def candidates(embedding_model: str | None) -> list[Candidate]:
    """Every embedder this machine can run: the offline one, MiniLM (PRISM_EMBEDDER=minilm), MPNet, and
    PRISM_EMBEDDING_MODEL when set."""
    found = [Candidate("offline", HashedEmbedder), _minilm(), _mpnet()]
    if embedding_model:
        found.append(Candidate("litellm", lambda: build_embedder(embedding_model)))
    return found
