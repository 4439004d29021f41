"""User stories: the "As a ..., I want ..., so that ..." statement, Gherkin acceptance criteria, Fibonacci points.

Pure text rules shared by story generation (prism/services/story_generation.py) and the offline model.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FIBONACCI_POINTS", "Scenario", "article", "gherkin", "nearest_fibonacci", "statement"]

FIBONACCI_POINTS = (1, 2, 3, 5, 8, 13)
"""The estimates a generated story may take; past 13 a story is to be split (requirement analysis says so)."""


@dataclass(frozen=True)
class Scenario:
    """One Gherkin scenario: a name and its Given, When and Then steps."""

    name: str
    given: str
    when: str
    then: str


_SOUNDS_LIKE_Y = ("use", "usu", "uni", "eu", "one", "once")
_SILENT_H = ("hour", "honest", "honor", "heir")


def article(noun: str) -> str:
    """`a` or `an` for a noun phrase, by how it sounds: an admin, a user, an hourly job."""
    word = noun.strip().lower()
    if word.startswith(_SILENT_H):
        return "an"
    return "an" if word[:1] in ("a", "e", "i", "o", "u") and not word.startswith(_SOUNDS_LIKE_Y) else "a"


def _step(text: str) -> str:
    """A fragment trimmed to one line, without a final stop."""
    return re.sub(r"\s+", " ", text).strip().rstrip(".!;,")


def _clause(text: str) -> str:
    """A fragment as it reads inside a sentence: a step, not capitalised unless an acronym or "I"."""
    text = _step(text)
    if len(text) > 1 and text[0].isupper() and not text[1].isupper() and not text.startswith("I "):
        text = text[0].lower() + text[1:]
    return text


_NO_TO = frozenset({"to", "a", "an", "the", "my", "our", "their", "some", "every", "all", "that", "each"})


def statement(persona: str, goal: str, benefit: str) -> str:
    """The story's sentence: "As a <persona>, I want to <goal>, so that <benefit>." ("to" unless the goal starts
    with it, or is a thing or a clause: "I want a dark mode", "I want that ...")."""
    who = _clause(persona) or "user"
    what = _clause(goal)
    if what.split(" ", 1)[0].lower() not in _NO_TO:
        what = f"to {what}"
    return f"As {article(who)} {who}, I want {what}, so that {_clause(benefit)}."


def gherkin(scenarios: Sequence[Scenario]) -> str:
    """The scenarios as Gherkin text, one block each, blank line between."""
    blocks = [
        f"Scenario: {_step(s.name) or 'It works'}\n  Given {_clause(s.given)}\n  When {_clause(s.when)}\n"
        f"  Then {_clause(s.then)}"
        for s in scenarios
    ]
    return "\n\n".join(blocks)


def nearest_fibonacci(points: float) -> int:
    """The Fibonacci estimate nearest to `points` (ties go up: estimates err large)."""
    return min(FIBONACCI_POINTS, key=lambda f: (abs(f - points), -f))
