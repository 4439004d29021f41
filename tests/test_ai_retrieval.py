"""Retrieval: requirements embedded offline into the vector index by jobs, searched only within their organization."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from procrastinate import App
from starlette.applications import Starlette

from prism.ai.embeddings import HashedEmbedder
from prism.ai.vectors import IndexedText, VectorIndex
from prism.cli import main
from prism.config import Settings
from prism.db.job_queue import JOB_QUEUE
from prism.jobs import JobResources, build_job_app, run_worker
from tests.helpers import Account, create_document, create_product, create_requirement, uuid_of

SIMILAR = """query($id: ID, $text: String, $first: Int) {
  similarRequirements(id: $id, text: $text, first: $first) {
    embedder offline matches { key score requirement { id title } }
  }
}"""
SEARCH = """query($q: String!, $p: ID, $first: Int) {
  semanticSearch(query: $q, productId: $p, first: $first) { offline matches { key score requirement { id title } } }
}"""


@pytest.fixture
async def job_app(settings: Settings, app_database_url: str) -> AsyncIterator[App]:
    queue_app = build_job_app(settings, app_database_url, periodic=False)
    async with queue_app.open_async():
        yield queue_app


async def index_pending(app: Starlette, job_app: App, settings: Settings) -> None:
    """Run the queued jobs (the index jobs among them) as a worker would, until none is ready."""
    runtime = app.state.runtime()
    resources = JobResources(settings=settings, engine=runtime.engine, publisher=runtime.publisher, ai=runtime.ai)
    await run_worker(job_app, resources, wait=False, install_signal_handlers=False, queues=[JOB_QUEUE])


def cosine(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


def test_the_offline_embedder_puts_rewordings_closer_than_unrelated_texts() -> None:
    embedder = HashedEmbedder()
    export = embedder.embed_one("Export the sprint report as a PDF file")
    reworded = embedder.embed_one("As a manager I want to export sprint reports to PDF")
    unrelated = embedder.embed_one("Reset a forgotten password by email")
    assert cosine(export, reworded) > 0.4 > cosine(export, unrelated)
    assert embedder.embed_one("Export the sprint report as a PDF file") == export  # deterministic
    assert abs(cosine(export, export) - 1) < 1e-9


async def test_a_search_never_leaves_the_organization_it_names() -> None:
    index = VectorIndex(HashedEmbedder(), url=None, path=":memory:", collection="isolation")
    import uuid

    org_a, org_b, product = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    secret = uuid.uuid4()
    await index.upsert(
        [IndexedText(secret, org_a, product, "requirement", "Acquire Globex quietly before the earnings call")]
    )
    assert [hit.id for hit in await index.search(org_a, "acquire Globex", limit=5)] == [secret]
    assert await index.search(org_b, "acquire Globex before the earnings call", limit=5) == []
    await index.delete(org_b, [secret])  # another organization cannot delete it either
    assert [hit.id for hit in await index.search(org_a, "Globex", limit=5)] == [secret]
    await index.close()


async def test_requirements_are_indexed_by_jobs_and_found_by_meaningful_words(
    app: Starlette, job_app: App, settings: Settings, account: Account
) -> None:
    product = await create_product(account)
    export = await create_requirement(
        account, product["id"], "Export the sprint report as PDF", description="Managers print the burndown."
    )
    await create_requirement(account, product["id"], "Reset a forgotten password by email")
    duplicate = await create_requirement(account, product["id"], "Sprint report export to a PDF file")
    await index_pending(app, job_app, settings)

    found = (await account(SIMILAR, {"id": export["id"]}))["similarRequirements"]
    assert found["offline"] is True
    assert found["embedder"] == "offline-stemmed-ngrams"
    assert found["matches"][0]["requirement"]["id"] == duplicate["id"]
    assert found["matches"][0]["key"] == duplicate["key"]
    assert export["id"] not in [node["requirement"]["id"] for node in found["matches"]]
    assert found["matches"][0]["score"] > found["matches"][-1]["score"]

    search = (await account(SEARCH, {"q": "forgotten password", "p": product["id"], "first": 1}))["semanticSearch"]
    assert [node["requirement"]["title"] for node in search["matches"]] == ["Reset a forgotten password by email"]


async def test_changes_and_deletions_reach_the_index_through_the_job_queue(
    app: Starlette, job_app: App, settings: Settings, account: Account
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"], "Invoice customers monthly")
    await index_pending(app, job_app, settings)
    changed = await account(
        """mutation($i: UpdateRequirementInput!) { updateRequirement(input: $i) {
             requirement { version } userErrors { code } } }""",
        {"i": {"id": requirement["id"], "version": requirement["version"], "title": "Translate the onboarding tour"}},
    )
    assert changed["updateRequirement"]["userErrors"] == []
    await index_pending(app, job_app, settings)
    hits = (await account(SEARCH, {"q": "onboarding tour translation"}))["semanticSearch"]["matches"]
    assert [node["requirement"]["id"] for node in hits][:1] == [requirement["id"]]

    deleted = await account(
        """mutation($i: DeleteRequirementInput!) { deleteRequirement(input: $i) { userErrors { code } } }""",
        {"i": {"id": requirement["id"], "version": changed["updateRequirement"]["requirement"]["version"]}},
    )
    assert deleted["deleteRequirement"]["userErrors"] == []
    await index_pending(app, job_app, settings)
    index = app.state.runtime().ai.index
    hits_after = await index.search(uuid_of(account.organization_id), "onboarding tour", limit=10)
    assert requirement["id"] not in [str(hit.id) for hit in hits_after]


async def test_another_organization_neither_finds_nor_names_an_organizations_requirements(
    app: Starlette, job_app: App, settings: Settings, account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    secret = await create_requirement(account, product["id"], "Zanzibar merger codename Bluefin diligence")
    await create_product(other_account)
    await index_pending(app, job_app, settings)

    for query, variables in (
        (SEARCH, {"q": "Zanzibar merger codename Bluefin diligence"}),
        (SIMILAR, {"text": "Zanzibar merger codename Bluefin diligence"}),
    ):
        result = await other_account.run(query, variables)
        assert "Zanzibar" not in str(result.body)
        assert secret["id"] not in str(result.body)
    foreign = await other_account.run(SIMILAR, {"id": secret["id"]})
    assert foreign.codes == ["NOT_FOUND"]
    assert "Zanzibar" not in str(foreign.body)
    in_foreign_product = await other_account.run(SEARCH, {"q": "Zanzibar", "p": product["id"]})
    assert in_foreign_product.codes == ["NOT_FOUND"]
    mine = (await account(SEARCH, {"q": "Bluefin diligence"}))["semanticSearch"]["matches"]
    assert mine[0]["requirement"]["id"] == secret["id"]


async def test_retrieval_arguments_are_checked(account: Account) -> None:
    assert (await account.run(SIMILAR, {})).codes == ["BAD_USER_INPUT"]
    assert (await account.run(SIMILAR, {"text": "x", "first": 500})).codes == ["BAD_USER_INPUT"]
    assert (await account.run(SEARCH, {"q": "  "})).codes == ["BAD_USER_INPUT"]


async def test_a_search_text_longer_than_the_limit_is_refused_before_any_embedding(account: Account) -> None:
    long = "word " * 2_001  # 10,005 characters
    refused = [await account.run(SIMILAR, {"text": long}), await account.run(SEARCH, {"q": long})]
    assert [r.codes for r in refused] == [["TOO_LONG"], ["TOO_LONG"]]
    assert [r.errors[0]["extensions"]["field"] for r in refused] == ["text", "query"]
    assert (await account.run(SEARCH, {"q": "word " * 1_999})).codes == []  # 9,995 characters: searched


async def test_prism_ai_reindex_rebuilds_an_organizations_vectors(
    account: Account, database_url: str, tmp_path: Path
) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"], "Archive closed sprints after a year")
    await create_requirement(account, product["id"], "Show velocity on the dashboard")
    organization = str(uuid_of(account.organization_id))
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["ai", "reindex", "--organization", organization],
        env={"DATABASE_URL": database_url, "DATABASE_ADMIN_URL": None, "PRISM_HOME": str(tmp_path)},  # type: ignore[dict-item]
    )
    assert result.exit_code == 0, result.output
    assert f"organization {organization}: 2 requirements indexed, 0 documents" in result.output
    index = VectorIndex(HashedEmbedder(), url=None, path=str(tmp_path / "qdrant"), collection="prism")
    hits = await index.search(uuid_of(account.organization_id), "velocity dashboard", limit=5)
    await index.close()
    assert len(hits) == 2
    assert hits[0].score > hits[1].score


CREATE = """mutation($i: CreateRequirementInput!) {
  createRequirement(input: $i) { requirement { id key } userErrors { code } warnings { field message code } }
}"""


async def test_creating_a_near_copy_warns_of_a_likely_duplicate_and_still_creates_it(
    app: Starlette, job_app: App, settings: Settings, account: Account
) -> None:
    product = await create_product(account)
    other_product = await create_product(account)
    original = await create_requirement(account, product["id"], "Export the sprint report as a PDF")
    await create_requirement(account, other_product["id"], "Export the sprint report as a PDF file")
    await index_pending(app, job_app, settings)

    copy = await account(
        CREATE, {"i": {"productId": product["id"], "kind": "STORY", "title": "Export sprint reports to PDF"}}
    )
    created = copy["createRequirement"]
    assert created["userErrors"] == []
    assert created["requirement"]["id"]
    assert [w["code"] for w in created["warnings"]] == ["LIKELY_DUPLICATE"]  # not the other product's
    assert original["key"] in created["warnings"][0]["message"]
    assert created["warnings"][0]["field"] == ["input", "title"]

    for title in ("Reset a forgotten password by email", "Export the invoice as CSV"):
        unrelated = await account(CREATE, {"i": {"productId": product["id"], "kind": "STORY", "title": title}})
        assert unrelated["createRequirement"]["warnings"] == [], title


async def test_retitling_a_requirement_into_a_near_copy_warns_and_a_near_miss_does_not(
    app: Starlette, job_app: App, settings: Settings, account: Account
) -> None:
    product = await create_product(account)
    original = await create_requirement(account, product["id"], "Single sign-on with SAML")
    other = await create_requirement(account, product["id"], "Audit log retention")
    await index_pending(app, job_app, settings)
    update = """mutation($i: UpdateRequirementInput!) {
      updateRequirement(input: $i) { requirement { version } userErrors { code } warnings { code message } }
    }"""

    near_miss = await account(update, {"i": {"id": other["id"], "version": 1, "title": "Single sign-on with OIDC"}})
    assert near_miss["updateRequirement"]["userErrors"] == []
    # Shares words, means something else: close enough for the cosine (0.68), but "SAML" has no counterpart.
    assert near_miss["updateRequirement"]["warnings"] == []

    copy = await account(update, {"i": {"id": other["id"], "version": 2, "title": "Single sign-on via SAML"}})
    assert copy["updateRequirement"]["userErrors"] == []
    assert [w["code"] for w in copy["updateRequirement"]["warnings"]] == ["LIKELY_DUPLICATE"]
    assert original["key"] in copy["updateRequirement"]["warnings"][0]["message"]

    unchanged_title = await account(update, {"i": {"id": other["id"], "version": 3, "estimate": 3}})
    assert unchanged_title["updateRequirement"]["warnings"] == []  # only a title change is checked


DOCUMENT_SEARCH = """query($q: String!, $p: ID, $first: Int) {
  semanticSearch(query: $q, productId: $p, first: $first) {
    matches { key requirement { id } } documents { title score document { id title } }
  }
}"""


async def test_documents_are_indexed_by_jobs_kept_in_step_and_found_beside_requirements(
    app: Starlette, job_app: App, settings: Settings, account: Account
) -> None:
    product = await create_product(account)
    other_product = await create_product(account)
    prd = await create_document(
        account, product["id"], "Offline mode PRD", body="Field engineers sync work orders without a network."
    )
    await create_document(account, product["id"], "Billing spec", body="Invoices are emailed monthly.")
    await create_document(account, other_product["id"], "Offline sync notes", body="Work orders sync offline.")
    requirement = await create_requirement(account, product["id"], "Sync work orders offline")
    await index_pending(app, job_app, settings)

    found = await account(DOCUMENT_SEARCH, {"q": "sync work orders without network", "p": product["id"]})
    search = found["semanticSearch"]
    assert [m["requirement"]["id"] for m in search["matches"]] == [requirement["id"]]  # requirements only
    assert search["documents"][0]["document"]["id"] == prd["id"]
    assert search["documents"][0]["title"] == "Offline mode PRD"
    assert len(search["documents"]) == 2  # the other product's document is not in this product's search
    assert search["documents"][0]["score"] > search["documents"][1]["score"]
    everywhere = (await account(DOCUMENT_SEARCH, {"q": "sync work orders offline", "first": 5}))["semanticSearch"]
    assert len(everywhere["documents"]) == 3

    changed = await account(
        """mutation($i: UpdateDocumentInput!) {
             updateDocument(input: $i) { document { version } userErrors { code } } }""",
        {"i": {"id": prd["id"], "version": prd["version"], "body": "Dark mode for the dashboard at night."}},
    )
    assert changed["updateDocument"]["userErrors"] == []
    await index_pending(app, job_app, settings)
    night = (await account(DOCUMENT_SEARCH, {"q": "dark mode at night", "first": 1}))["semanticSearch"]
    assert [d["document"]["id"] for d in night["documents"]] == [prd["id"]]

    deleted = await account(
        """mutation($i: DeleteDocumentInput!) { deleteDocument(input: $i) { userErrors { code } } }""",
        {"i": {"id": prd["id"], "version": changed["updateDocument"]["document"]["version"]}},
    )
    assert deleted["deleteDocument"]["userErrors"] == []
    await index_pending(app, job_app, settings)
    hits = await app.state.runtime().ai.index.search(
        uuid_of(account.organization_id), "dark mode at night", limit=10, kind="document"
    )
    assert str(uuid_of(prd["id"])) not in [str(hit.id) for hit in hits]


async def test_another_organization_never_finds_an_organizations_documents(
    app: Starlette, job_app: App, settings: Settings, account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    await create_document(account, product["id"], "Project Bluefin PRD", body="Acquire Zanzibar before the merger.")
    await create_product(other_account)
    await index_pending(app, job_app, settings)
    foreign = await other_account.run(DOCUMENT_SEARCH, {"q": "Project Bluefin acquire Zanzibar merger"})
    assert foreign.body["data"]["semanticSearch"]["documents"] == []
    assert "Zanzibar" not in str(foreign.body)
    assert "Bluefin" not in str(foreign.body)
    mine = (await account(DOCUMENT_SEARCH, {"q": "Project Bluefin acquire Zanzibar merger"}))["semanticSearch"]
    assert [d["title"] for d in mine["documents"]] == ["Project Bluefin PRD"]


async def test_prism_ai_reindex_counts_and_indexes_documents(
    account: Account, database_url: str, tmp_path: Path
) -> None:
    product = await create_product(account)
    await create_requirement(account, product["id"], "Show velocity on the dashboard")
    await create_document(account, product["id"], "Dashboard PRD", body="Velocity and burndown at a glance.")
    organization = str(uuid_of(account.organization_id))
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["ai", "reindex", "--organization", organization],
        env={"DATABASE_URL": database_url, "DATABASE_ADMIN_URL": None, "PRISM_HOME": str(tmp_path)},  # type: ignore[dict-item]
    )
    assert result.exit_code == 0, result.output
    assert f"organization {organization}: 1 requirements indexed, 1 documents" in result.output
    index = VectorIndex(HashedEmbedder(), url=None, path=str(tmp_path / "qdrant"), collection="prism")
    documents = await index.search(uuid_of(account.organization_id), "velocity burndown", limit=5, kind="document")
    requirements = await index.search(uuid_of(account.organization_id), "velocity", limit=5, kind="requirement")
    await index.close()
    assert [hit.kind for hit in documents] == ["document"]
    assert [hit.kind for hit in requirements] == ["requirement"]


async def test_the_word_check_reveals_nothing_of_another_organizations_words(
    app: Starlette, account: Account, other_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the duplicate warning's word check keeps word vectors in one cache per process, shared by every
    organization (prism.ai.duplicates.DuplicateCheck). Whether a word is embedded on a check therefore depends on
    whether another organization's check used it lately: with a remote embedding model that is an embedding call
    or none (a latency an attacker measures), so an organization can probe whether a word (a codename, a
    customer's name) appears in other tenants' requirements. Cached per organization (or not at all), one
    organization's checks never change what another's cost."""
    from uuid import uuid4

    from prism.ai.duplicates import DuplicateCheck
    from prism.ai.retrieval import index_requirements
    from tests.doubles import CountingEmbedder

    runtime = app.state.runtime()
    embedder = CountingEmbedder()
    monkeypatch.setattr(runtime.ai, "duplicates", DuplicateCheck(embedder))
    secret = f"zq{uuid4().hex[:10]}"
    title = f"Launch {secret} for the enterprise plan"
    embedded_by: dict[str, list[str]] = {}
    for owner in (account, other_account):
        product = await create_product(owner)
        first = await create_requirement(owner, product["id"], title)
        await index_requirements(
            runtime.ai.index, runtime.engine, uuid_of(owner.organization_id), [uuid_of(first["id"])]
        )
        before = len(embedder.embedded)
        copy = await owner(CREATE, {"i": {"productId": product["id"], "kind": "STORY", "title": title}})
        assert [w["code"] for w in copy["createRequirement"]["warnings"]] == ["LIKELY_DUPLICATE"]
        embedded_by[owner.organization_id] = embedder.embedded[before:]
    assert secret in embedded_by[account.organization_id]
    # The second organization's check must cost what it would have cost had the first never run.
    assert secret in embedded_by[other_account.organization_id], embedded_by


async def test_the_duplicate_check_runs_after_the_change_is_committed_and_holds_no_lock_of_it(
    app: Starlette, job_app: App, settings: Settings, account: Account, database_url: str, monkeypatch: Any
) -> None:
    """Review (stall): createRequirement's duplicate check ran inside the mutation's transaction, with the product's
    row locked FOR UPDATE (its next requirement number), so with a remote embedding model every creation in the
    product waited on a model call. The warnings are now resolved after the use case commits: while the check
    embeds, the new requirement is visible to another session and the product row is free to lock."""
    import asyncpg

    from prism.ai.duplicates import DuplicateCheck

    product = await create_product(account)
    title = "Archive a finished sprint with its burndown"
    await create_requirement(account, product["id"], title)
    await index_pending(app, job_app, settings)
    seen: list[tuple[int, bool]] = []

    class Probing(HashedEmbedder):
        async def embed(self, texts: list[str]) -> list[list[float]]:
            side = await asyncpg.connect(database_url)
            try:
                visible = await side.fetchval("SELECT count(*) FROM requirement WHERE title = $1", title)
                async with side.transaction():
                    try:
                        await side.execute(
                            "SELECT 1 FROM product WHERE id = $1 FOR UPDATE NOWAIT", uuid_of(product["id"])
                        )
                        free = True
                    except asyncpg.LockNotAvailableError:
                        free = False
                seen.append((visible, free))
            finally:
                await side.close()
            return await super().embed(texts)

    monkeypatch.setattr(app.state.runtime().ai, "duplicates", DuplicateCheck(Probing()))
    copy = await account(CREATE, {"i": {"productId": product["id"], "kind": "STORY", "title": title}})
    assert [w["code"] for w in copy["createRequirement"]["warnings"]] == ["LIKELY_DUPLICATE"]
    assert seen, "the word check never embedded"
    # Both requirements committed, the product row unlocked, whenever the check embedded.
    assert set(seen) == {(2, True)}, seen

    # A client that does not ask for the warnings does not pay for the check.
    seen.clear()
    quiet = await account(
        "mutation($i: CreateRequirementInput!) { createRequirement(input: $i) { requirement { id } } }",
        {"i": {"productId": product["id"], "kind": "STORY", "title": title}},
    )
    assert quiet["createRequirement"]["requirement"]["id"]
    assert seen == []
