"""Statements kept for every organization (`prism.db.statements.kept`) bake in no organization.

A kept statement is built once per shape and shared by every request of the process; the organization it reads is
the bound parameter `prism.db.tenancy.unit_organization()`, which the unit of work fills in with the organization of
the scope it runs the statement in. A builder that baked its loader's organization into a statement kept under a key
without it would answer the next organization with the first one's rows (row-level security would hide them, so it
would answer nothing: a product "not found"), which is what this test looks for, on both executors.
"""

from collections.abc import Hashable
from typing import Any

from prism.db import statements
from tests.helpers import Account, create_label, create_product, create_requirement, uuid_of

SHAPES = """
query Shapes($key: String!) {
  product(key: $key) { key name }
  products(first: 5) {
    totalCount
    nodes {
      key
      requirements(first: 5) {
        totalCount
        nodes { key title assignee { name } labels { name } childCount }
      }
    }
  }
}
"""


def _baked(statement: Any) -> set[Any]:
    """Every value bound in the statement itself (those in a list one by one)."""
    values: set[Any] = set()
    for value in statement.compile().params.values():
        for each in value if isinstance(value, list | tuple | set | frozenset) else [value]:
            if isinstance(each, Hashable) and each is not None:
                values.add(each)
    return values


async def _ask(account: Account) -> None:
    product = await create_product(account)
    label = await create_label(account)
    await create_requirement(account, product["id"], "Kept statements", labelIds=[label["id"]])
    data: dict[str, Any] = await account(SHAPES, {"key": product["key"]})
    assert data["product"]["key"] == product["key"]
    (listed,) = data["products"]["nodes"]
    (requirement,) = listed["requirements"]["nodes"]
    assert requirement["title"] == "Kept statements"
    assert [label["name"] for label in requirement["labels"]] != []


async def test_two_organizations_share_the_kept_statements_and_each_reads_its_own_rows(
    account: Account, other_account: Account
) -> None:
    # The second organization reads through the statements the first one's requests built and kept.
    await _ask(account)
    await _ask(other_account)
    organizations = {uuid_of(account.organization_id), uuid_of(other_account.organization_id)}
    baked = set().union(*(_baked(statement) for statement in list(statements._KEPT.values())))
    assert not baked & organizations
