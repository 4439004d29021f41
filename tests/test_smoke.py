"""The first path every user takes: sign up, create a product and a requirement, read them back."""

from tests.helpers import Account, create_product, create_requirement


async def test_a_new_account_can_create_and_read_back_a_requirement_by_key(account: Account) -> None:
    product = await create_product(account, key="SMOKE")
    created = await create_requirement(account, product["id"], title="Log in with email")
    assert created["key"] == "SMOKE-1"
    data = await account('{ requirement(key: "SMOKE-1") { title status product { key } } }')
    assert data["requirement"] == {"title": "Log in with email", "status": "BACKLOG", "product": {"key": "SMOKE"}}
