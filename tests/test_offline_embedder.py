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


async def test_a_big_batch_is_embedded_in_worker_threads_alike_and_concurrently() -> None:
    """A batch over INLINE_CHARACTERS is embedded off the event loop; each thread has its own stemmer (a stemmer
    keeps state while it works), so concurrent batches give the vectors one batch on the loop gives."""
    import asyncio
    import threading

    from prism.ai.embeddings import INLINE_CHARACTERS

    class Threads(HashedEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.threads: set[int] = set()

        def embed_one(self, text: str) -> list[float]:
            self.threads.add(threading.get_ident())
            return super().embed_one(text)

    texts = [f"Export the {n}th sprint reports as archived PDFs for stakeholders" for n in range(100)]
    assert sum(map(len, texts)) > INLINE_CHARACTERS
    embedder = Threads()
    batches = await asyncio.gather(*(embedder.embed(texts[n:] + texts[:n]) for n in range(4)))
    assert threading.get_ident() not in embedder.threads
    expected = HashedEmbedder().embed_all(texts)
    for n, batch in enumerate(batches):
        assert batch == expected[n:] + expected[:n]
    embedder.threads.clear()
    assert await embedder.embed(texts[:2]) == expected[:2]  # a small batch stays on the loop
    assert embedder.threads == {threading.get_ident()}
