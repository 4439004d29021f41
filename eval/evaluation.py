"""One embedder's evaluation: scores through the index, then precision and recall at the documented threshold, the
best threshold of the tuning half checked on the held-out half, and the curve."""

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean

from eval.metrics import Confusion, Scored, best_threshold, confusion, curve, thresholds
from eval.pairs import LABELS, STYLES, LabelledPair
from eval.scoring import PairScore, score_pairs
from prism.ai.embeddings import Embedder

__all__ = ["TARGET_PRECISION", "TARGET_RECALL", "EmbedderEvaluation", "evaluate", "summarise"]

TARGET_PRECISION = 0.9
TARGET_RECALL = 0.8


@dataclass(frozen=True)
class EmbedderEvaluation:
    """What one embedder achieved on the labelled pairs."""

    embedder: str
    dimensions: int
    pairs: int
    threshold: float
    at_threshold: dict[str, Confusion]
    """The documented threshold's counts on "all", "tune" and "holdout"."""
    tuned: Confusion
    """The best threshold found on the tuning half (see metrics.best_threshold)."""
    tuned_on_holdout: Confusion
    """That threshold applied to the held-out half: the figure that was not fitted."""
    recall_by_style: dict[str, tuple[int, int]]
    """At the documented threshold, per style of duplicate: (found, of how many)."""
    curve: list[Confusion]
    mean_score: dict[str, float]
    scores: list[PairScore]
    ranks: dict[str, int | None]
    """Each duplicate's rank among every text of the set (scoring.ScoringRun.ranks)."""
    candidates: int
    index_seconds: float
    search_seconds: float

    @property
    def meets_target(self) -> bool:
        """Precision >= 0.9 at recall >= 0.8 at the documented threshold, on every pair and on each half."""
        return all(c.precision >= TARGET_PRECISION and c.recall >= TARGET_RECALL for c in self.at_threshold.values())

    def ranked_within(self, depth: int) -> int:
        """How many duplicates came within the first `depth` matches of a search over every text."""
        return len([rank for rank in self.ranks.values() if rank is not None and rank <= depth])

    def mistakes(self) -> tuple[list[PairScore], list[PairScore]]:
        """At the documented threshold: the non-duplicates warned of, and the duplicates missed."""
        false_alarms = [s for s in self.scores if not s.pair.is_duplicate and s.score >= self.threshold]
        missed = [s for s in self.scores if s.pair.is_duplicate and s.score < self.threshold]
        return false_alarms, missed


def _scored(scores: Sequence[PairScore], split: str | None = None) -> list[Scored]:
    return [Scored(s.score, s.pair.is_duplicate) for s in scores if split is None or s.pair.split == split]


def summarise(
    embedder: str,
    dimensions: int,
    scores: list[PairScore],
    threshold: float,
    *,
    ranks: dict[str, int | None] | None = None,
    candidates: int = 0,
    index_seconds: float = 0.0,
    search_seconds: float = 0.0,
) -> EmbedderEvaluation:
    """The figures of a set of scored pairs."""
    every, tune, holdout = _scored(scores), _scored(scores, "tune"), _scored(scores, "holdout")
    tuned = best_threshold(tune, min_precision=TARGET_PRECISION)
    by_label = {label: [s.score for s in scores if s.pair.label == label] for label in LABELS}
    return EmbedderEvaluation(
        embedder=embedder,
        dimensions=dimensions,
        pairs=len(scores),
        threshold=threshold,
        at_threshold={
            "all": confusion(every, threshold),
            "tune": confusion(tune, threshold),
            "holdout": confusion(holdout, threshold),
        },
        tuned=tuned,
        tuned_on_holdout=confusion(holdout, tuned.threshold),
        recall_by_style={
            style: (
                len([s for s in scores if s.pair.style == style and s.score >= threshold]),
                len([s for s in scores if s.pair.style == style]),
            )
            for style in STYLES
        },
        curve=curve(every, thresholds()),
        mean_score={label: round(mean(values), 4) for label, values in by_label.items() if values},
        scores=scores,
        ranks=ranks or {},
        candidates=candidates,
        index_seconds=index_seconds,
        search_seconds=search_seconds,
    )


async def evaluate(embedder: Embedder, pairs: Sequence[LabelledPair], threshold: float) -> EmbedderEvaluation:
    """Score `pairs` through the index with `embedder` and summarise them at `threshold`."""
    run = await score_pairs(embedder, pairs)
    return summarise(
        embedder.name,
        embedder.dimensions,
        run.scores,
        threshold,
        ranks=run.ranks,
        candidates=run.candidates,
        index_seconds=run.index_seconds,
        search_seconds=run.search_seconds,
    )
