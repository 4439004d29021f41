"""The links PRISM mails lead to pages PRISM serves: confirming an address and choosing a new password work from a
browser, and opening a link (as mail scanners do) spends nothing."""

import re
import uuid

import httpx

from tests.helpers import LOG_IN, SIGN_UP, GraphQLClient, mailer_of, sign_up

PASSWORD = "correct-horse-battery"


def link_in(gql: GraphQLClient, to: str, path: str) -> str:
    for message in reversed(mailer_of(gql).sent):
        found = re.search(rf"https?://\S+{path}\?token=\S+", message.body)
        if message.to == to and found:
            return found.group(0)
    raise AssertionError(f"no {path} link was mailed to {to}")


async def test_the_sign_up_link_opens_a_page_whose_button_creates_the_account(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    email = f"page-{uuid.uuid4().hex[:8]}@example.com"
    await gql(SIGN_UP, {"input": {"email": email, "password": PASSWORD, "name": "Page", "organizationName": "P"}})
    link = link_in(gql, email, "/verify-email")
    assert link.startswith("http://127.0.0.1:8000/verify-email?token=")  # PRISM_PUBLIC_URL, PRISM's own route
    path = link.removeprefix("http://127.0.0.1:8000")

    for _ in range(2):  # a mail scanner, then the person: showing the page spends nothing
        page = await http.get(path)
        assert page.status_code == 200
        assert '<form method="post" action="/verify-email">' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    refused_before = (await gql.run(LOG_IN, {"input": {"email": email, "password": PASSWORD}})).data["logIn"]
    assert refused_before["accessToken"] is None

    token = path.split("token=", 1)[1]
    confirmed = await http.post(
        "/verify-email", content=f"token={token}", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert confirmed.status_code == 200
    assert "Your address is confirmed" in confirmed.text
    logged_in = (await gql.run(LOG_IN, {"input": {"email": email, "password": PASSWORD}})).data["logIn"]
    assert logged_in["accessToken"]

    again = await http.post(
        "/verify-email", content=f"token={token}", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert again.status_code == 400
    assert "does not work" in again.text


async def test_the_reset_link_opens_a_page_that_sets_the_new_password(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    account = await sign_up(gql)
    asked = await gql(
        "mutation($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { ok userErrors { code } } }",
        {"i": {"email": account.email}},
    )
    assert asked["requestPasswordReset"]["userErrors"] == []
    path = link_in(gql, account.email, "/reset-password").removeprefix("http://127.0.0.1:8000")
    page = await http.get(path)
    assert 'type="password" name="password"' in page.text

    token = path.split("token=", 1)[1]
    new_password = "a-brand-new-passphrase"
    changed = await http.post(
        "/reset-password",
        content=f"token={token}&password={new_password}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert changed.status_code == 200, changed.text
    assert "Your password is changed" in changed.text
    old = (await gql.run(LOG_IN, {"input": {"email": account.email, "password": account.password}})).data["logIn"]
    new = (await gql.run(LOG_IN, {"input": {"email": account.email, "password": new_password}})).data["logIn"]
    assert old["accessToken"] is None
    assert new["accessToken"]


async def test_a_hostile_token_in_a_link_is_shown_as_text_never_as_markup(http: httpx.AsyncClient) -> None:
    page = await http.get("/verify-email", params={"token": '"><script>alert(1)</script>'})
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
