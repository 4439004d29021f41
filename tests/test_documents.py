"""Documents: PRDs, specs and notes of a product, with every edit of their text kept as a version."""

from typing import Any

from tests.helpers import Account, assert_not_found, create_document, create_product

ERRORS = "userErrors { field message code }"
CREATE = f"""
mutation($input: CreateDocumentInput!) {{
  createDocument(input: $input) {{ document {{ id kind title body status version }} {ERRORS} }}
}}
"""
UPDATE = f"""
mutation($input: UpdateDocumentInput!) {{
  updateDocument(input: $input) {{ document {{ id title body status version }} {ERRORS} }}
}}
"""
DOCUMENT = """
query($id: ID!) {
  document(id: $id) {
    id kind title body status version
    author { id name }
    product { key }
    versions(first: 100) { totalCount nodes { id number title body author { id } } }
  }
}
"""
PRODUCT_DOCUMENTS = """
query($id: ID!, $filter: DocumentFilter) {
  product(id: $id) { documents(filter: $filter) { totalCount nodes { title kind status } } }
}
"""


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def read(account: Account, document_id: str) -> Any:
    return (await account(DOCUMENT, {"id": document_id}))["document"]


async def update(account: Account, **fields: Any) -> dict[str, Any]:
    return (await account(UPDATE, {"input": fields}))["updateDocument"]  # type: ignore[no-any-return]


async def test_creating_a_document_saves_its_text_as_version_one(account: Account) -> None:
    product = await create_product(account, key="DOCS")
    created = (
        await account(
            CREATE,
            {"input": {"productId": product["id"], "kind": "PRD", "title": " Checkout PRD ", "body": "# Goals\n"}},
        )
    )["createDocument"]
    assert created["userErrors"] == []
    assert created["document"] == {
        "id": created["document"]["id"],
        "kind": "PRD",
        "title": "Checkout PRD",
        "body": "# Goals",
        "status": "DRAFT",
        "version": 1,
    }

    document = await read(account, created["document"]["id"])
    assert document["author"] == {"id": account.user_id, "name": "Test User"}
    assert document["product"] == {"key": "DOCS"}
    assert document["versions"]["totalCount"] == 1
    (version,) = document["versions"]["nodes"]
    assert (version["number"], version["title"], version["body"]) == (1, "Checkout PRD", "# Goals")
    assert version["author"] == {"id": account.user_id}

    node = await account(
        "query($id: ID!) { node(id: $id) { ... on DocumentVersion { number document { title } } } }",
        {"id": version["id"]},
    )
    assert node["node"] == {"number": 1, "document": {"title": "Checkout PRD"}}


async def test_two_edits_of_the_text_make_three_versions_listed_newest_first(account: Account) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"], title="Spec", kind="SPEC", body="draft one")

    first = await update(account, id=document["id"], version=1, body="draft two")
    assert first["userErrors"] == []
    second = await update(account, id=document["id"], version=2, title="Spec v3", body="draft three")
    assert second["userErrors"] == []
    assert second["document"]["version"] == 3

    versions = (await read(account, document["id"]))["versions"]
    assert versions["totalCount"] == 3
    assert [(v["number"], v["title"], v["body"]) for v in versions["nodes"]] == [
        (3, "Spec v3", "draft three"),
        (2, "Spec", "draft two"),
        (1, "Spec", "draft one"),
    ]


async def test_a_status_change_alone_or_unchanged_text_saves_no_new_version(account: Account) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"], body="text")

    reviewed = await update(account, id=document["id"], version=1, status="IN_REVIEW")
    assert reviewed["userErrors"] == []
    assert (reviewed["document"]["status"], reviewed["document"]["version"]) == ("IN_REVIEW", 2)
    same_text = await update(account, id=document["id"], version=2, body="text", status="APPROVED")
    assert same_text["userErrors"] == []

    read_back = await read(account, document["id"])
    assert (read_back["status"], read_back["version"]) == ("APPROVED", 3)
    assert read_back["versions"]["totalCount"] == 1


async def test_an_edit_from_a_stale_version_conflicts_and_saves_nothing(account: Account) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"], body="original")
    await update(account, id=document["id"], version=1, body="first edit")

    stale = await update(account, id=document["id"], version=1, body="lost edit")
    assert stale["document"] is None
    assert codes(stale) == [(["input", "version"], "CONFLICT")]

    read_back = await read(account, document["id"])
    assert (read_back["body"], read_back["version"], read_back["versions"]["totalCount"]) == ("first edit", 2, 2)


async def test_document_text_outside_its_limits_is_refused_and_nothing_is_written(account: Account) -> None:
    product = await create_product(account)
    for given, field, code in [
        ({"title": ""}, "title", "BAD_USER_INPUT"),
        ({"title": "t" * 256}, "title", "TOO_LONG"),
        ({"title": "ok", "body": "b" * 200_001}, "body", "TOO_LONG"),
    ]:
        payload = (await account(CREATE, {"input": {"productId": product["id"], "kind": "NOTE", **given}}))[
            "createDocument"
        ]
        assert payload["document"] is None
        assert codes(payload) == [(["input", field], code)], field
    listed = (await account(PRODUCT_DOCUMENTS, {"id": product["id"]}))["product"]["documents"]
    assert listed["totalCount"] == 0

    document = await create_document(account, product["id"], title="t" * 255, body="b" * 200_000)
    too_long = await update(account, id=document["id"], version=1, body="c" * 200_001)
    assert codes(too_long) == [(["input", "body"], "TOO_LONG")]
    blank_title = await update(account, id=document["id"], version=1, title="  ")
    assert codes(blank_title) == [(["input", "title"], "BAD_USER_INPUT")]
    read_back = await read(account, document["id"])
    assert (len(read_back["body"]), read_back["version"], read_back["versions"]["totalCount"]) == (200_000, 1, 1)


async def test_a_products_documents_list_most_recently_changed_first_and_filter(account: Account) -> None:
    product = await create_product(account)
    prd = await create_document(account, product["id"], title="PRD", kind="PRD")
    await create_document(account, product["id"], title="Spec", kind="SPEC")
    note = await create_document(account, product["id"], title="Note", kind="NOTE")
    await update(account, id=note["id"], version=1, status="IN_REVIEW")
    await update(account, id=prd["id"], version=1, body="now the freshest")

    everything = (await account(PRODUCT_DOCUMENTS, {"id": product["id"]}))["product"]["documents"]
    assert [n["title"] for n in everything["nodes"]] == ["PRD", "Note", "Spec"]
    assert everything["totalCount"] == 3

    by_kind = (await account(PRODUCT_DOCUMENTS, {"id": product["id"], "filter": {"kinds": ["SPEC", "NOTE"]}}))[
        "product"
    ]["documents"]
    assert [n["title"] for n in by_kind["nodes"]] == ["Note", "Spec"]
    assert by_kind["totalCount"] == 2
    by_status = (
        await account(
            PRODUCT_DOCUMENTS, {"id": product["id"], "filter": {"kinds": ["NOTE", "PRD"], "statuses": ["IN_REVIEW"]}}
        )
    )["product"]["documents"]
    assert by_status == {"totalCount": 1, "nodes": [{"title": "Note", "kind": "NOTE", "status": "IN_REVIEW"}]}


async def test_another_organizations_document_ids_are_not_found_and_nothing_is_written(
    account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"], title="Secret plan", body="v1")

    created = (
        await other_account(CREATE, {"input": {"productId": product["id"], "kind": "NOTE", "title": "Planted"}})
    )["createDocument"]
    assert codes(created) == [(["input", "productId"], "NOT_FOUND")]
    edited = await update(other_account, id=document["id"], version=1, body="defaced", status="ARCHIVED")
    assert codes(edited) == [(["input", "id"], "NOT_FOUND")]
    await assert_not_found(other_account, DOCUMENT, {"id": document["id"]}, "document")

    read_back = await read(account, document["id"])
    assert (read_back["body"], read_back["status"], read_back["version"]) == ("v1", "DRAFT", 1)
    assert read_back["versions"]["totalCount"] == 1
    listed = (await account(PRODUCT_DOCUMENTS, {"id": product["id"]}))["product"]["documents"]
    assert [n["title"] for n in listed["nodes"]] == ["Secret plan"]
