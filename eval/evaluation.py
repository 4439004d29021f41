"""One embedder's evaluation: scores through the index and the word check, then precision and recall at the
documented policy, and each stage (cosine alone; cosine and the word check) tuned on the development half and
judged on the held-out test half."""

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean

from eval.metrics import Checked, Confusion, best_policy, best_threshold, confusion, curve, gated, thresholds
from eval.pairs import LABELS, STYLES, LabelledPair
from eval.scoring import PairScore, score_pairs
from prism.ai.duplicates import DuplicatePolicy
from prism.ai.embeddings import Embedder

__all__ = ["TARGET_PRECISION", "TARGET_RECALL", "EmbedderEvaluation", "StageEvaluation", "evaluate", "summarise"]

TARGET_PRECISION = 0.9
TARGET_RECALL = 0.8
DEV, TEST = "tune", "holdout"
"""The two halves of eval/pairs.jsonl: thresholds are chosen on the development half, judged on the test half."""


@dataclass(frozen=True)
class StageEvaluation:
    """One way of deciding, its threshold (and coverage) chosen on the development half, judged on the test half."""

    name: str
    coverage: float
    """The word check's coverage chosen on the development half (0: no check)."""
    dev: Confusion
    """The chosen threshold's counts on the development half (see metrics.best_threshold / best_policy)."""
    test: Confusion
    """The same threshold and coverage on the test half: the figure that was not fitted."""


@dataclass(frozen=True)
class EmbedderEvaluation:
    """What one embedder achieved on the labelled pairs."""

    embedder: str
    dimensions: int
    pairs: int
    policy: DuplicatePolicy
    """The policy judged: the embedder's documented one unless --threshold or --coverage said otherwise."""
    at_threshold: dict[str, Confusion]
    """The policy's counts on "all", "tune" (development) and "holdout" (test)."""
    recall_by_style: dict[str, tuple[int, int]]
    """At the policy, per style of duplicate, on all pairs: (found, of how many)."""
    stages: list[StageEvaluation]
    """Cosine alone, and cosine then the word check, each tuned on the development half."""
    curve: dict[str, list[Confusion]]
    """By cosine threshold, on the test half: "cosine" alone, and "checked" at the policy's coverage."""
    mean_score: dict[str, float]
    mean_coverage: dict[str, float]
    scores: list[PairScore]
    ranks: dict[str, int | None]
    """Each duplicate's rank among every text of the set (scoring.ScoringRun.ranks)."""
    candidates: int
    index_seconds: float
    search_seconds: float

    @property
    def meets_target(self) -> bool:
        """Precision >= 0.9 at recall >= 0.8 at the policy, on every pair and on the test half."""
        return all(
            self.at_threshold[split].precision >= TARGET_PRECISION and self.at_threshold[split].recall >= TARGET_RECALL
            for split in ("all", TEST)
        )

    def ranked_within(self, depth: int) -> int:
        """How many duplicates came within the first `depth` matches of a search over every text."""
        return len([rank for rank in self.ranks.values() if rank is not None and rank <= depth])

    def warned(self, score: PairScore) -> bool:
        """Whether the policy warns of this pair."""
        return score.score >= self.policy.threshold and (
            self.policy.coverage <= 0 or score.coverage >= self.policy.coverage
        )

    def mistakes(self) -> tuple[list[PairScore], list[PairScore]]:
        """At the policy: the non-duplicates warned of, and the duplicates missed."""
        false_alarms = [s for s in self.scores if not s.pair.is_duplicate and self.warned(s)]
        missed = [s for s in self.scores if s.pair.is_duplicate and not self.warned(s)]
        return false_alarms, missed


def _checked(scores: Sequence[PairScore], split: str | None = None) -> list[Checked]:
    return [Checked(s.score, s.coverage, s.pair.is_duplicate) for s in scores if split is None or s.pair.split == split]


def _at_policy(scores: Sequence[PairScore], policy: DuplicatePolicy) -> Confusion:
    return confusion(gated(_checked(scores), policy.coverage), policy.threshold)


def summarise(
    embedder: str,
    dimensions: int,
    scores: list[PairScore],
    policy: DuplicatePolicy,
    *,
    ranks: dict[str, int | None] | None = None,
    candidates: int = 0,
    index_seconds: float = 0.0,
    search_seconds: float = 0.0,
) -> EmbedderEvaluation:
    """The figures of a set of scored pairs."""
    halves = {"all": list(scores), DEV: [s for s in scores if s.pair.split == DEV]}
    halves[TEST] = [s for s in scores if s.pair.split == TEST]
    dev, test = _checked(scores, DEV), _checked(scores, TEST)
    cosine = best_threshold(gated(dev, 0.0), min_precision=TARGET_PRECISION)
    coverage, checked = best_policy(dev, min_precision=TARGET_PRECISION)
    stages = [
        StageEvaluation("cosine", 0.0, cosine, confusion(gated(test, 0.0), cosine.threshold)),
        StageEvaluation("cosine + word check", coverage, checked, confusion(gated(test, coverage), checked.threshold)),
    ]
    return EmbedderEvaluation(
        embedder=embedder,
        dimensions=dimensions,
        pairs=len(scores),
        policy=policy,
        at_threshold={split: _at_policy(part, policy) for split, part in halves.items()},
        recall_by_style={
            style: (
                _at_policy([s for s in scores if s.pair.style == style], policy).true_positives,
                len([s for s in scores if s.pair.style == style]),
            )
            for style in STYLES
        },
        stages=stages,
        curve={
            "cosine": curve(gated(test, 0.0), thresholds()),
            "checked": curve(gated(test, policy.coverage), thresholds()),
        },
        mean_score={
            label: round(mean(s.score for s in scores if s.pair.label == label), 4)
            for label in LABELS
            if any(s.pair.label == label for s in scores)
        },
        mean_coverage={
            label: round(mean(s.coverage for s in scores if s.pair.label == label), 4)
            for label in LABELS
            if any(s.pair.label == label for s in scores)
        },
        scores=scores,
        ranks=ranks or {},
        candidates=candidates,
        index_seconds=index_seconds,
        search_seconds=search_seconds,
    )


async def evaluate(embedder: Embedder, pairs: Sequence[LabelledPair], policy: DuplicatePolicy) -> EmbedderEvaluation:
    """Score `pairs` through the index and the word check with `embedder` and summarise them at `policy`."""
    run = await score_pairs(embedder, pairs)
    return summarise(
        embedder.name,
        embedder.dimensions,
        run.scores,
        policy,
        ranks=run.ranks,
        candidates=run.candidates,
        index_seconds=run.index_seconds,
        search_seconds=run.search_seconds,
    )
