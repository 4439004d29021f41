"""Scores pairs through PRISM's real index path: embed, upsert into Qdrant (local mode in a temporary directory),
search with the tenant and product filter, as createRequirement's duplicate check does."""

import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from eval.pairs import LabelledPair
from prism.ai.duplicates import DuplicateCheck
from prism.ai.embeddings import Embedder
from prism.ai.retrieval import REQUIREMENT
from prism.ai.vectors import IndexedText, VectorIndex

__all__ = ["RANKED", "PairScore", "ScoringRun", "score_pairs"]

_NAMESPACE = uuid.UUID("6d1f4f9e-8a53-4c1b-9a55-3f1b8c0e2a71")


@dataclass(frozen=True)
class PairScore:
    """The similarity the index gave one pair, and the second stage's word coverage (prism.ai.duplicates)."""

    pair: LabelledPair
    score: float
    coverage: float


RANKED = 3
"""How deep the ranking looks: createRequirement names at most 3 likely duplicates."""


@dataclass(frozen=True)
class ScoringRun:
    """Every pair's score, each duplicate's rank among every text of the set, and how long it all took."""

    scores: list[PairScore]
    ranks: dict[str, int | None]
    """For each duplicate pair, where its `b` came in a search of `a` over every `b` of the set (1 is first; None:
    not in the first RANKED), as similarRequirements would list them."""
    candidates: int
    index_seconds: float
    search_seconds: float


async def score_pairs(embedder: Embedder, pairs: Sequence[LabelledPair]) -> ScoringRun:
    """Each pair's `b` is indexed as a requirement alone in its own product; `a` is then searched within that
    product (the duplicate check searches the requirement's product), and the best hit's score is the pair's.
    Every distinct `b` is also indexed together in one more product, where each duplicate's `a` is searched to see
    where its `b` ranks among them all."""
    organization = uuid.uuid5(_NAMESPACE, "evaluation")
    products = {pair.id: uuid.uuid5(_NAMESPACE, f"product {pair.id}") for pair in pairs}
    pool = uuid.uuid5(_NAMESPACE, "every text")
    texts = sorted({pair.b for pair in pairs})
    check = DuplicateCheck(embedder)
    with tempfile.TemporaryDirectory(prefix="prism-eval-") as directory:
        index = VectorIndex(embedder, url=None, path=directory, collection="eval")
        try:
            started = time.perf_counter()
            await index.upsert(
                [
                    IndexedText(uuid.uuid5(_NAMESPACE, pair.id), organization, products[pair.id], REQUIREMENT, pair.b)
                    for pair in pairs
                ]
                + [IndexedText(_text_id(text), organization, pool, REQUIREMENT, text) for text in texts]
            )
            indexed = time.perf_counter()
            scores: list[PairScore] = []
            for pair in pairs:
                hits = await index.search(organization, pair.a, limit=1, product_id=products[pair.id], kind=REQUIREMENT)
                if len(hits) != 1:
                    raise RuntimeError(f"pair {pair.id}: the index returned {len(hits)} hits for its product, not 1")
                scores.append(PairScore(pair, hits[0].score, await check.coverage(pair.a, pair.b)))
            ranks: dict[str, int | None] = {}
            for pair in pairs:
                if pair.is_duplicate:
                    # The same text elsewhere in the set is not a match to count: the search excludes it, as
                    # similarRequirements(id:) excludes the requirement itself.
                    hits = await index.search(
                        organization, pair.a, limit=RANKED, product_id=pool, exclude=_text_id(pair.a), kind=REQUIREMENT
                    )
                    found = [hit.id for hit in hits]
                    ranks[pair.id] = found.index(_text_id(pair.b)) + 1 if _text_id(pair.b) in found else None
            searched = time.perf_counter()
        finally:
            await index.close()
    return ScoringRun(scores, ranks, len(texts), indexed - started, searched - indexed)


def _text_id(text: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"text {text}")
