"""The evaluation as a readable table and as JSON."""

from dataclasses import asdict
from typing import Any

from eval.evaluation import TARGET_PRECISION, TARGET_RECALL, EmbedderEvaluation
from eval.metrics import Confusion

__all__ = ["as_json", "as_text"]

_SPLITS = {"all": "all pairs", "tune": "dev half", "holdout": "test half"}


def _counts(c: Confusion) -> str:
    return (
        f"precision {c.precision:.3f}  recall {c.recall:.3f}  F1 {c.f1:.3f}  "
        f"(TP {c.true_positives} FP {c.false_positives} FN {c.false_negatives} TN {c.true_negatives})"
    )


def as_text(result: EmbedderEvaluation, *, extra: str = "") -> str:
    """One embedder's figures: the policy on each half, each stage tuned on dev and judged on test, the curves,
    mean scores and the policy's mistakes."""
    policy = result.policy
    check = f", word check at coverage {policy.coverage:.3f}" if policy.coverage > 0 else ", no word check"
    lines = [
        f"== {result.embedder} ({result.dimensions} dimensions, {result.pairs} pairs){extra}",
        f"   indexing {result.index_seconds:.2f} s, searching and checking {result.search_seconds:.2f} s "
        f"({1000 * result.search_seconds / max(result.pairs, 1):.1f} ms a pair, embedding included)",
        f"   at the documented policy (cosine >= {policy.threshold:.3f}{check}):",
    ]
    lines += [f"     {_SPLITS[split]:<10} {_counts(c)}" for split, c in result.at_threshold.items()]
    lines.append(
        "     duplicates found, by style: "
        + ", ".join(f"{style} {found}/{total}" for style, (found, total) in result.recall_by_style.items())
    )
    verdict = "meets" if result.meets_target else "misses"
    lines.append(
        f"   target precision >= {TARGET_PRECISION} at recall >= {TARGET_RECALL} (all pairs and test half): "
        f"{verdict} it"
    )
    for stage in result.stages:
        chosen = f"threshold {stage.dev.threshold:.4f}" + (
            f", coverage {stage.coverage:.4f}" if stage.coverage > 0 else ""
        )
        lines.append(f"   {stage.name}, chosen on the dev half: {chosen}")
        lines.append(f"     dev half   {_counts(stage.dev)}")
        lines.append(f"     test half  {_counts(stage.test)}")
    if result.ranks:
        first, first_3, total = result.ranked_within(1), result.ranked_within(3), len(result.ranks)
        lines.append(
            f"   ranking (a search of each duplicate's text over all {result.candidates} texts): "
            f"its duplicate first {first}/{total}, in the first 3 {first_3}/{total}"
        )
    lines.append("   mean score: " + ", ".join(f"{label} {value:.3f}" for label, value in result.mean_score.items()))
    lines.append(
        "   mean word coverage: " + ", ".join(f"{label} {value:.3f}" for label, value in result.mean_coverage.items())
    )
    lines.append("   curve (test half): threshold  cosine: precision recall  checked: precision recall")
    lines += [
        f"     {c.threshold:.2f}  {c.precision:.3f} {c.recall:.3f}  {k.precision:.3f} {k.recall:.3f}"
        for c, k in zip(result.curve["cosine"], result.curve["checked"], strict=True)
    ]
    false_alarms, missed = result.mistakes()
    lines.append(f"   warned of but not duplicates ({len(false_alarms)}):")
    lines += [f"     {s.score:.3f}/{s.coverage:.3f} {s.pair.id}: {s.pair.a!r} / {s.pair.b!r}" for s in false_alarms]
    lines.append(f"   duplicates missed ({len(missed)}):")
    lines += [f"     {s.score:.3f}/{s.coverage:.3f} {s.pair.id}: {s.pair.a!r} / {s.pair.b!r}" for s in missed]
    return "\n".join(lines)


def _confusion(c: Confusion) -> dict[str, Any]:
    return asdict(c) | {"precision": round(c.precision, 4), "recall": round(c.recall, 4), "f1": round(c.f1, 4)}


def as_json(result: EmbedderEvaluation) -> dict[str, Any]:
    """One embedder's figures and every pair's score and coverage, for machines."""
    return {
        "embedder": result.embedder,
        "dimensions": result.dimensions,
        "pairs": result.pairs,
        "threshold": result.policy.threshold,
        "coverage": result.policy.coverage,
        "meets_target": result.meets_target,
        "at_threshold": {split: _confusion(c) for split, c in result.at_threshold.items()},
        "stages": [
            {"name": s.name, "coverage": s.coverage, "dev": _confusion(s.dev), "test": _confusion(s.test)}
            for s in result.stages
        ],
        "recall_by_style": {style: {"found": f, "of": t} for style, (f, t) in result.recall_by_style.items()},
        "curve": {name: [_confusion(c) for c in points] for name, points in result.curve.items()},
        "ranking": {
            "candidates": result.candidates,
            "duplicates": len(result.ranks),
            "first": result.ranked_within(1),
            "first_3": result.ranked_within(3),
        },
        "mean_score": result.mean_score,
        "mean_coverage": result.mean_coverage,
        "index_seconds": round(result.index_seconds, 3),
        "search_seconds": round(result.search_seconds, 3),
        "scores": {s.pair.id: round(s.score, 4) for s in result.scores},
        "coverages": {s.pair.id: round(s.coverage, 4) for s in result.scores},
    }
