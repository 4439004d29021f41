"""The labelled pairs: two requirement texts, whether they are the same requirement, and which half they belong to."""

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_PAIRS", "LABELS", "SPLITS", "STYLES", "LabelledPair", "load_pairs"]

DEFAULT_PAIRS = Path(__file__).with_name("pairs.jsonl")
LABELS = ("duplicate", "near_miss", "unrelated")
"""A duplicate is the same requirement phrased differently; a near miss shares words but asks for something else."""
SPLITS = ("tune", "holdout")
"""Thresholds are chosen on the tuning half and checked on the held-out half, so a figure is not fitted to its data."""
STYLES = ("reworded", "paraphrase")
"""How a duplicate differs: a title filed again in other words, or the same request told in a different way."""


@dataclass(frozen=True)
class LabelledPair:
    """Two requirement texts and the truth about them: only `duplicate` pairs should be warned of."""

    id: str
    label: str
    domain: str
    split: str
    a: str
    b: str
    style: str = ""

    @property
    def is_duplicate(self) -> bool:
        return self.label == "duplicate"


def load_pairs(path: Path = DEFAULT_PAIRS) -> list[LabelledPair]:
    """The pairs of a JSON-lines file, checked: known labels and splits, two non-empty texts, unique ids."""
    pairs: list[LabelledPair] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        pair = LabelledPair(
            id=str(row["id"]),
            label=str(row["label"]),
            domain=str(row.get("domain", "")),
            split=str(row["split"]),
            a=str(row["a"]).strip(),
            b=str(row["b"]).strip(),
            style=str(row.get("style", "")),
        )
        if pair.label not in LABELS or pair.split not in SPLITS or not pair.a or not pair.b or pair.id in seen:
            raise ValueError(f"{path}:{number}: a pair needs a unique id, a label in {LABELS}, a split in {SPLITS}")
        if pair.style not in ((*STYLES, "") if pair.is_duplicate else ("",)):
            raise ValueError(f"{path}:{number}: a duplicate's style is one of {STYLES}; other pairs have none")
        seen.add(pair.id)
        pairs.append(pair)
    return pairs
