"""Single sign-on with OpenID Connect, end to end against a real provider on loopback (tests/oidc_provider.py).

The browser is played by hand: PRISM's login answer redirects to the provider, the provider's authorize answer
redirects back to PRISM's callback, each hop checked on the way.
"""

import base64
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from prism.app import build_app
from prism.auth.mailer import RecordingMailer
from prism.config import OidcProvider, Settings
from prism.web.sso import SESSION_COOKIE
from tests.helpers import Account, GraphQLClient, sign_up
from tests.oidc_provider import OidcTestProvider, ProviderUser, running_provider
from tests.test_accounts import REQUEST_RESET, RESET, token_in
from tests.test_mfa import COMPLETE, enrol
from tests.test_mfa import log_in as log_in_with_password

PROVIDER = "test"
VIEWER = "{ viewer { user { email } organization { id } } }"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcTestProvider]:
    with running_provider() as started:
        yield started


@pytest.fixture(autouse=True)
def fresh_provider(provider: OidcTestProvider) -> None:
    """Each test starts with nobody signed in at the provider and a well-behaved provider."""
    provider.user = None
    provider.id_token_overrides = {}


@pytest.fixture
def mail(app: Starlette) -> Iterator[RecordingMailer]:
    """What PRISM mails during one test: verification and reset links go to whoever owns the address."""
    runtime = app.state.runtime()
    recorder = RecordingMailer()
    previous, runtime.mailer = runtime.mailer, recorder
    yield recorder
    runtime.mailer = previous


def _last_mail_to(mail: RecordingMailer, address: str, mutation: str) -> str:
    """The token in the last message to `address` that carries one for `mutation`."""
    messages = [m for m in mail.sent if m.to == address and f"the {mutation} mutation" in m.body]
    assert messages, [m.subject for m in mail.sent]
    return token_in(messages[-1], mutation)


@pytest.fixture
async def account(gql: GraphQLClient, mail: RecordingMailer) -> Account:
    """A signed-up account: its owner confirmed the address PRISM mailed (sign-ups await it), the only kind SSO
    opens."""
    return await sign_up(gql)


def _sso_settings(settings: Settings, provider: OidcTestProvider, **extra: Any) -> Settings:
    config = OidcProvider(
        name=PROVIDER,
        issuer=provider.issuer,
        client_id=provider.client.client_id,
        client_secret=provider.client.client_secret,
    )
    return settings.model_copy(update={"oidc_providers": [config], **extra})


@pytest.fixture(scope="module")
async def sso_app(settings: Settings, provider: OidcTestProvider) -> AsyncIterator[Starlette]:
    application = build_app(_sso_settings(settings, provider))
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def browser(sso_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on PRISM: its own cookie jar, redirects followed by hand."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sso_app), base_url="http://prism.test") as client:
        yield client


@pytest.fixture
async def to_provider() -> AsyncIterator[httpx.AsyncClient]:
    """The same browser's requests to the provider, over real HTTP."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def _authorize(
    browser: httpx.AsyncClient, to_provider: httpx.AsyncClient, **params: str
) -> tuple[dict[str, str], str]:
    """Start a sign-in at PRISM and consent at the provider: the authorize parameters and the callback URL."""
    start = await browser.get(f"/auth/sso/{PROVIDER}/login", params=params)
    assert start.status_code == 302, start.text
    cookie = start.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/auth/sso" in cookie
    authorize_url = start.headers["location"]
    query = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    consent = await to_provider.get(authorize_url)
    assert consent.status_code == 302, consent.text
    callback = consent.headers["location"]
    assert callback.startswith(f"http://prism.test/auth/sso/{PROVIDER}/callback?")
    return query, callback


async def _sign_in(browser: httpx.AsyncClient, to_provider: httpx.AsyncClient, **params: str) -> httpx.Response:
    _, callback = await _authorize(browser, to_provider, **params)
    return await browser.get(callback)


async def _sso_audit(database_url: str, user_email: str) -> list[tuple[str, dict[str, Any]]]:
    """The SSO sign-in entries of a user's audit trail, oldest first: (action, details)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT a.action, a.details FROM audit_log a JOIN app_user u ON u.id = a.actor_user_id
               WHERE u.email = $1 AND a.details->>'method' = 'sso' ORDER BY a.created_at, a.action""",
            user_email,
        )
    finally:
        await conn.close()
    return [(row["action"], json.loads(row["details"])) for row in rows]


def _error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_signing_in_with_a_verified_email_signs_in_the_existing_account(
    provider: OidcTestProvider,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    account: Account,
    gql: GraphQLClient,
    database_url: str,
) -> None:
    provider.user = ProviderUser(sub="sub-1", email=account.email.upper())

    query, callback = await _authorize(browser, to_provider)
    response = await browser.get(callback)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresAt"]
    assert body["refreshToken"]
    viewer = await gql(VIEWER, token=body["accessToken"])
    assert viewer["viewer"]["user"]["email"] == account.email
    assert viewer["viewer"]["organization"]["id"] == account.organization_id
    # The flow carried state, nonce and a PKCE S256 challenge, and PRISM answered it with the matching verifier.
    assert query["state"]
    assert query["nonce"]
    assert query["code_challenge_method"] == "S256"
    verifier = provider.token_requests[-1]["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"]
    assert await _sso_audit(database_url, account.email) == [
        ("auth.sso_identity", {"method": "sso", "provider": "test", "subject": "sub-1"}),
        ("auth.sign_in", {"method": "sso", "mfa": False}),
    ]


async def test_an_email_the_provider_has_not_verified_is_refused(
    provider: OidcTestProvider,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    account: Account,
    database_url: str,
) -> None:
    provider.user = ProviderUser(sub="sub-2", email=account.email, email_verified=False)

    response = await _sign_in(browser, to_provider)

    assert response.status_code == 403
    assert _error_code(response) == "EMAIL_NOT_VERIFIED"
    assert "accessToken" not in response.json()
    assert await _sso_audit(database_url, account.email) == []


async def test_a_verified_email_without_an_account_is_refused_and_no_account_is_created(
    provider: OidcTestProvider, browser: httpx.AsyncClient, to_provider: httpx.AsyncClient, database_url: str
) -> None:
    email = f"stranger-{uuid.uuid4().hex[:8]}@example.com"
    provider.user = ProviderUser(sub="sub-3", email=email)

    response = await _sign_in(browser, to_provider)

    assert response.status_code == 403
    assert _error_code(response) == "SSO_ACCOUNT_NOT_FOUND"
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM app_user WHERE email = $1", email) == 0
    finally:
        await conn.close()


async def test_an_account_whose_address_prism_never_verified_is_not_opened_by_single_sign_on(
    provider: OidcTestProvider,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    gql: GraphQLClient,
    database_url: str,
) -> None:
    # Someone signed up first with the address of a person who will later arrive through their provider. Sign-ups
    # now await the address's confirmation, so only an account made before that holds an unverified address.
    squatter = await sign_up(gql)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE app_user SET email_verified_at = NULL WHERE email = $1", squatter.email)
    finally:
        await conn.close()
    provider.user = ProviderUser(sub="sub-15", email=squatter.email)

    response = await _sign_in(browser, to_provider)

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "SSO_ACCOUNT_NOT_VERIFIED"
    assert "password reset" in error["message"], "the refusal says how to prove the address"
    assert "accessToken" not in response.json()
    assert await _sso_audit(database_url, squatter.email) == []


NEW_PASSWORD = "the-owners-own-passphrase"


async def _reset_password_from_the_mailbox(gql: GraphQLClient, mail: RecordingMailer, email: str) -> None:
    """What the address's owner does: ask for a reset and use the link PRISM mailed to them."""
    asked = (await gql(REQUEST_RESET, {"input": {"email": email}}))["requestPasswordReset"]
    assert asked["userErrors"] == []
    token = _last_mail_to(mail, email, "resetPassword")
    reset = (await gql(RESET, {"input": {"token": token, "newPassword": NEW_PASSWORD}}))["resetPassword"]
    assert reset["userErrors"] == []


async def test_a_password_reset_proves_the_address_shuts_the_squatter_out_and_lets_single_sign_on_in(
    provider: OidcTestProvider,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    gql: GraphQLClient,
    mail: RecordingMailer,
) -> None:
    squatter = await sign_up(gql)
    provider.user = ProviderUser(sub="sub-16", email=squatter.email)

    await _reset_password_from_the_mailbox(gql, mail, squatter.email)

    assert (await squatter.run(VIEWER)).codes == ["UNAUTHENTICATED"], "the squatter's session ended"
    assert (await log_in_with_password(gql, squatter))["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    response = await _sign_in(browser, to_provider)
    assert response.status_code == 200, response.text
    token = response.json()["accessToken"]
    security = await gql("{ accountSecurity { emailVerifiedAt } viewer { user { email } } }", token=token)
    assert security["accountSecurity"]["emailVerifiedAt"] is not None
    assert security["viewer"]["user"]["email"] == squatter.email


async def test_a_password_reset_voids_the_mfa_challenge_a_squatter_kept_ready(
    gql: GraphQLClient, mail: RecordingMailer
) -> None:
    # The squatter enrolled a second factor of their own and holds a fresh challenge for it.
    squatter = await sign_up(gql)
    _, recovery_codes = await enrol(squatter)
    held = await log_in_with_password(gql, squatter)
    assert held["mfaRequired"] is True

    await _reset_password_from_the_mailbox(gql, mail, squatter.email)

    attempt = {"mfaToken": held["mfaToken"], "recoveryCode": recovery_codes[0]}
    completed = (await gql(COMPLETE, {"input": attempt}))["completeMfaLogIn"]
    assert completed["accessToken"] is None
    assert [e["code"] for e in completed["userErrors"]] == ["INVALID_TOKEN"]


async def test_a_tampered_state_is_refused_before_the_code_is_exchanged(
    provider: OidcTestProvider, browser: httpx.AsyncClient, to_provider: httpx.AsyncClient, account: Account
) -> None:
    provider.user = ProviderUser(sub="sub-4", email=account.email)
    _, callback = await _authorize(browser, to_provider)
    parts = urlsplit(callback)
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    params["state"] = params["state"][:-2] + ("AA" if not params["state"].endswith("AA") else "BB")
    exchanges = len(provider.token_requests)

    response = await browser.get(urlunsplit(parts._replace(query=urlencode(params))))

    assert response.status_code == 400
    assert _error_code(response) == "SSO_STATE_MISMATCH"
    assert len(provider.token_requests) == exchanges


async def test_a_callback_in_a_browser_that_did_not_start_the_sign_in_is_refused(
    provider: OidcTestProvider,
    sso_app: Starlette,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    account: Account,
) -> None:
    provider.user = ProviderUser(sub="sub-5", email=account.email)
    _, callback = await _authorize(browser, to_provider)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sso_app), base_url="http://prism.test") as other:
        response = await other.get(callback)

    assert response.status_code == 400
    assert _error_code(response) == "SSO_STATE_MISMATCH"


@pytest.mark.parametrize(
    "override",
    [
        {"nonce": "a-nonce-this-sign-in-never-sent"},
        {"aud": ["another-client"]},
        {"iss": "https://impostor.example"},
        {"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200},
    ],
    ids=["wrong-nonce", "wrong-audience", "wrong-issuer", "expired"],
)
async def test_an_id_token_that_does_not_match_the_sign_in_is_refused(
    provider: OidcTestProvider,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    account: Account,
    database_url: str,
    override: dict[str, Any],
) -> None:
    provider.user = ProviderUser(sub="sub-6", email=account.email)
    provider.id_token_overrides = override

    response = await _sign_in(browser, to_provider)

    assert response.status_code == 400
    assert _error_code(response) == "SSO_INVALID_ID_TOKEN"
    assert await _sso_audit(database_url, account.email) == []


async def test_an_id_token_whose_signature_the_providers_keys_do_not_verify_is_refused(
    provider: OidcTestProvider,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    account: Account,
    database_url: str,
) -> None:
    provider.user = ProviderUser(sub="sub-12", email=account.email)
    provider.sign_with_unpublished_key = True
    try:
        response = await _sign_in(browser, to_provider)
    finally:
        provider.sign_with_unpublished_key = False

    assert response.status_code == 400
    assert _error_code(response) == "SSO_INVALID_ID_TOKEN"
    assert await _sso_audit(database_url, account.email) == []


async def test_the_provider_checks_the_pkce_verifier(
    provider: OidcTestProvider, browser: httpx.AsyncClient, to_provider: httpx.AsyncClient, account: Account
) -> None:
    provider.user = ProviderUser(sub="sub-7", email=account.email)
    _, callback = await _authorize(browser, to_provider)
    params = {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}

    stolen = await to_provider.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": f"http://prism.test/auth/sso/{PROVIDER}/callback",
            "code_verifier": "a-guessed-verifier-that-is-long-enough-to-be-well-formed-0123",
        },
        auth=(provider.client.client_id, provider.client.client_secret),
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert "id_token" not in stolen.json()

    # The code is still good for the one who holds the real verifier: PRISM.
    response = await browser.get(callback)
    assert response.status_code == 200, response.text


async def test_the_provider_refuses_an_authorization_request_without_pkce(
    provider: OidcTestProvider, to_provider: httpx.AsyncClient
) -> None:
    provider.user = ProviderUser(sub="sub-8", email="nobody@example.com")
    query = {
        "response_type": "code",
        "client_id": provider.client.client_id,
        "redirect_uri": f"http://prism.test/auth/sso/{PROVIDER}/callback",
        "scope": "openid email",
        "state": "s",
        "nonce": "n",
    }

    response = await to_provider.get(f"{provider.issuer}/authorize", params=query)

    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_request"]
    assert provider.codes == {} or all(code.nonce != "n" for code in provider.codes.values())


async def test_signing_in_to_a_chosen_organization_needs_membership(
    provider: OidcTestProvider,
    browser: httpx.AsyncClient,
    to_provider: httpx.AsyncClient,
    account: Account,
    other_account: Account,
    gql: GraphQLClient,
) -> None:
    provider.user = ProviderUser(sub="sub-9", email=account.email)

    foreign = await _sign_in(browser, to_provider, organization=other_account.organization_id)
    assert foreign.status_code == 404
    assert _error_code(foreign) == "NOT_FOUND"

    own = await _sign_in(browser, to_provider, organization=account.organization_id)
    assert own.status_code == 200, own.text
    viewer = await gql(VIEWER, token=own.json()["accessToken"])
    assert viewer["viewer"]["organization"]["id"] == account.organization_id


async def test_an_organization_that_requires_mfa_gets_the_second_step_not_tokens(
    provider: OidcTestProvider, browser: httpx.AsyncClient, to_provider: httpx.AsyncClient, account: Account
) -> None:
    required = await account(
        """mutation { updateOrganizationSecurity(input: {requireMfa: true}) { requireMfa userErrors { code } } }"""
    )
    assert required["updateOrganizationSecurity"] == {"requireMfa": True, "userErrors": []}
    provider.user = ProviderUser(sub="sub-13", email=account.email)

    response = await _sign_in(browser, to_provider)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfaRequired"] is True
    assert body["mfaEnrollmentRequired"] is True
    assert body["mfaToken"]
    assert "accessToken" not in body
    assert "refreshToken" not in body


async def test_a_user_with_totp_gets_the_second_step_not_tokens(
    provider: OidcTestProvider, browser: httpx.AsyncClient, to_provider: httpx.AsyncClient, account: Account
) -> None:
    await enrol(account)
    provider.user = ProviderUser(sub="sub-14", email=account.email)

    response = await _sign_in(browser, to_provider)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfaRequired"] is True
    assert body["mfaEnrollmentRequired"] is False
    assert body["mfaToken"]
    assert "accessToken" not in body


async def test_bad_requests_are_refused_with_a_clear_code(browser: httpx.AsyncClient) -> None:
    unknown = await browser.get("/auth/sso/nobody/login")
    assert unknown.status_code == 404
    assert _error_code(unknown) == "SSO_UNKNOWN_PROVIDER"

    malformed = await browser.get(f"/auth/sso/{PROVIDER}/login", params={"organization": "not-an-id"})
    assert malformed.status_code == 400
    assert _error_code(malformed) == "BAD_USER_INPUT"


async def test_with_a_redirect_url_the_tokens_arrive_in_the_url_fragment(
    settings: Settings, provider: OidcTestProvider, to_provider: httpx.AsyncClient, account: Account, gql: GraphQLClient
) -> None:
    application = build_app(_sso_settings(settings, provider, sso_redirect_url="https://app.example/signed-in"))
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://prism.test") as browser,
    ):
        provider.user = ProviderUser(sub="sub-10", email=account.email)
        signed_in = await _sign_in(browser, to_provider)
        provider.user = ProviderUser(sub="sub-11", email=account.email, email_verified=False)
        refused = await _sign_in(browser, to_provider)

    assert signed_in.status_code == 303
    target = urlsplit(signed_in.headers["location"])
    assert (target.scheme, target.netloc, target.path, target.query) == ("https", "app.example", "/signed-in", "")
    tokens = {key: values[0] for key, values in parse_qs(target.fragment).items()}
    viewer = await gql(VIEWER, token=tokens["accessToken"])
    assert viewer["viewer"]["user"]["email"] == account.email
    assert refused.status_code == 303
    assert parse_qs(urlsplit(refused.headers["location"]).fragment)["error"] == ["EMAIL_NOT_VERIFIED"]
