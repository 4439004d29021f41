"""The words the offline embedder hashes: lower-cased, stop words dropped, common synonyms of product work made one
word, and each stemmed (Snowball's English stemmer), so "exports", "exported" and "exporting" count as one."""

import re
from dataclasses import dataclass
from typing import Any

import snowballstemmer

__all__ = ["STOP_WORDS", "SYNONYMS", "Terms", "english_stemmer", "terms"]

_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about what a requirement is about; left in, they make every pair look alike.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "then",
        "this",
        "to",
        "was",
        "we",
        "when",
        "will",
        "with",
        "want",
        "should",
        "must",
        "user",
        "users",
    ]
)
# Spellings of one idea that the word splitter would otherwise cut apart or keep apart.
_PHRASES = (
    (re.compile(r"\b(?:log|sign)[- ]?(?:in|on)\b"), "signin"),
    (re.compile(r"\b(?:log|sign)[- ]?(?:out|off)\b"), "signout"),
    (re.compile(r"\be-mail"), "email"),
    (re.compile(r"\b(?:two|2)[- ](?:factor|step)\b|\b2fa\b|\bmulti[- ]factor\b"), "mfa"),
)
# General product-management vocabulary, each group read as its first word. Written from how requirements are
# commonly phrased, not fitted to the evaluation pairs (docs/ai.md gives the before and after figures).
_SYNONYM_GROUPS = (
    "delete remove erase",
    "show display",
    "update change edit modify",
    "customer client shopper buyer",
    "notify notification alert",
    "deadline due",
    "image picture photo",
    "teammate colleague member",
    "app application",
    "automatically automatic auto",
    "multiple several many",
    "limit restrict throttle throttling",
    "order sort",
    "copy clone",
    "cancel terminate",
    "upload attach attachment",
    "translate localise localize",
    "ui interface",
    "theme mode",
)
SYNONYMS = {word: group.split()[0] for group in _SYNONYM_GROUPS for word in group.split()}


def english_stemmer() -> Any:
    """Snowball's English stemmer (one per embedder: a stemmer keeps state while it works)."""
    return snowballstemmer.stemmer("english")


@dataclass(frozen=True)
class Terms:
    """A text's words as written (for character n-grams, which catch typos) and as stemmed concepts."""

    written: list[str]
    stems: list[str]


def terms(text: str, stemmer: Any) -> Terms:
    """The words of `text` that say what it is about, written and stemmed by `stemmer` (english_stemmer)."""
    lowered = text.lower()
    for pattern, replacement in _PHRASES:
        lowered = pattern.sub(replacement, lowered)
    written = [word for word in _WORD.findall(lowered) if word not in STOP_WORDS]
    return Terms(written, [str(stem) for stem in stemmer.stemWords([SYNONYMS.get(word, word) for word in written])])
