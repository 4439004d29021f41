"""Embedders: text to a unit vector. Offline (hashed words and character n-grams) by default, LiteLLM when set."""

import hashlib
import itertools
import math
import re
from typing import Protocol

__all__ = ["OFFLINE_DIMENSIONS", "Embedder", "HashedEmbedder", "LiteLLMEmbedder", "build_embedder"]

OFFLINE_DIMENSIONS = 512
_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about what a requirement is about; left in, they make every pair look alike.
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "then",
        "this",
        "to",
        "was",
        "we",
        "when",
        "will",
        "with",
        "want",
        "should",
        "must",
        "user",
        "users",
    ]
)


class Embedder(Protocol):
    """Turns texts into vectors of `dimensions` floats, each of length 1."""

    name: str
    dimensions: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


def _normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


class HashedEmbedder:
    """An embedder that needs nothing downloaded: words, word pairs and character trigrams hashed into buckets.

    Texts sharing vocabulary land close together, so duplicates phrased with the same words are found; synonyms are
    not (that takes a trained model: set PRISM_EMBEDDING_MODEL).
    """

    name = "offline-hashed-ngrams"

    def __init__(self, dimensions: int = OFFLINE_DIMENSIONS) -> None:
        self.dimensions = dimensions

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = [word for word in _WORD.findall(text.lower()) if word not in _STOP_WORDS]
        features: list[tuple[str, float]] = [(f"w:{word}", 1.0) for word in words]
        features += [(f"b:{first} {second}", 0.5) for first, second in itertools.pairwise(words)]
        for word in words:
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

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]


class LiteLLMEmbedder:
    """Embeddings from any LiteLLM embedding model (`openai/text-embedding-3-small`, `ollama/nomic-embed-text`)."""

    def __init__(self, model: str, dimensions: int, *, timeout: float = 30.0) -> None:
        self.name = model
        self.dimensions = dimensions
        self._timeout = timeout

    async def embed(self, texts: list[str]) -> list[list[float]]:
        from prism.ai.litellm_setup import litellm_module

        litellm = litellm_module()
        response = await litellm.aembedding(model=self.name, input=texts, timeout=self._timeout, num_retries=2)
        return [_normalized([float(value) for value in item["embedding"]]) for item in response.data]


def build_embedder(model: str | None, dimensions: int | None = None) -> Embedder:
    """The offline embedder when `model` is None, else LiteLLM's (its vector size must be given or is probed)."""
    if model is None:
        return HashedEmbedder()
    return LiteLLMEmbedder(model, dimensions or 0)
