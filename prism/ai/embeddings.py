"""Embedders: text to a unit vector. Offline (hashed stemmed words and character n-grams) by default;
all-MiniLM-L6-v2 or all-mpnet-base-v2 when installed and chosen (prism.ai.minilm, prism.ai.mpnet); or any LiteLLM
embedding model."""

import asyncio
import hashlib
import itertools
import math
import threading
from typing import Any, Protocol

from prism.ai.offline_terms import english_stemmer, terms

__all__ = ["INLINE_CHARACTERS", "OFFLINE_DIMENSIONS", "Embedder", "HashedEmbedder", "LiteLLMEmbedder", "build_embedder"]

OFFLINE_DIMENSIONS = 512
INLINE_CHARACTERS = 2_000
"""The most characters the offline embedder embeds on the event loop (a few milliseconds); a bigger batch (a
reindex page, the duplicate check's words of two long requirements) is embedded in a worker thread."""


class Embedder(Protocol):
    """Turns texts into vectors of `dimensions` floats, each of length 1."""

    name: str
    dimensions: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


def _normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


class HashedEmbedder:
    """An embedder that needs nothing downloaded: stemmed words, word pairs and character trigrams hashed to buckets.

    Texts sharing vocabulary land close together, so duplicates phrased with the same words (in any of their forms,
    or a few common synonyms: offline_terms) are found; paraphrases are not (that takes a trained model: set
    PRISM_EMBEDDING_MODEL). `make eval` measures both.
    """

    # Named for its features: vectors of another feature set must not share its collection (vectors.py).
    name = "offline-stemmed-ngrams"

    def __init__(self, dimensions: int = OFFLINE_DIMENSIONS) -> None:
        self.dimensions = dimensions
        self._local = threading.local()

    @property
    def _stemmer(self) -> Any:
        # A stemmer keeps state while it works: one per thread, as batches may be embedded in worker threads.
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = english_stemmer()
        return stemmer

    def _features(self, text: str) -> list[tuple[str, float]]:
        found = terms(text, self._stemmer)
        features: list[tuple[str, float]] = [(f"w:{stem}", 1.0) for stem in found.stems]
        features += [(f"b:{first} {second}", 0.5) for first, second in itertools.pairwise(found.stems)]
        for word in found.written:
            padded = f" {word} "
            features += [(f"c:{padded[i : i + 3]}", 0.25) for i in range(len(padded) - 2)]
        return features

    def embed_one(self, text: str) -> list[float]:
        """The vector of one text (all zeros for a text with no words)."""
        vector = [0.0] * self.dimensions
        for feature, weight in self._features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "big") % self.dimensions
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[bucket] += sign * weight
        return _normalized(vector)

    def embed_all(self, texts: list[str]) -> list[list[float]]:
        """The vectors of `texts`, in order."""
        return [self.embed_one(text) for text in texts]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if sum(len(text) for text in texts) <= INLINE_CHARACTERS:
            return self.embed_all(texts)
        return await asyncio.to_thread(self.embed_all, texts)


class LiteLLMEmbedder:
    """Embeddings from any LiteLLM embedding model (`openai/text-embedding-3-small`, `ollama/nomic-embed-text`)."""

    def __init__(self, model: str, dimensions: int, *, timeout: float = 30.0) -> None:
        self.name = model
        self.dimensions = dimensions
        self._timeout = timeout

    async def embed(self, texts: list[str]) -> list[list[float]]:
        from prism.ai.litellm_setup import litellm_loaded

        litellm = await litellm_loaded()
        response = await litellm.aembedding(model=self.name, input=texts, timeout=self._timeout, num_retries=2)
        return [_normalized([float(value) for value in item["embedding"]]) for item in response.data]


def build_embedder(model: str | None, dimensions: int | None = None, *, local: str = "offline") -> Embedder:
    """LiteLLM's embedder when `model` names one (its vector size given or probed); else the local one `local`
    names (PRISM_EMBEDDER): `offline`, `minilm` (all-MiniLM-L6-v2), `mpnet` (all-mpnet-base-v2), each refused when
    not installed, or `auto` (MiniLM when installed, else offline)."""
    if model is not None:
        return LiteLLMEmbedder(model, dimensions or 0)
    if local == "offline":
        return HashedEmbedder()
    if local == "mpnet":
        from prism.ai.mpnet import MPNET_INSTALL_HINT, MPNetEmbedder, mpnet_missing

        absent = mpnet_missing()
        if absent:
            raise ValueError(
                f"PRISM_EMBEDDER=mpnet needs {', '.join(absent)}, which are not installed: {MPNET_INSTALL_HINT}"
            )
        return MPNetEmbedder()
    from prism.ai.minilm import MINILM_INSTALL_HINT, MiniLMEmbedder, minilm_missing

    missing = minilm_missing()
    if not missing:
        return MiniLMEmbedder()
    if local == "auto":
        return HashedEmbedder()
    raise ValueError(
        f"PRISM_EMBEDDER={local} needs {', '.join(missing)}, which are not installed: {MINILM_INSTALL_HINT}"
    )
