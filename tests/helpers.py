"""Test helpers: a GraphQL client and factories that create data through the public API."""

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class GraphQLResult:
    """A GraphQL response with the HTTP details tests check."""

    status: int
    body: dict[str, Any]
    headers: httpx.Headers

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]

    @property
    def sql_statements(self) -> int:
        return int(self.headers["x-sql-statements"])


@dataclass
class GraphQLClient:
    """Posts GraphQL operations to the app."""

    http: httpx.AsyncClient

    async def run(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> GraphQLResult:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        return GraphQLResult(status=response.status_code, body=response.json(), headers=response.headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        """Run an operation that must succeed and return its data."""
        result = await self.run(query, variables, token=token)
        assert result.status == 200, result.body
        assert not result.errors, result.errors
        return result.data


@dataclass
class Account:
    """A signed-up user, the organization they own, and their token."""

    token: str
    user_id: str
    organization_id: str
    email: str
    password: str
    gql: GraphQLClient = field(repr=False)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        return await self.gql(query, variables, token=self.token)

    async def run(self, query: str, variables: dict[str, Any] | None = None) -> GraphQLResult:
        return await self.gql.run(query, variables, token=self.token)


SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { accessToken user { id } organization { id } userErrors { field message code } }
}
"""


async def sign_up(gql: GraphQLClient, *, name: str = "Test User", organization: str = "Test Org") -> Account:
    """Create a fresh user and organization through the API."""
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    password = "correct-horse-battery"
    data = await gql(
        SIGN_UP,
        {"input": {"email": email, "password": password, "name": name, "organizationName": organization}},
    )
    payload = data["signUp"]
    assert payload["userErrors"] == []
    return Account(
        token=payload["accessToken"],
        user_id=payload["user"]["id"],
        organization_id=payload["organization"]["id"],
        email=email,
        password=password,
        gql=gql,
    )


async def create_product(account: Account, key: str | None = None, name: str = "Product") -> dict[str, Any]:
    """A product of the account's organization; returns {id, key, version}."""
    key = key or "P" + uuid.uuid4().hex[:6].upper()
    data = await account(
        """mutation($input: CreateProductInput!) {
             createProduct(input: $input) { product { id key version } userErrors { field message code } }
           }""",
        {"input": {"key": key, "name": name}},
    )
    assert data["createProduct"]["userErrors"] == [], data
    return data["createProduct"]["product"]  # type: ignore[no-any-return]


async def create_requirement(
    account: Account, product_id: str, title: str = "A story", kind: str = "STORY", **fields: Any
) -> dict[str, Any]:
    """A requirement in a product; returns {id, key, version, status}."""
    data = await account(
        """mutation($input: CreateRequirementInput!) {
             createRequirement(input: $input) {
               requirement { id key version status }
               userErrors { field message code }
             }
           }""",
        {"input": {"productId": product_id, "title": title, "kind": kind, **fields}},
    )
    assert data["createRequirement"]["userErrors"] == [], data
    return data["createRequirement"]["requirement"]  # type: ignore[no-any-return]
