"""Products: creating, editing, archiving, finding and listing them, and who may change them."""

from typing import Any

from tests.helpers import Account, GraphQLClient, create_product, create_requirement, join_organization

PRODUCT = """
query($id: ID!) { product(id: $id) { key name description version archivedAt createdAt updatedAt } }
"""
UPDATE = """
mutation($input: UpdateProductInput!) {
  updateProduct(input: $input) { product { name description version updatedAt } userErrors { field message code } }
}
"""
ARCHIVE = """
mutation($input: ArchiveProductInput!) {
  archiveProduct(input: $input) { product { archivedAt version } userErrors { field message code } }
}
"""

UNARCHIVE = """
mutation($input: UnarchiveProductInput!) {
  unarchiveProduct(input: $input) { product { archivedAt version } userErrors { field message code } }
}
"""


async def product_of(account: Account, product_id: str) -> dict[str, Any]:
    return (await account(PRODUCT, {"id": product_id}))["product"]  # type: ignore[no-any-return]


async def listed_keys(account: Account, **arguments: Any) -> list[str]:
    data = await account(
        """query($filter: ProductFilter, $order: ProductOrder) {
             products(first: 100, filter: $filter, orderBy: $order) { totalCount nodes { key } }
           }""",
        arguments,
    )
    assert data["products"]["totalCount"] == len(data["products"]["nodes"])
    return [n["key"] for n in data["products"]["nodes"]]


async def test_a_product_is_created_with_a_normalised_key_and_trimmed_text(account: Account) -> None:
    data = await account(
        """mutation($input: CreateProductInput!) {
             createProduct(input: $input) {
               product { id key name description version archivedAt } userErrors { field message code }
             }
           }""",
        {"input": {"key": " prism ", "name": "  Prism  ", "description": "  The **PM** tool.\n"}},
    )
    payload = data["createProduct"]
    assert payload["userErrors"] == []
    created = payload["product"]
    assert {k: v for k, v in created.items() if k != "id"} == {
        "key": "PRISM",
        "name": "Prism",
        "description": "The **PM** tool.",
        "version": 1,
        "archivedAt": None,
    }
    assert (await account('{ product(key: "prism") { id } }'))["product"]["id"] == created["id"]
    assert await listed_keys(account) == ["PRISM"]


async def test_an_update_changes_the_fields_sent_and_bumps_the_version(account: Account) -> None:
    created = await create_product(account, key="EDIT", name="Old name")
    before = await product_of(account, created["id"])
    data = await account(UPDATE, {"input": {"id": created["id"], "version": 1, "description": "Now described."}})
    assert data["updateProduct"]["userErrors"] == []
    after = await product_of(account, created["id"])
    assert after["name"] == "Old name"
    assert after["description"] == "Now described."
    assert after["version"] == 2
    assert after["updatedAt"] > before["updatedAt"]
    assert after["createdAt"] == before["createdAt"]
    renamed = await account(UPDATE, {"input": {"id": created["id"], "version": 2, "name": "New name"}})
    assert renamed["updateProduct"]["product"]["name"] == "New name"
    assert (await product_of(account, created["id"]))["description"] == "Now described."


async def test_an_empty_name_is_refused_and_nothing_changes(account: Account) -> None:
    created = await create_product(account, name="Named")
    data = await account(UPDATE, {"input": {"id": created["id"], "version": 1, "name": "   "}})
    assert data["updateProduct"] == {
        "product": None,
        "userErrors": [{"field": ["input", "name"], "message": "name must not be empty.", "code": "BAD_USER_INPUT"}],
    }
    assert (await product_of(account, created["id"]))["name"] == "Named"


async def test_an_archived_product_leaves_default_lists_and_takes_no_new_requirements(account: Account) -> None:
    kept = await create_product(account, key="KEPT")
    archived = await create_product(account, key="GONE")
    await create_requirement(account, archived["id"], "Old work")
    data = await account(ARCHIVE, {"input": {"id": archived["id"], "version": 1}})
    first = data["archiveProduct"]["product"]
    assert first["archivedAt"] is not None
    assert first["version"] == 2
    assert await listed_keys(account) == ["KEPT"]
    assert sorted(await listed_keys(account, filter={"includeArchived": True})) == ["GONE", "KEPT"]
    assert (await account('{ product(key: "GONE") { requirements { totalCount } } }'))["product"] == {
        "requirements": {"totalCount": 1}
    }
    refused = await account(
        """mutation($input: CreateRequirementInput!) {
             createRequirement(input: $input) { requirement { id } userErrors { field code } }
           }""",
        {"input": {"productId": archived["id"], "kind": "STORY", "title": "New work"}},
    )
    assert refused["createRequirement"] == {
        "requirement": None,
        "userErrors": [{"field": ["input", "productId"], "code": "INVALID_STATE"}],
    }
    again = await account(ARCHIVE, {"input": {"id": archived["id"], "version": 2}})
    assert again["archiveProduct"]["product"]["archivedAt"] == first["archivedAt"]
    assert kept["key"] == "KEPT"


async def test_unarchiving_brings_a_product_back_to_default_lists_and_new_work(account: Account) -> None:
    product = await create_product(account, key="BACK")
    await account(ARCHIVE, {"input": {"id": product["id"], "version": 1}})
    assert await listed_keys(account) == []
    data = await account(UNARCHIVE, {"input": {"id": product["id"], "version": 2}})
    assert data["unarchiveProduct"] == {"product": {"archivedAt": None, "version": 3}, "userErrors": []}
    assert await listed_keys(account) == ["BACK"]
    await create_requirement(account, product["id"], "New work")
    again = await account(UNARCHIVE, {"input": {"id": product["id"], "version": 3}})
    assert again["unarchiveProduct"]["product"] == {"archivedAt": None, "version": 4}  # an active product stays so
    stale = await account(UNARCHIVE, {"input": {"id": product["id"], "version": 3}})
    assert stale["unarchiveProduct"] == {
        "product": None,
        "userErrors": [
            {
                "field": ["input", "version"],
                "message": stale["unarchiveProduct"]["userErrors"][0]["message"],
                "code": "CONFLICT",
            }
        ],
    }
    audit = await account(
        '{ auditLog(first: 10, filter: {actions: ["product.archived", "product.unarchived"]}) '
        "{ nodes { action targetId } } }"
    )
    assert [n["action"] for n in audit["auditLog"]["nodes"]] == ["product.unarchived", "product.archived"]


async def test_products_are_searched_by_name_or_key_case_insensitively(account: Account) -> None:
    await create_product(account, key="ALPHA", name="Checkout service")
    await create_product(account, key="BETA", name="Mobile app")
    await create_product(account, key="GAMMA", name="Discounts 100% off")
    assert await listed_keys(account, filter={"search": "CHECKOUT"}) == ["ALPHA"]
    assert await listed_keys(account, filter={"search": "bet"}) == ["BETA"]
    assert await listed_keys(account, filter={"search": "%"}) == ["GAMMA"]
    assert await listed_keys(account, filter={"search": "a"}) == ["ALPHA", "GAMMA", "BETA"]  # by name


async def test_products_are_ordered_by_name_unless_asked_otherwise(account: Account) -> None:
    await create_product(account, key="ZED", name="Apple")
    await create_product(account, key="MID", name="Cherry")
    await create_product(account, key="AAA", name="Banana")
    assert await listed_keys(account) == ["ZED", "AAA", "MID"]
    assert await listed_keys(account, order={"field": "NAME", "direction": "DESC"}) == ["MID", "AAA", "ZED"]
    assert await listed_keys(account, order={"field": "KEY"}) == ["AAA", "MID", "ZED"]
    assert await listed_keys(account, order={"field": "KEY", "direction": "DESC"}) == ["ZED", "MID", "AAA"]
    assert await listed_keys(account, order={"field": "CREATED_AT"}) == ["ZED", "MID", "AAA"]
    assert await listed_keys(account, order={"field": "CREATED_AT", "direction": "DESC"}) == ["AAA", "MID", "ZED"]


async def test_a_key_longer_than_any_key_finds_nothing_rather_than_a_prefix(account: Account) -> None:
    await create_product(account, key="ABCDEFGHIJ")
    assert (await account('{ product(key: "abcdefghij") { key } }'))["product"] == {"key": "ABCDEFGHIJ"}
    result = await account.run('{ product(key: "ABCDEFGHIJK") { key } }')
    assert result.codes == ["NOT_FOUND"]


async def test_product_needs_exactly_one_of_id_and_key(account: Account) -> None:
    created = await create_product(account)
    neither = await account.run("{ product { key } }")
    both = await account.run('query($id: ID!) { product(id: $id, key: "X") { key } }', {"id": created["id"]})
    assert neither.codes == both.codes == ["BAD_USER_INPUT"]


async def test_a_viewer_reads_products_but_may_not_change_them(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    created = await create_product(account, key="READ")
    viewer = await join_organization(gql, database_url, account, role="VIEWER", name="Vera")
    assert await listed_keys(viewer) == ["READ"]
    attempts = [
        ("createProduct", "CreateProductInput", {"key": "NOPE", "name": "Nope"}),
        ("updateProduct", "UpdateProductInput", {"id": created["id"], "version": 1, "name": "Nope"}),
        ("archiveProduct", "ArchiveProductInput", {"id": created["id"], "version": 1}),
        ("unarchiveProduct", "UnarchiveProductInput", {"id": created["id"], "version": 1}),
    ]
    for mutation, input_type, payload in attempts:
        result = await viewer.run(
            f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ userErrors {{ code }} }} }}",
            {"input": payload},
        )
        assert result.codes == ["FORBIDDEN"], (mutation, result.body)
    assert await product_of(account, created["id"]) == await product_of(viewer, created["id"])
    assert (await product_of(account, created["id"]))["version"] == 1
    assert await listed_keys(account) == ["READ"]


async def test_a_member_may_create_products(account: Account, gql: GraphQLClient, database_url: str) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    created = await create_product(member, key="TEAM")
    assert (await product_of(account, created["id"]))["key"] == "TEAM"


async def test_organizations_do_not_see_each_others_products(account: Account, other_account: Account) -> None:
    mine = await create_product(account, key="MINE")
    await create_product(other_account, key="THEIRS")
    assert await listed_keys(account) == ["MINE"]
    assert await listed_keys(other_account) == ["THEIRS"]
    assert (await other_account.run('{ product(key: "MINE") { key } }')).codes == ["NOT_FOUND"]
    assert (await other_account.run(PRODUCT, {"id": mine["id"]})).codes == ["NOT_FOUND"]
