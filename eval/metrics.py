"""Precision and recall of "warn when the score reaches the threshold", and the thresholds worth knowing."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Confusion", "Scored", "best_threshold", "confusion", "curve", "thresholds"]


@dataclass(frozen=True)
class Scored:
    """One pair's similarity score and whether it truly is a duplicate."""

    score: float
    is_duplicate: bool


@dataclass(frozen=True)
class Confusion:
    """The counts of one threshold: warnings that were right or wrong, duplicates missed, non-duplicates left alone."""

    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def precision(self) -> float:
        """Of the pairs warned of, the share that are duplicates (1 when nothing is warned of: no false alarm)."""
        warned = self.true_positives + self.false_positives
        return self.true_positives / warned if warned else 1.0

    @property
    def recall(self) -> float:
        """Of the duplicates, the share warned of (0 when there are none: no figure to claim)."""
        duplicates = self.true_positives + self.false_negatives
        return self.true_positives / duplicates if duplicates else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def confusion(scored: Iterable[Scored], threshold: float) -> Confusion:
    """The counts when every pair scoring at least `threshold` is warned of (as createRequirement does)."""
    tp = fp = fn = tn = 0
    for item in scored:
        warned = item.score >= threshold
        if item.is_duplicate:
            tp, fn = (tp + 1, fn) if warned else (tp, fn + 1)
        else:
            fp, tn = (fp + 1, tn) if warned else (fp, tn + 1)
    return Confusion(threshold, tp, fp, fn, tn)


def thresholds(start: float = 0.30, stop: float = 0.95, step: float = 0.05) -> list[float]:
    """Evenly spaced thresholds for the curve, rounded so they print as written."""
    count = round((stop - start) / step)
    return [round(start + i * step, 4) for i in range(count + 1)]


def curve(scored: Sequence[Scored], points: Sequence[float]) -> list[Confusion]:
    """The precision/recall curve: the counts at each threshold of `points`."""
    return [confusion(scored, threshold) for threshold in points]


def best_threshold(scored: Sequence[Scored], *, min_precision: float = 0.9) -> Confusion:
    """The threshold with the best recall among those keeping precision >= `min_precision` (ties: the highest
    threshold); when none does, the one with the best F1. Candidates are the scores themselves, the only points
    where the counts change."""
    candidates = [confusion(scored, score) for score in sorted({item.score for item in scored})]
    if not candidates:
        return confusion(scored, 1.0)
    precise = [c for c in candidates if c.precision >= min_precision and c.true_positives]
    if precise:
        return max(precise, key=lambda c: (c.recall, c.threshold))
    return max(candidates, key=lambda c: (c.f1, c.threshold))
