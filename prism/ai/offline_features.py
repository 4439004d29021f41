"""What the offline model writes on purpose for some features, by the schema's title, instead of filling fields.

User stories (`StoryDrafts`) are drawn from the brief's sentences and the retrieved sources; a requirement review
(`ModelFindings`) adds no findings (the offline model cannot judge) and says so. Deterministic: the same request
gives the same answer. prism/ai/offline_provider.py dispatches here and marks every answer offline.
"""

import re
from collections.abc import Callable
from typing import Any

from prism.domain.stories import FIBONACCI_POINTS, article

__all__ = ["shaped_answer"]

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if len(s.strip().split()) >= 2]


# As prism.ai.prompts.delimited writes them: the tag alone on its line, then the text, then the closing tag.
_BLOCK = re.compile(r"<(brief|epic|source|requirement)((?:\s+\w+=\"[^\"]*\")*)>\n(.*?)\n</\1>", re.DOTALL)
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_WORD = re.compile(r"[A-Za-z][A-Za-z-]{3,}")
_COMMON = frozenset(
    [
        "able",
        "also",
        "been",
        "being",
        "from",
        "have",
        "into",
        "need",
        "needs",
        "should",
        "that",
        "their",
        "them",
        "then",
        "there",
        "they",
        "this",
        "through",
        "want",
        "wants",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
        "about",
        "after",
        "before",
        "every",
        "other",
        "could",
        "must",
    ]
)
_PERSONAS = (
    "product manager", "team lead", "support agent", "administrator", "admin", "manager", "customer", "developer",
    "designer", "analyst", "tester", "owner", "buyer", "seller", "reviewer", "viewer", "member", "user",
)  # fmt: skip
_AS_A = re.compile(r"\bas an? ([a-z][a-z -]{1,40}?)(?:,|\s+i want|\.|$)", re.IGNORECASE)
_NEED = re.compile(
    r"^(?:.{0,60}?\b(?:need|needs|want|wants|would like|should be able|must be able|are able|is able|can|could)"
    r"\s+to\s+|i want\s+(?:to\s+)?)",
    re.IGNORECASE,
)
_PURPOSE = re.compile(r"\s+(?:so that|so|because|in order to)\s+", re.IGNORECASE)
_GAIN = re.compile(r"\b(?:save|faster|avoid|without|reduce|fewer|less|never|easier|quick|sooner)\w*", re.IGNORECASE)


def _blocks(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, str], str]]:
    """The marked blocks of the user's messages (the system message only names the markers)."""
    text = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
    return [(tag, dict(_ATTRIBUTE.findall(attrs)), body.strip()) for tag, attrs, body in _BLOCK.findall(text)]


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _COMMON


def _persona(text: str) -> str:
    found = _AS_A.search(text)
    if found:
        return found.group(1).strip().lower()
    return next((p for p in _PERSONAS if re.search(rf"\b{p}s?\b", text, re.IGNORECASE)), "user")


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if len(text) > 1 and not text[1].isupper() else text


def _title(goal: str) -> str:
    words, title = goal.split(), ""
    for word in words:
        if len(title) + len(word) + 1 > 80:
            break
        title = f"{title} {word}".strip()
    return (title[:1].upper() + title[1:]) or "Story"


def _offline_stories(messages: list[dict[str, Any]], schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Stories from the brief's sentences, then from the sources (each extended for the brief), up to the schema's
    count: persona from the brief, goal and benefit from each sentence, two Gherkin scenarios, points by size."""
    blocks = _blocks(messages)
    brief = next((body for tag, _, body in blocks if tag == "brief"), "")
    sources = [(attrs.get("key", ""), body) for tag, attrs, body in blocks if tag == "source"]
    count = int(schema.get("properties", {}).get("stories", {}).get("maxItems", 3))
    persona = _persona(brief)
    sentences = _sentences(brief) or [brief or "the brief"]
    gains = [s for s in sentences if _GAIN.search(s)]
    topic = " ".join(sorted(_words(brief), key=lambda w: (-brief.lower().count(w), w))[:3]) or "this product"
    candidates = [(sentence, f"the brief's sentence {i}") for i, sentence in enumerate(sentences, start=1)]
    for key, body in sources:
        title = body.split("\n", 1)[0].rstrip(".")
        candidates.append((f"Extend {title} for {topic}", f"{key or 'a source'} ({title})"))
    stories = []
    for sentence, origin in candidates[: max(1, count)]:
        parts = _PURPOSE.split(sentence.rstrip(".!?"), maxsplit=1)
        wanted = _NEED.match(parts[0]) is not None  # "X need to <goal>": an action; otherwise a statement
        goal = _lower_first(_NEED.sub("", parts[0]).strip()) or _lower_first(parts[0])
        action = f"I {goal}" if wanted else f"I check that {goal}"
        wish = goal if wanted else f"that {goal}"
        if len(parts) > 1:
            benefit = parts[1]
        else:
            gain = next((g for g in gains if g != sentence), None)
            fallback = f"I no longer have to {goal} outside PRISM" if wanted else f"{topic} works as the brief says"
            benefit = _lower_first(gain.rstrip(".!?")) if gain else fallback
        related = [key for key, body in sources if key and _words(body) & _words(sentence)]
        given = f"I am signed in as {article(persona)} {persona}"
        if related:
            given += f" and {related[0]} is in place"
        size = len(goal.split()) + 2 * len(related)
        stories.append(
            {
                "title": _title(goal),
                "persona": persona,
                "goal": wish,
                "benefit": benefit,
                "scenarios": [
                    {"name": f"{_title(goal)} works", "given": given, "when": action, "then": benefit},
                    {
                        "name": f"{_title(goal)} with missing information",
                        "given": given,
                        "when": f"{action} without the information it needs",
                        "then": "I see what is missing and nothing is changed",
                    },
                ],
                "estimate": FIBONACCI_POINTS[min(4, size // 4)],
                "source_keys": related[:3],
                "notes": f"{prefix} Drawn from {origin}"
                + (f"; related: {', '.join(related[:3])}." if related else "."),
            }
        )
    return {"stories": stories}


def _offline_review(messages: list[dict[str, Any]], schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """No findings of its own (it cannot judge), and a summary that says so and what it read."""
    body = next((body for tag, _, body in _blocks(messages) if tag == "requirement"), "")
    sentences = _sentences(body)
    return {
        "findings": [],
        "summary": f"{prefix} No model reviewed this requirement ({len(sentences)} sentences read): the "
        "findings are PRISM's rules only.",
    }


_SHAPED: dict[str, Callable[[list[dict[str, Any]], dict[str, Any], str], dict[str, Any]]] = {
    "StoryDrafts": _offline_stories,
    "ModelFindings": _offline_review,
}
"""Answers whose shape the offline model writes on purpose (by the schema's title), not by filling fields."""


def shaped_answer(messages: list[dict[str, Any]], schema: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """The answer written on purpose for this schema (by its title), marked with `prefix`; None when there is none."""
    shaper = _SHAPED.get(str(schema.get("title", "")))
    return None if shaper is None else shaper(messages, schema, prefix)
