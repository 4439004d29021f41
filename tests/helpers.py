"""Test helpers: a GraphQL client and factories that create data through the public API."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


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
  signUp(input: $input) { accessToken emailVerificationRequired userErrors { field message code } }
}
"""
VERIFY_EMAIL = """
mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { user { id } userErrors { field message code } } }
"""
LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken user { id } organization { id } userErrors { field message code } }
}
"""


def mailer_of(gql: GraphQLClient) -> Any:
    """The recording mailer of the in-process app a client talks to (installed when the app has another one)."""
    from prism.auth.mailer import RecordingMailer

    app = getattr(gql.http, "_transport").app  # noqa: B009 - httpx keeps the ASGI app on its private transport
    runtime = app.state.runtime()
    if not isinstance(runtime.mailer, RecordingMailer):
        runtime.mailer = RecordingMailer()
    return runtime.mailer


def verification_token(gql: GraphQLClient, email: str) -> str:
    """The token of the last sign-up confirmation mailed to `email`."""
    import re

    for message in reversed(mailer_of(gql).sent):
        found = re.search(r"with the verifyEmail mutation: (\S+)", message.body)
        if message.to == email and found:
            return found.group(1)
    raise AssertionError(f"no confirmation was mailed to {email}")


async def sign_up(gql: GraphQLClient, *, name: str = "Test User", organization: str = "Test Org") -> Account:
    """Create a fresh user and organization through the API: sign up, confirm the mailed token, log in."""
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    password = "correct-horse-battery"
    mailer_of(gql)
    data = await gql(
        SIGN_UP,
        {"input": {"email": email, "password": password, "name": name, "organizationName": organization}},
    )
    assert data["signUp"] == {"accessToken": None, "emailVerificationRequired": True, "userErrors": []}, data
    verified = (await gql(VERIFY_EMAIL, {"input": {"token": verification_token(gql, email)}}))["verifyEmail"]
    assert verified["userErrors"] == [], verified
    payload = (await gql(LOG_IN, {"input": {"email": email, "password": password}}))["logIn"]
    assert payload["userErrors"] == [], payload
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


async def create_sprint(account: Account, product_id: str, name: str = "Sprint 1", **fields: Any) -> dict[str, Any]:
    """A PLANNED sprint in a product; returns {id, name, state, version}."""
    data = await account(
        """mutation($input: CreateSprintInput!) {
             createSprint(input: $input) { sprint { id name state version } userErrors { field message code } }
           }""",
        {"input": {"productId": product_id, "name": name, **fields}},
    )
    assert data["createSprint"]["userErrors"] == [], data
    return data["createSprint"]["sprint"]  # type: ignore[no-any-return]


async def create_release(account: Account, product_id: str, name: str = "1.0", **fields: Any) -> dict[str, Any]:
    """A PLANNED release of a product; returns {id, name, state, version}."""
    data = await account(
        """mutation($input: CreateReleaseInput!) {
             createRelease(input: $input) { release { id name state version } userErrors { field message code } }
           }""",
        {"input": {"productId": product_id, "name": name, **fields}},
    )
    assert data["createRelease"]["userErrors"] == [], data
    return data["createRelease"]["release"]  # type: ignore[no-any-return]


async def join_organization(
    gql: GraphQLClient, database_url: str, account: Account, role: str = "MEMBER", name: str = "Teammate"
) -> Account:
    """A fresh user who joins `account`'s organization with `role`, signed in to that organization.

    Membership is written straight to the database: the API has no invitation flow for tests to go through yet.
    """
    import asyncpg
    from strawberry.relay import GlobalID

    newcomer = await sign_up(gql, name=name)
    organization_id = GlobalID.from_id(account.organization_id).node_id
    user_id = GlobalID.from_id(newcomer.user_id).node_id
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO membership (id, organization_id, user_id, role, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, now(), now())",
            uuid.uuid4(),
            uuid.UUID(organization_id),
            uuid.UUID(user_id),
            role,
        )
    finally:
        await conn.close()
    data = await gql(
        """mutation($input: LogInInput!) {
             logIn(input: $input) { accessToken userErrors { field message code } }
           }""",
        {"input": {"email": newcomer.email, "password": newcomer.password, "organizationId": account.organization_id}},
    )
    assert data["logIn"]["userErrors"] == [], data
    return Account(
        token=data["logIn"]["accessToken"],
        user_id=newcomer.user_id,
        organization_id=account.organization_id,
        email=newcomer.email,
        password=newcomer.password,
        gql=gql,
    )


async def create_label(account: Account, name: str | None = None, **fields: Any) -> dict[str, Any]:
    """A label of the account's organization; returns {id, name, color}."""
    data = await account(
        """mutation($input: CreateLabelInput!) {
             createLabel(input: $input) { label { id name color } userErrors { field message code } }
           }""",
        {"input": {"name": name or f"label-{uuid.uuid4().hex[:8]}", **fields}},
    )
    assert data["createLabel"]["userErrors"] == [], data
    return data["createLabel"]["label"]  # type: ignore[no-any-return]


async def create_roadmap(account: Account, product_id: str, name: str = "Roadmap", **fields: Any) -> dict[str, Any]:
    """A roadmap of a product; returns {id, name, version}."""
    data = await account(
        """mutation($input: CreateRoadmapInput!) {
             createRoadmap(input: $input) { roadmap { id name version } userErrors { field message code } }
           }""",
        {"input": {"productId": product_id, "name": name, **fields}},
    )
    assert data["createRoadmap"]["userErrors"] == [], data
    return data["createRoadmap"]["roadmap"]  # type: ignore[no-any-return]


async def add_roadmap_item(account: Account, roadmap_id: str, title: str = "Item", **fields: Any) -> dict[str, Any]:
    """An item on a roadmap; returns {id, title, rank}."""
    data = await account(
        """mutation($input: AddRoadmapItemInput!) {
             addRoadmapItem(input: $input) { roadmapItem { id title rank } userErrors { field message code } }
           }""",
        {"input": {"roadmapId": roadmap_id, "title": title, **fields}},
    )
    assert data["addRoadmapItem"]["userErrors"] == [], data
    return data["addRoadmapItem"]["roadmapItem"]  # type: ignore[no-any-return]


async def create_document(
    account: Account, product_id: str, title: str = "A PRD", kind: str = "PRD", **fields: Any
) -> dict[str, Any]:
    """A DRAFT document of a product; returns {id, title, version}."""
    data = await account(
        """mutation($input: CreateDocumentInput!) {
             createDocument(input: $input) { document { id title version } userErrors { field message code } }
           }""",
        {"input": {"productId": product_id, "title": title, "kind": kind, **fields}},
    )
    assert data["createDocument"]["userErrors"] == [], data
    return data["createDocument"]["document"]  # type: ignore[no-any-return]


async def add_comment(account: Account, body: str = "Looks good.", **subject: Any) -> dict[str, Any]:
    """A comment on a requirement or document (pass requirementId= or documentId=); returns {id, body, version}."""
    data = await account(
        """mutation($input: AddCommentInput!) {
             addComment(input: $input) { comment { id body version } userErrors { field message code } }
           }""",
        {"input": {"body": body, **subject}},
    )
    assert data["addComment"]["userErrors"] == [], data
    return data["addComment"]["comment"]  # type: ignore[no-any-return]


def uuid_of(global_id: str) -> uuid.UUID:
    """The row id inside a global id."""
    from strawberry.relay import GlobalID

    return uuid.UUID(GlobalID.from_id(global_id).node_id)


def global_id(type_name: str, row_id: uuid.UUID) -> str:
    """The global id of a row of a Node type."""
    from strawberry.relay import to_base64

    return to_base64(type_name, str(row_id))


async def insert_rows(app: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows of one organization straight into a table, for bulk data or rows no API under test creates.

    Each row carries its `organization_id` (a UUID); columns left out take the model's defaults (ids, timestamps).
    The insert runs in one transaction scoped to the organization, like the app's.
    """
    import sqlalchemy as sa

    from prism.db.unit_of_work import UnitOfWork

    if not rows:
        return
    organizations = {row["organization_id"] for row in rows}
    assert len(organizations) == 1, "insert the rows of one organization at a time"
    filled = [model(**row).model_dump() for row in rows]
    organization_id = organizations.pop()
    async with UnitOfWork(app.state.runtime().engine, organization_id) as uow, uow.session(organization_id) as session:
        await (await session.connection()).execute(sa.insert(model.__table__), filled)


async def create_api_key(account: Account, scopes: tuple[str, ...] = ("READ",), **fields: Any) -> dict[str, Any]:
    """An API key of the account's organization; returns {id, prefix, scopes, secret} (secret: the full key)."""
    data = await account(
        """mutation($input: CreateApiKeyInput!) {
             createApiKey(input: $input) { apiKey { id prefix scopes } secret userErrors { field message code } }
           }""",
        {"input": {"name": fields.pop("name", "Integration"), "scopes": list(scopes), **fields}},
    )
    payload = data["createApiKey"]
    assert payload["userErrors"] == [], data
    return {**payload["apiKey"], "secret": payload["secret"]}


@asynccontextmanager
async def app_with(settings: Any, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second app on the test database, its settings changed by `overrides` (limits, flags)."""
    from asgi_lifespan import LifespanManager

    from prism.app import build_app
    from prism.config import Settings

    app = build_app(
        Settings(
            database_url=settings.database_url,
            home=settings.home,
            environment="test",
            auto_migrate=False,
            log_format="console",
            secret_key=settings.secret_key,
            **overrides,
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        yield http


@asynccontextmanager
async def client_from(app: Any, ip: str, user_agent: str = "PRISM tests") -> AsyncIterator[GraphQLClient]:
    """A GraphQL client whose requests come from `ip` with `user_agent` (sessions, throttling per address)."""
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://prism.test", headers={"user-agent": user_agent}
    ) as client:
        yield GraphQLClient(client)


TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def store_for(kind: str) -> Any:
    """The in-process store, or a Redis store under a prefix of its own (required when services are required)."""
    from prism.kv import MemoryStore, RedisStore

    if kind == "memory":
        return MemoryStore()
    store = RedisStore(TEST_REDIS_URL, prefix=f"prism-test-{uuid.uuid4().hex[:8]}:")
    try:
        await store.ping()
    except OSError as error:
        await store.close()
        if os.environ.get("PRISM_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {TEST_REDIS_URL} is required (PRISM_TEST_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"Redis at {TEST_REDIS_URL} is not reachable")
    return store


async def assert_not_found(account: Account, query: str, variables: dict[str, Any], field: str) -> None:
    """The root field answers null with a NOT_FOUND error, as for an id that does not exist."""
    result = await account.run(query, variables)
    assert result.data == {field: None}, result.body
    assert result.codes == ["NOT_FOUND"], result.body
