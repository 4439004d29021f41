"""The offline embedder reads word forms and common synonyms as one word, so rewordings score above near misses."""

from prism.ai.embeddings import HashedEmbedder
from prism.ai.offline_terms import english_stemmer, terms


def cosine(embedder: HashedEmbedder, left: str, right: str) -> float:
    return sum(a * b for a, b in zip(embedder.embed_one(left), embedder.embed_one(right), strict=True))


def test_word_forms_and_synonyms_of_product_work_become_the_same_terms() -> None:
    stemmer = english_stemmer()
    assert terms("Log in with Google", stemmer).stems == terms("Sign-in with google", stemmer).stems
    assert terms("Upgraded plans", stemmer).stems == terms("upgrade plan", stemmer).stems
    assert terms("Remove the e-mail", stemmer).stems == terms("delete email", stemmer).stems
    assert terms("Remove the e-mail", stemmer).written == ["remove", "email"]  # n-grams keep the written word


def test_a_rewording_scores_above_the_duplicate_threshold_and_above_a_near_miss() -> None:
    embedder = HashedEmbedder()
    assert cosine(embedder, "Sign in with Google", "Log in with Google") > 0.99
    assert cosine(embedder, "Prorate plan upgrades", "Upgraded plans are prorated") >= 0.75
    assert cosine(embedder, "Remove archived projects", "Delete archived projects") >= 0.75
    # Signing in and signing out share words but not meaning: under the threshold, and under the rewording.
    assert cosine(embedder, "Sign in with Google", "Sign out of Google") < 0.6
