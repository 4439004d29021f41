"""Likely duplicates: two requirements whose vectors are close, then checked word by word.

The first stage is the index's cosine: cheap, and good at "about the same thing". It cannot tell "Archive completed
sprints" from "Delete completed sprints": one word differs, and the rest pulls the vectors together. The second
stage asks a narrower question of the few candidates the first lets through: does every content word of the
shorter text have a close counterpart among the other's words ("archive" has none in "delete completed sprints";
"comment", "requirement" have "comments", "requirements" in "add comments to requirements")? The word vectors
come from the same embedder, so a trained model matches synonyms ("cancel" and "cancellation", "PNG" and
"image") and the offline one matches forms and its synonym table. Both thresholds are chosen per embedder on the
development half of `make eval`'s pairs and documented in docs/ai.md.

The check is bounded whatever the texts: it embeds and compares at most `CHECKED_WORDS` distinct content words of
each text (the first ones: the title's come first), with one float32 matrix product, and keeps word vectors per
organization in a bounded cache of float32 arrays.
"""

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

import numpy as np
import numpy.typing as npt

from prism.ai.embeddings import Embedder, HashedEmbedder
from prism.ai.minilm import MINILM_NAME
from prism.ai.mpnet import MPNET_NAME
from prism.ai.offline_terms import STOP_WORDS

__all__ = [
    "CHECKED_WORDS",
    "DEFAULT_POLICY",
    "DOCUMENTED_POLICIES",
    "DuplicateCheck",
    "DuplicatePolicy",
    "content_words",
    "duplicate_policy",
]

CHECKED_WORDS = 256
"""The most distinct content words of each text the word check embeds and compares: the first ones, so a title
(255 characters, at most 128 words) is always among them, and a requirement of usual length is read whole. A checked
word the other text has as written, anywhere in it, counts as found. Two maximal texts cost at most 512 word vectors
and one 256 x 256 product, not 12,000 x 12,000 comparisons."""

INLINE_WORK = 20_000
"""The most characters two texts may hold together for their check to run on the event loop (about a millisecond's
work); the check of longer texts reads their words, converts and compares their vectors in worker threads, so two
long requirements never hold the loop."""

_WORD = re.compile(r"\w+")
_Result = TypeVar("_Result")
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
    """The words of a text that say what it asks for: lower-cased, without stop or function words, each once.
    Words are runs of Unicode letters and digits (`\\w+`), so Cyrillic, Greek or accented words are words too (a text
    in a script without spaces, Chinese or Japanese, reads as one word per run)."""
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
    MPNET_NAME: DuplicatePolicy(threshold=0.706, coverage=0.302),
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


async def _on_loop_unless(big: bool, work: Callable[..., _Result], *arguments: object) -> _Result:
    """`work(*arguments)`, in a worker thread when `big`."""
    return await asyncio.to_thread(work, *arguments) if big else work(*arguments)


@dataclass(frozen=True)
class _Compared:
    """The words a coverage compares: the shorter text's checked words, the other's candidates, and which checked
    words the other text has as written (anywhere in it, not only among the candidates)."""

    checked: list[str]
    candidates: list[str]
    written: list[bool]


def _compared(first: str, second: str) -> _Compared:
    words_first, words_second = content_words(first), content_words(second)
    shorter, longer = (
        (words_first, words_second) if len(words_first) <= len(words_second) else (words_second, words_first)
    )
    checked, present = shorter[:CHECKED_WORDS], set(longer)
    return _Compared(checked, longer[:CHECKED_WORDS], [word in present for word in checked])


Vector = npt.NDArray[np.float32]
"""A word's vector, as the cache keeps it: float32 (2 KB for the offline embedder's 512 dimensions)."""


def _float32_rows(vectors: list[list[float]]) -> list[Vector]:
    # One array per word, each owning its data: a row view would keep its whole batch alive in the cache.
    return [np.array(vector, dtype=np.float32) for vector in vectors]


def _least_best(checked: list[Vector], candidates: list[Vector], written: list[bool]) -> float:
    """The least, over the checked words, of each one's best cosine with a candidate (1 when found as written)."""
    best = (np.stack(checked) @ np.stack(candidates).T).max(axis=1)
    # A word found as written is covered whatever its vector (one the embedder cannot read is all zeros).
    best[np.array(written)] = 1.0
    return float(best.min())


class DuplicateCheck:
    """The second stage: word coverage between two texts, with the embedder's word vectors kept (a bounded cache:
    a backlog's vocabulary is small, and the same words come back in every check).

    The cache is keyed by organization as well as word, so whether one organization's check embeds a word (with a
    remote embedder, a call and its latency) never depends on the words another organization's checks used."""

    def __init__(self, embedder: Embedder, *, cache_size: int = 10_000) -> None:
        self.embedder = embedder
        self._cache_size = cache_size
        self._vectors: OrderedDict[tuple[UUID | None, str], Vector] = OrderedDict()

    async def _word_vectors(
        self, organization_id: UUID | None, words: Sequence[str], *, big: bool = False
    ) -> dict[str, Vector]:
        # Taken from the cache before the await: another check may evict while this one embeds.
        wanted = list(dict.fromkeys(words))
        found = {word: self._vectors[key] for word in wanted if (key := (organization_id, word)) in self._vectors}
        missing = [word for word in wanted if word not in found]
        if missing:
            embedded = await self.embedder.embed(missing)
            found.update(zip(missing, await _on_loop_unless(big, _float32_rows, embedded), strict=True))
        for word, vector in found.items():
            key = (organization_id, word)
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
        while len(self._vectors) > self._cache_size:
            self._vectors.popitem(last=False)
        return found

    async def coverage(self, first: str, second: str, *, organization_id: UUID | None = None) -> float:
        """How well the shorter text's content words are found in the other's: the least, over its words, of the
        best cosine with a word of the other (1 for a word the other has as written). 1 when the shorter text has
        no content word (stop words only): nothing is missing, and the cosine decides. Each text is read up to its
        first `CHECKED_WORDS` content words; `organization_id` scopes the cached word vectors."""
        big = len(first) + len(second) > INLINE_WORK
        compared = await _on_loop_unless(big, _compared, first, second)
        if not compared.checked:
            return 1.0
        vectors = await self._word_vectors(organization_id, [*compared.checked, *compared.candidates], big=big)
        return await _on_loop_unless(
            big,
            _least_best,
            [vectors[word] for word in compared.checked],
            [vectors[word] for word in compared.candidates],
            compared.written,
        )

    async def likely_duplicate(
        self, policy: DuplicatePolicy, first: str, second: str, score: float, *, organization_id: UUID | None = None
    ) -> bool:
        """Whether two texts whose vectors are `score` similar are a likely duplicate under `policy`, the word
        vectors cached for `organization_id` (the organization whose texts these are)."""
        if score < policy.threshold:
            return False
        return (
            policy.coverage <= 0
            or await self.coverage(first, second, organization_id=organization_id) >= policy.coverage
        )
