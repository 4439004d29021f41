"""Secrets production must refuse: values published in PRISM's repository, and signing keys that are short or
predictable.

`PUBLISHED_SECRETS` lists every secret value written in the repository's tracked files, present or past (compose
defaults, `.env.example`, docs, tests, benchmarks): anyone who reads the repository knows them. A test scans the
tracked files and fails when a new literal secret appears that this list does not hold, so the list stays complete.
The image holds no deploy/ or docs/ to scan at run time; the list travels in the package instead.
"""

import math
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

__all__ = ["GENERATE_KEY_HINT", "MIN_KEY_CHARACTERS", "PUBLISHED_SECRETS", "key_weakness"]

MIN_KEY_CHARACTERS = 32
GENERATE_KEY_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'

PUBLISHED_SECRETS: frozenset[str] = frozenset(
    {
        # tests/test_ai_generation.py: the key its fake OpenAI-compatible server is sent
        "test-key",
        # deploy/compose.yaml and deploy/.env.example defaults before compose required its secrets
        "local-development-only-secret-key-0123456789",
        "prism-local-password",
        "prism-api-local-password",
        # tests and benchmarks
        "test-secret-key-that-is-long-enough-1234567890",
        "bench-secret-key-that-is-long-enough-0123456789",
        "analytics-bench-secret-key-long-enough-0123456789",  # bench/analytics.py
        "too-short",
        "prism-test-secret-0123456789abcdef",  # the SeaweedFS identity of tests/object_stores.py
        # placeholders in docs and examples, and the demo account's published password
        "change-me",
        "password",
        "pass",
        "prism-demo-password",
    }
)

# Random keys of 32 characters or more score far above both limits: 32 random hex digits (128 bits) never fell
# below 90 estimated bits in 300,000 tries, and no random key of that length repeated a third of its trigrams.
_MIN_ESTIMATED_BITS = 64
_MAX_REPEATED_TRIGRAMS = 1 / 3


def key_weakness(key: str) -> str | None:
    """Why `key` must not sign tokens or guard /metrics in production (a phrase after the setting's name), or None."""
    if key in PUBLISHED_SECRETS:
        return "is published in PRISM's repository, so anyone knows it"
    if len(key) < MIN_KEY_CHARACTERS:
        return f"is shorter than {MIN_KEY_CHARACTERS} characters"
    if _estimated_bits(key) < _MIN_ESTIMATED_BITS or _repeated_trigram_share(key) > _MAX_REPEATED_TRIGRAMS:
        return "is too predictable (few distinct characters, a run such as abcd or 1234, or a repeated word)"
    return None


def _estimated_bits(key: str) -> float:
    # The smaller of two estimates: how often characters repeat (catches aaaa and tiny alphabets), and how often the
    # steps between neighbours repeat (catches abcdef and 123456, whose characters are all distinct).
    steps = [ord(right) - ord(left) for left, right in pairwise(key)]
    return min(_entropy(key) * len(key), _entropy(steps) * len(steps))


def _entropy(symbols: Sequence[object]) -> float:
    """Shannon entropy, in bits per symbol, of the symbols' own frequencies."""
    counts = Counter(symbols)
    total = len(symbols)
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def _repeated_trigram_share(key: str) -> float:
    """The share of the key's three-character windows that already occurred earlier in it (a repeated word)."""
    windows = [key[i : i + 3] for i in range(len(key) - 2)]
    return 1 - len(set(windows)) / len(windows) if windows else 0.0
