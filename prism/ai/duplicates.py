"""Likely duplicates: two requirements whose vectors are close, then checked word by word.

The first stage is the index's cosine: cheap, and good at "about the same thing". It cannot tell "Archive completed
sprints" from "Delete completed sprints": one word differs, and the rest pulls the vectors together. The second
stage asks a narrower question of the few candidates the first lets through: does every content word of the
shorter text have a close counterpart among the other's words ("archive" has none in "delete completed sprints";
"comment", "requirement" have "comments", "requirements" in "add comments to requirements")? The word vectors
come from the same embedder, so a trained model matches synonyms ("cancel" and "cancellation", "PNG" and
"image") and the offline one matches forms and its synonym table. Both thresholds are chosen per embedder on the
development half of `make eval`'s pairs and documented in docs/ai.md.
"""

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from prism.ai.embeddings import Embedder, HashedEmbedder
from prism.ai.minilm import MINILM_NAME
from prism.ai.offline_terms import STOP_WORDS

__all__ = [
    "DEFAULT_POLICY",
    "DOCUMENTED_POLICIES",
    "DuplicateCheck",
    "DuplicatePolicy",
    "content_words",
    "duplicate_policy",
]

_WORD = re.compile(r"[a-z0-9]+")
_FUNCTION_WORDS = frozenset(
    [
        "about",
        "all",
        "allow",
        "allows",
        "any",
        "each",
        "every",
        "into",
        "let",
        "lets",
        "me",
        "my",
        "one",
        "onto",
        "our",
        "people",
        "per",
        "person",
        "some",
        "someone",
        "them",
        "they",
        "via",
        "your",
    ]
)
"""Words that carry no request of their own, beyond the embedder's stop words: "let users ...", "all my ..."."""


def content_words(text: str) -> list[str]:
    """The words of a text that say what it asks for: lower-cased, without stop or function words, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS and word not in _FUNCTION_WORDS:
            seen.setdefault(word)
    return list(seen)


@dataclass(frozen=True)
class DuplicatePolicy:
    """When a candidate counts as a likely duplicate: its cosine reaches `threshold` and, unless `coverage` is 0,
    the least-matched content word of the shorter text reaches `coverage` against the other's words."""

    threshold: float
    coverage: float = 0.0


DOCUMENTED_POLICIES: dict[str, DuplicatePolicy] = {
    HashedEmbedder.name: DuplicatePolicy(threshold=0.52, coverage=0.21),
    MINILM_NAME: DuplicatePolicy(threshold=0.517, coverage=0.407),
}
"""Each embedder's documented policy, chosen on the development half of eval/pairs.jsonl (docs/ai.md)."""

DEFAULT_POLICY = DuplicatePolicy(threshold=0.75, coverage=0.0)
"""For an embedder nobody measured (a LiteLLM model): cosine alone. Measure it with `make eval` and set
PRISM_AI_DUPLICATE_THRESHOLD and PRISM_AI_DUPLICATE_COVERAGE from its figures."""


def duplicate_policy(embedder: str, threshold: float | None = None, coverage: float | None = None) -> DuplicatePolicy:
    """The policy of `embedder`, with the settings' threshold and coverage where they are given."""
    documented = DOCUMENTED_POLICIES.get(embedder, DEFAULT_POLICY)
    return DuplicatePolicy(
        threshold=documented.threshold if threshold is None else threshold,
        coverage=documented.coverage if coverage is None else coverage,
    )


class DuplicateCheck:
    """The second stage: word coverage between two texts, with the embedder's word vectors kept (a bounded cache:
    a backlog's vocabulary is small, and the same words come back in every check)."""

    def __init__(self, embedder: Embedder, *, cache_size: int = 20_000) -> None:
        self.embedder = embedder
        self._cache_size = cache_size
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()

    async def _word_vectors(self, words: Sequence[str]) -> dict[str, list[float]]:
        # Taken from the cache before the await: another check may evict while this one embeds.
        found = {word: self._vectors[word] for word in dict.fromkeys(words) if word in self._vectors}
        missing = [word for word in dict.fromkeys(words) if word not in found]
        if missing:
            found.update(zip(missing, await self.embedder.embed(missing), strict=True))
        for word, vector in found.items():
            self._vectors[word] = vector
            self._vectors.move_to_end(word)
        while len(self._vectors) > self._cache_size:
            self._vectors.popitem(last=False)
        return found

    async def coverage(self, first: str, second: str) -> float:
        """How well the shorter text's content words are found in the other's: the least, over its words, of the
        best cosine with a word of the other (1: each found as written; 0 when either text has no content word)."""
        words_first, words_second = content_words(first), content_words(second)
        if not words_first or not words_second:
            return 0.0
        shorter, longer = (
            (words_first, words_second) if len(words_first) <= len(words_second) else (words_second, words_first)
        )
        vectors = await self._word_vectors([*shorter, *longer])
        return min(
            max(sum(a * b for a, b in zip(vectors[word], vectors[other], strict=True)) for other in longer)
            for word in shorter
        )

    async def likely_duplicate(self, policy: DuplicatePolicy, first: str, second: str, score: float) -> bool:
        """Whether two texts whose vectors are `score` similar are a likely duplicate under `policy`."""
        if score < policy.threshold:
            return False
        return policy.coverage <= 0 or await self.coverage(first, second) >= policy.coverage
