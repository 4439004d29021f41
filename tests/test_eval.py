"""`make eval`: the labelled pairs are sound, and precision and recall are counted right through the real index."""

import json
from pathlib import Path

import pytest

from eval.__main__ import main
from eval.metrics import Checked, Scored, best_policy, best_threshold, confusion, curve, gated
from eval.pairs import LABELS, SPLITS, STYLES, load_pairs


def test_the_labelled_set_has_at_least_eighty_pairs_of_every_label_in_both_halves() -> None:
    pairs = load_pairs()
    assert len(pairs) >= 80
    for label in LABELS:
        for split in SPLITS:
            assert len([p for p in pairs if p.label == label and p.split == split]) >= 10, (label, split)
    for style in STYLES:
        assert len([p for p in pairs if p.style == style]) >= 20, style
    assert len({(p.a, p.b) for p in pairs}) == len(pairs)  # no pair twice
    assert all(p.a != p.b for p in pairs)


def test_precision_and_recall_count_warnings_at_or_above_the_threshold() -> None:
    scored = [
        Scored(0.95, True),
        Scored(0.80, True),
        Scored(0.75, False),  # at the threshold: warned of, a false alarm
        Scored(0.74, True),  # just under: missed
        Scored(0.40, False),
        Scored(0.10, False),
    ]
    at = confusion(scored, 0.75)
    assert (at.true_positives, at.false_positives, at.false_negatives, at.true_negatives) == (2, 1, 1, 2)
    assert at.precision == pytest.approx(2 / 3)
    assert at.recall == pytest.approx(2 / 3)
    assert at.f1 == pytest.approx(2 / 3)
    nothing = confusion(scored, 0.99)
    assert (nothing.true_positives, nothing.false_positives, nothing.precision, nothing.recall) == (0, 0, 1.0, 0.0)
    assert [(c.threshold, c.true_positives, c.false_positives) for c in curve(scored, [0.1, 0.76, 0.9])] == [
        (0.1, 3, 3),
        (0.76, 2, 0),
        (0.9, 1, 0),
    ]


def test_the_best_threshold_keeps_precision_and_takes_the_most_recall() -> None:
    scored = [Scored(0.95, True), Scored(0.80, True), Scored(0.75, False), Scored(0.74, True), Scored(0.40, False)]
    best = best_threshold(scored, min_precision=0.9)
    assert (best.threshold, best.true_positives, best.false_positives) == (0.80, 2, 0)
    # When no threshold is precise enough, the best F1 is taken.
    noisy = [Scored(0.9, False), Scored(0.8, True), Scored(0.7, False), Scored(0.6, True)]
    assert best_threshold(noisy, min_precision=0.9).threshold == 0.6


def test_the_word_check_turns_away_pairs_short_of_the_coverage_and_is_chosen_with_the_threshold() -> None:
    checked = [
        Checked(0.90, 0.80, True),
        Checked(0.85, 0.10, False),  # a near miss: close vectors, one word without a counterpart
        Checked(0.70, 0.60, True),
        Checked(0.60, 0.05, False),
        Checked(0.40, 0.70, True),  # a paraphrase under every useful threshold
    ]
    assert [s.score for s in gated(checked, 0.5)] == [0.90, -1.0, 0.70, -1.0, 0.40]
    assert [s.score for s in gated(checked, 0.0)] == [0.90, 0.85, 0.70, 0.60, 0.40]  # 0: no check
    cosine = best_threshold(gated(checked, 0.0), min_precision=0.9)
    assert (cosine.threshold, cosine.true_positives, cosine.false_positives) == (0.90, 1, 0)
    coverage, both = best_policy(checked, min_precision=0.9)
    # Every duplicate clears the check at 0.6, no near miss does; the highest coverage keeping that is taken.
    assert (coverage, both.threshold, both.true_positives, both.false_positives) == (0.6, 0.40, 3, 0)


def test_the_evaluation_scores_pairs_through_the_index_and_counts_them_exactly(tmp_path: Path) -> None:
    rows = [
        ("duplicate", "tune", "Export the sprint report as a PDF", "Export the sprint report as PDF", "reworded"),
        ("near_miss", "tune", "Export the sprint report as a PDF", "Export the sprint report as a PDF file", ""),
        ("duplicate", "holdout", "Sign out of all devices", "End my sessions on all devices", "paraphrase"),
        ("unrelated", "holdout", "Reset a forgotten password by email", "Burndown chart of the current sprint", ""),
    ]
    pairs = tmp_path / "pairs.jsonl"
    lines = [
        {"id": f"p{i}", "label": label, "split": split, "a": a, "b": b} | ({"style": style} if style else {})
        for i, (label, split, a, b, style) in enumerate(rows)
    ]
    pairs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    output = tmp_path / "figures.json"
    assert main(["--pairs", str(pairs), "--embedder", "offline", "--threshold", "0.75", "--output", str(output)]) == 0
    [figures] = json.loads(output.read_text())
    assert figures["embedder"] == "offline-stemmed-ngrams"
    assert figures["pairs"] == 4
    scores = figures["scores"]
    assert scores["p0"] == pytest.approx(1.0)  # the same words after stop words: the same vector
    assert 0.75 <= scores["p1"] < 1  # one word more
    assert 0.3 < scores["p2"] < 0.75  # two words of four in common
    assert scores["p3"] < 0.3  # no word in common
    every = figures["at_threshold"]["all"]
    counts = (every["true_positives"], every["false_positives"], every["false_negatives"], every["true_negatives"])
    assert counts == (1, 1, 1, 1)
    assert (every["precision"], every["recall"]) == (0.5, 0.5)
    assert figures["at_threshold"]["tune"]["false_positives"] == 1
    assert figures["at_threshold"]["holdout"]["false_negatives"] == 1
    assert figures["recall_by_style"] == {"reworded": {"found": 1, "of": 1}, "paraphrase": {"found": 0, "of": 1}}
    # Over all four `b` texts each duplicate's own comes first: p0's has all its words (p1's one more), p2's is
    # the only one sharing any of its words.
    assert figures["ranking"] == {"candidates": 4, "duplicates": 2, "first": 2, "first_3": 2}
    assert figures["meets_target"] is False
    # The word check of the offline policy: the near miss's extra word is in the longer text, so it passes too.
    assert figures["coverages"]["p0"] == pytest.approx(1.0)
    assert figures["coverages"]["p3"] < 0.2
    assert [stage["name"] for stage in figures["stages"]] == ["cosine", "cosine + word check"]


def test_a_malformed_pairs_file_is_refused(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"id": "x", "label": "maybe", "split": "tune", "a": "A", "b": "B"}) + "\n")
    with pytest.raises(ValueError, match="a label in"):
        load_pairs(pairs)
