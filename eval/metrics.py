"""Precision and recall of "warn when the score reaches the threshold", and the thresholds worth knowing."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Checked",
    "Confusion",
    "Scored",
    "best_policy",
    "best_threshold",
    "confusion",
    "curve",
    "gated",
    "thresholds",
]


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


@dataclass(frozen=True)
class Checked:
    """One pair's cosine, its second-stage word coverage, and whether it truly is a duplicate."""

    score: float
    coverage: float
    is_duplicate: bool


def gated(checked: Iterable[Checked], coverage: float) -> list[Scored]:
    """The pairs as the two-stage check sees them at `coverage`: a pair whose coverage falls short is never warned
    of (its score becomes -1), the others keep their cosine, so `confusion` at a threshold counts both stages. A
    coverage of 0 or less is no check at all (as in prism.ai.duplicates)."""
    return [
        Scored(item.score if coverage <= 0 or item.coverage >= coverage else -1.0, item.is_duplicate)
        for item in checked
    ]


def best_policy(checked: Sequence[Checked], *, min_precision: float = 0.9) -> tuple[float, Confusion]:
    """The coverage and threshold with the best recall at precision >= `min_precision` (ties: the higher
    threshold, then the higher coverage); when none is that precise, the best F1. Candidates are the pairs' own
    coverages (and 0, no check), and for each its best threshold (`best_threshold`)."""
    options: list[tuple[float, Confusion]] = []
    for coverage in sorted({0.0, *(item.coverage for item in checked if item.coverage > 0)}):
        scored = gated(checked, coverage)
        candidates = [confusion(scored, s.score) for s in scored if s.score >= 0]
        options += [(coverage, c) for c in candidates]
    if not options:
        return 0.0, confusion(gated(checked, 0.0), 1.0)
    precise = [(cov, c) for cov, c in options if c.precision >= min_precision and c.true_positives]
    if precise:
        return max(precise, key=lambda option: (option[1].recall, option[1].threshold, option[0]))
    return max(options, key=lambda option: (option[1].f1, option[1].threshold, option[0]))
