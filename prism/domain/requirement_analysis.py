"""Deterministic checks of a requirement's quality: INVEST, ambiguity, acceptance criteria and size.

Pure and exact: the same text gives the same findings, each with a stable rule id, a category, a severity, the field
it concerns and a suggested rewrite. analyzeRequirement (prism/services/requirement_analysis.py) merges them with a
model's findings.
"""

import enum
import re
from dataclasses import dataclass

from prism.domain.stories import statement

__all__ = [
    "AMBIGUOUS_TERMS",
    "Finding",
    "FindingCategory",
    "RequirementText",
    "Severity",
    "analyze",
    "merge",
]


class FindingCategory(enum.StrEnum):
    INVEST = "INVEST"
    AMBIGUITY = "AMBIGUITY"
    ACCEPTANCE_CRITERIA = "ACCEPTANCE_CRITERIA"
    SIZE = "SIZE"


class Severity(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


SEVERITY_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}


@dataclass(frozen=True)
class RequirementText:
    """What the checks read of a requirement."""

    kind: str
    title: str
    description: str
    acceptance_criteria: str
    estimate: float | None


@dataclass(frozen=True)
class Finding:
    """One problem found: which rule (None for a model's), what kind, how bad, where, why, and a better wording."""

    rule: str | None
    category: FindingCategory
    severity: Severity
    field: str | None
    message: str
    suggested_rewrite: str


AMBIGUOUS_TERMS: dict[str, str] = {
    "fast": "a time, like within 2 seconds",
    "quickly": "a time, like within 2 seconds",
    "quick": "a time, like within 2 seconds",
    "slow": "a time, like more than 5 seconds",
    "easy": "a measure, like in at most 3 steps",
    "easily": "a measure, like in at most 3 steps",
    "simple": "a measure, like in at most 3 steps",
    "intuitive": "a measure, like without reading help",
    "user-friendly": "a measure, like without reading help",
    "user friendly": "a measure, like without reading help",
    "flexible": "the cases it must handle",
    "robust": "the failures it must survive",
    "seamless": "what must not interrupt the user",
    "seamlessly": "what must not interrupt the user",
    "efficient": "a limit, like under 100 ms or 50 MB",
    "efficiently": "a limit, like under 100 ms or 50 MB",
    "scalable": "a load, like 1,000 requests a second",
    "appropriate": "the exact rule",
    "appropriately": "the exact rule",
    "adequate": "the exact threshold",
    "optimal": "the measure to optimise and its target",
    "minimal": "a maximum, like at most 3",
    "several": "a number",
    "various": "the list",
    "many": "a number",
    "some": "which ones, or how many",
    "etc": "the complete list",
    "and/or": "and, or or",
    "as needed": "when exactly",
    "if possible": "what happens when it is not",
    "as appropriate": "the exact rule",
    "tbd": "the decision",
    "better": "how much better, measured how",
    "improved": "how much, measured how",
}
"""Weasel words and vague terms, with what to say instead. Matched as whole words, case-insensitively."""

_TERMS = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(t) for t in sorted(AMBIGUOUS_TERMS, key=len, reverse=True)) + r")(?![\w-])",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_KEY = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b")
_DEPENDENCY = re.compile(r"\b(depends on|dependent on|blocked by|waiting for|requires|after)\b", re.IGNORECASE)
_PRESCRIPTIVE = re.compile(r"\b(?:must|shall|has to) (?:use|be implemented (?:in|with)|be built (?:in|with))\b", re.I)
_BENEFIT = re.compile(r"\b(so that|in order to|because|so we can|so they can|so I can)\b", re.IGNORECASE)
# A step is looked for within its own line: `[^\S\n]` is white space other than a line break. `\s` would let a match
# started at each blank line run over all the blank lines after it, which is quadratic in the criteria.
_THEN = re.compile(r"^[^\S\n]*(?:[-*][^\S\n]*)?(?:then|and then)\b", re.IGNORECASE | re.MULTILINE)
_GIVEN_WHEN = re.compile(r"^[^\S\n]*(?:[-*][^\S\n]*)?(?:given|when)\b", re.IGNORECASE | re.MULTILINE)
_AS_A = re.compile(r"\bas an? ([a-z][a-z -]{1,40}?)(?:,|\s+i want)", re.IGNORECASE)

SPLIT_ABOVE = 8
"""Story points past which a story should be split (MEDIUM); past 13, HIGH."""
SIZED_KINDS = ("STORY", "TASK", "BUG")
CRITERIA_KINDS = {"STORY": Severity.HIGH, "BUG": Severity.HIGH, "FEATURE": Severity.HIGH, "TASK": Severity.LOW}
"""Kinds that need acceptance criteria, and how bad it is when they have none (an epic's are its children's)."""


_BULLET = re.compile(r"^[^\S\n]*(?:[-*]|\d+[.)])[^\S\n]*")


def _sentence_with(text: str, start: int) -> str:
    for match in _SENTENCE.finditer(text):
        if match.start() <= start < match.end():
            return _BULLET.sub("", match.group(0)).strip()
    return text.strip()


def _lowered(line: str) -> str:
    return line[0].lower() + line[1:] if len(line) > 1 and not line[1].isupper() else line


def _ambiguity(field: str, text: str, severity: Severity) -> list[Finding]:
    found: list[Finding] = []
    seen: set[str] = set()
    for match in _TERMS.finditer(text):
        term = match.group(1).lower()
        if term in seen:
            continue
        seen.add(term)
        sentence = _sentence_with(text, match.start())
        replacement = f"[{AMBIGUOUS_TERMS[term]}]"
        pattern = re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", re.IGNORECASE)
        rewrite = pattern.sub(replacement.replace("\\", "\\\\"), sentence)
        found.append(
            Finding(
                rule="ambiguous-term",
                category=FindingCategory.AMBIGUITY,
                severity=severity,
                field=field,
                message=f'"{match.group(1)}" is vague: nobody can check it. Say {AMBIGUOUS_TERMS[term]}.',
                suggested_rewrite=rewrite,
            )
        )
    return found


def _gherkin_from(title: str, lines: list[str]) -> str:
    thens = lines or ["<what the person can check>"]
    steps = "\n".join(f"  Then {line}" if i == 0 else f"  And {line}" for i, line in enumerate(thens))
    return f"Scenario: {title}\n  Given <the situation before>\n  When <what the person does>\n{steps}"


def _criteria(text: RequirementText) -> list[Finding]:
    severity = CRITERIA_KINDS.get(text.kind)
    if severity is None:
        return []
    criteria = text.acceptance_criteria.strip()
    if not criteria:
        return [
            Finding(
                rule="missing-acceptance-criteria",
                category=FindingCategory.ACCEPTANCE_CRITERIA,
                severity=severity,
                field="acceptanceCriteria",
                message="It has no acceptance criteria: nobody can tell when it is done (INVEST: testable).",
                suggested_rewrite=_gherkin_from(text.title, []),
            )
        ]
    if _THEN.search(criteria):
        return []
    lines = [_BULLET.sub("", line).strip() for line in criteria.splitlines()]
    lines = [_lowered(line.rstrip(".")) for line in lines if line and not _GIVEN_WHEN.match(line)]
    return [
        Finding(
            rule="untestable-acceptance-criteria",
            category=FindingCategory.ACCEPTANCE_CRITERIA,
            severity=Severity.MEDIUM,
            field="acceptanceCriteria",
            message="No criterion says what to check after the action (Then ...): write them as Given/When/Then.",
            suggested_rewrite=_gherkin_from(text.title, lines[:5]),
        )
    ]


def _size(text: RequirementText) -> list[Finding]:
    if text.kind not in SIZED_KINDS or text.estimate is None:
        if text.kind in SIZED_KINDS:
            return [
                Finding(
                    rule="not-estimated",
                    category=FindingCategory.INVEST,
                    severity=Severity.LOW,
                    field="estimate",
                    message="It has no estimate (INVEST: estimable): size it, or say what is unknown.",
                    suggested_rewrite="Estimate it in story points (1, 2, 3, 5, 8 or 13).",
                )
            ]
        return []
    if text.estimate <= SPLIT_ABOVE:
        return []
    severity = Severity.HIGH if text.estimate > 13 else Severity.MEDIUM
    parts = [m.group(0).strip() for m in _SENTENCE.finditer(text.description) if len(m.group(0).split()) >= 3][:4]
    split = "; ".join(f"{i}. {part}" for i, part in enumerate(parts, start=1)) or "one story per acceptance scenario"
    shown = f"{text.estimate:g}"
    return [
        Finding(
            rule="too-large",
            category=FindingCategory.SIZE,
            severity=severity,
            field="estimate",
            message=f"{shown} points is more than a story should be (at most {SPLIT_ABOVE}): split it (INVEST: small).",
            suggested_rewrite=f"Split into stories of at most {SPLIT_ABOVE} points each: {split}",
        )
    ]


def _invest(text: RequirementText) -> list[Finding]:
    found: list[Finding] = []
    body = f"{text.description}\n{text.acceptance_criteria}"
    for sentence in (m.group(0).strip() for m in _SENTENCE.finditer(body)):
        keys = _KEY.findall(sentence)
        if keys and _DEPENDENCY.search(sentence):
            found.append(
                Finding(
                    rule="dependency",
                    category=FindingCategory.INVEST,
                    severity=Severity.LOW,
                    field="description",
                    message=f"It depends on {', '.join(keys)} (INVEST: independent): can it ship on its own?",
                    suggested_rewrite=f"Reorder or split so it ships without {', '.join(keys)}, or link them as a "
                    "dependency and keep the text about this requirement alone.",
                )
            )
            break
    prescribed = _PRESCRIPTIVE.search(body)
    if prescribed:
        sentence = _sentence_with(body, prescribed.start())
        found.append(
            Finding(
                rule="prescribes-solution",
                category=FindingCategory.INVEST,
                severity=Severity.LOW,
                field="description",
                message="It prescribes how to build it (INVEST: negotiable): say what is needed, not how.",
                suggested_rewrite=f"State the need behind: {sentence!r}.",
            )
        )
    if text.kind == "STORY" and not _BENEFIT.search(f"{text.title}\n{body}"):
        persona = _AS_A.search(body)
        found.append(
            Finding(
                rule="no-benefit",
                category=FindingCategory.INVEST,
                severity=Severity.MEDIUM,
                field="description",
                message="It does not say why (INVEST: valuable): add who benefits and how.",
                suggested_rewrite=statement(persona.group(1) if persona else "user", text.title, "<the benefit>"),
            )
        )
    halves = re.split(r"\s+and\s+", text.title, maxsplit=1, flags=re.IGNORECASE)
    if text.kind in SIZED_KINDS and len(halves) == 2 and all(len(h.split()) >= 2 for h in halves):
        found.append(
            Finding(
                rule="two-things",
                category=FindingCategory.INVEST,
                severity=Severity.LOW,
                field="title",
                message="Its title names two things (INVEST: small): each can be a requirement of its own.",
                suggested_rewrite=f"Split into {halves[0].strip()!r} and {halves[1].strip()!r}.",
            )
        )
    return found


def analyze(text: RequirementText) -> list[Finding]:
    """Every rule's findings, the most severe first (in rule order within a severity)."""
    findings = [
        *_criteria(text),
        *_ambiguity("title", text.title, Severity.MEDIUM),
        *_ambiguity("description", text.description, Severity.MEDIUM),
        *_ambiguity("acceptanceCriteria", text.acceptance_criteria, Severity.HIGH),
        *_size(text),
        *_invest(text),
    ]
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


def merge(rules: list[Finding], model: list[Finding]) -> list[Finding]:
    """The rules' findings and those of a model that say something else (not the same category and field as a rule's
    with the same message), the most severe first; rules before the model's within a severity."""
    said = {(f.category, f.field, f.message.strip().lower()) for f in rules}
    extra = [f for f in model if (f.category, f.field, f.message.strip().lower()) not in said]
    return sorted([*rules, *extra], key=lambda f: (SEVERITY_ORDER[f.severity], f.rule is None))
