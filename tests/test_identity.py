"""Signing up, logging in and the viewer: accounts, organizations and the tokens that name them."""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime

import pytest
from pydantic import ValidationError as PydanticValidationError

from prism.auth.tokens import SigningKey, TokenIssuer, issuer_from_settings, signing_keys
from prism.config import Settings
from prism.errors import UnauthenticatedError
from tests.helpers import Account, GraphQLClient, create_product, join_organization

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) {
    accessToken expiresAt user { id name email } organization { id name slug } userErrors { field message code }
  }
}
"""
LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) {
    accessToken expiresAt user { email } organization { id name } userErrors { field message code }
  }
}
"""
VIEWER = (
    "{ viewer { role user { id email name } organization { id name } organizations { role organization { id } } } }"
)


def new_email() -> str:
    return f"Person-{uuid.uuid4().hex[:10]}@Example.COM"


def signup_input(**overrides: str) -> dict[str, str]:
    return {
        "email": new_email(),
        "password": "correct-horse-battery",
        "name": "Ada Lovelace",
        "organizationName": "Analytical Engines",
    } | overrides


async def test_signing_up_creates_an_owner_an_organization_and_a_working_token(gql: GraphQLClient) -> None:
    wanted = signup_input(name="  Ada Lovelace ")
    data = (await gql(SIGN_UP, {"input": wanted}))["signUp"]
    assert data["userErrors"] == []
    assert data["user"]["email"] == wanted["email"].lower()
    assert data["user"]["name"] == "Ada Lovelace"
    assert data["organization"]["name"] == "Analytical Engines"
    assert data["organization"]["slug"].startswith("analytical-engines-")
    expires = datetime.fromisoformat(data["expiresAt"]).timestamp()
    assert 890 < expires - time.time() <= 900, "access tokens are short-lived (15 minutes)"
    viewer = (await gql(VIEWER, token=data["accessToken"]))["viewer"]
    assert viewer == {
        "role": "OWNER",
        "user": data["user"],
        "organization": {"id": data["organization"]["id"], "name": "Analytical Engines"},
        "organizations": [{"role": "OWNER", "organization": {"id": data["organization"]["id"]}}],
    }


async def test_an_email_is_taken_whatever_its_case(gql: GraphQLClient) -> None:
    first = signup_input()
    await gql(SIGN_UP, {"input": first})
    data = await gql(SIGN_UP, {"input": signup_input(email=first["email"].upper())})
    assert data["signUp"]["accessToken"] is None
    assert data["signUp"]["userErrors"] == [
        {
            "field": ["input", "email"],
            "message": "An account with this email exists; log in instead.",
            "code": "ALREADY_EXISTS",
        }
    ]


async def test_concurrent_sign_ups_with_one_email_make_one_account(gql: GraphQLClient) -> None:
    wanted = signup_input()
    results = await asyncio.gather(*(gql.run(SIGN_UP, {"input": wanted}) for _ in range(3)))
    assert [r.errors for r in results] == [[]] * 3, "a lost race must be a user error, not a bug"
    codes = sorted(str([e["code"] for e in r.data["signUp"]["userErrors"]]) for r in results)
    assert codes == ["['ALREADY_EXISTS']", "['ALREADY_EXISTS']", "[]"]
    logged_in = await gql(LOG_IN, {"input": {"email": wanted["email"], "password": wanted["password"]}})
    assert logged_in["logIn"]["userErrors"] == []


@pytest.mark.parametrize(
    ("override", "field", "code"),
    [
        ({"email": "not-an-email"}, "email", "BAD_USER_INPUT"),
        ({"email": "a@b"}, "email", "BAD_USER_INPUT"),
        ({"email": "x" * 250 + "@example.com"}, "email", "TOO_LONG"),
        ({"password": "short"}, "password", "OUT_OF_RANGE"),
        ({"password": "p" * 257}, "password", "OUT_OF_RANGE"),
        ({"name": " "}, "name", "BAD_USER_INPUT"),
        ({"name": "n" * 121}, "name", "TOO_LONG"),
        ({"organizationName": "o" * 121}, "organizationName", "TOO_LONG"),
    ],
)
async def test_bad_sign_up_input_is_refused_and_creates_nothing(
    gql: GraphQLClient, override: dict[str, str], field: str, code: str
) -> None:
    wanted = signup_input(**override)
    data = (await gql(SIGN_UP, {"input": wanted}))["signUp"]
    assert data["accessToken"] is None
    assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(["input", field], code)]
    if field != "email":
        again = await gql(SIGN_UP, {"input": signup_input(email=wanted["email"])})
        assert again["signUp"]["userErrors"] == [], "the refused sign-up must not have kept the email"


async def test_logging_in_with_the_right_password_gives_a_token_for_the_first_organization(account: Account) -> None:
    data = (await account.gql(LOG_IN, {"input": {"email": account.email.upper(), "password": account.password}}))[
        "logIn"
    ]
    assert data["userErrors"] == []
    assert data["organization"]["id"] == account.organization_id
    viewer = await account.gql("{ viewer { user { email } } }", token=data["accessToken"])
    assert viewer == {"viewer": {"user": {"email": account.email}}}


@pytest.mark.parametrize("email", ["known", "unknown"])
async def test_a_wrong_password_or_unknown_email_gives_the_same_answer(account: Account, email: str) -> None:
    address = account.email if email == "known" else "nobody-" + account.email
    password = "wrong-password-123" if email == "known" else account.password
    data = (await account.gql(LOG_IN, {"input": {"email": address, "password": password}}))["logIn"]
    assert data["accessToken"] is None
    assert data["userErrors"] == [
        {"field": None, "message": "The email or password is wrong.", "code": "INVALID_CREDENTIALS"}
    ]


async def test_logging_in_to_another_organization_acts_there(
    account: Account, other_account: Account, gql: GraphQLClient, database_url: str
) -> None:
    await create_product(other_account, key="THEIRS")
    await create_product(account, key="MINE")
    # `account`'s user also joins the other organization as a MEMBER.
    member = await join_organization(gql, database_url, other_account, role="MEMBER")
    data = (
        await gql(
            LOG_IN,
            {
                "input": {
                    "email": member.email,
                    "password": member.password,
                    "organizationId": other_account.organization_id,
                }
            },
        )
    )["logIn"]
    assert data["organization"]["id"] == other_account.organization_id
    products = await gql("{ products { nodes { key } } viewer { role } }", token=data["accessToken"])
    assert products == {"products": {"nodes": [{"key": "THEIRS"}]}, "viewer": {"role": "MEMBER"}}


async def test_logging_in_to_an_organization_one_is_not_a_member_of_is_not_found(
    account: Account, other_account: Account
) -> None:
    for organization_id, code in ((other_account.organization_id, "NOT_FOUND"), ("garbage", "BAD_USER_INPUT")):
        data = (
            await account.gql(
                LOG_IN,
                {"input": {"email": account.email, "password": account.password, "organizationId": organization_id}},
            )
        )["logIn"]
        assert data["accessToken"] is None
        assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(["input", "organizationId"], code)]


async def test_the_organization_query_names_the_tokens_organization(account: Account) -> None:
    data = await account("{ organization { id name } }")
    assert data == {"organization": {"id": account.organization_id, "name": "Test Org"}}


async def test_passwords_and_tokens_never_reach_the_logs(gql: GraphQLClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wanted = signup_input(password="a-very-secret-passphrase")
    token = (await gql(SIGN_UP, {"input": wanted}))["signUp"]["accessToken"]
    await gql(LOG_IN, {"input": {"email": wanted["email"], "password": wanted["password"]}})
    await gql(LOG_IN, {"input": {"email": wanted["email"], "password": "a-wrong-secret-passphrase"}})
    await gql("{ viewer { role } }", token=token)
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert caplog.records
    for secret in ("a-very-secret-passphrase", "a-wrong-secret-passphrase", token):
        assert secret not in logged


def _b64decode(part: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unverified_parts(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header, payload, _ = token.split(".")
    return _b64decode(header), _b64decode(payload)


def _forge(header: dict[str, object], claims: dict[str, object], secret: bytes, algorithm: str) -> str:
    encode = _b64encode
    signing_input = f"{encode(json.dumps(header).encode())}.{encode(json.dumps(claims).encode())}"
    if algorithm == "none":
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[algorithm]
    return f"{signing_input}.{encode(hmac.new(secret, signing_input.encode(), digest).digest())}"


OLD_KEY = SigningKey("2026-10", b"o" * 40)
NEW_KEY = SigningKey("2026-11", b"n" * 40)


def test_access_tokens_name_their_key_session_and_id() -> None:
    issuer = TokenIssuer([NEW_KEY, OLD_KEY], ttl_seconds=900)
    session_id = uuid.uuid4()
    token, expires = issuer.issue(uuid.uuid4(), uuid.uuid4(), session_id)
    header, claims = _unverified_parts(token)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "2026-11"}
    assert claims["sid"] == str(session_id)
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) == 32
    assert claims["exp"] == expires
    again, _ = issuer.issue(uuid.uuid4(), uuid.uuid4(), session_id)
    assert _unverified_parts(again)[1]["jti"] != claims["jti"], "every token has its own id"
    assert issuer.verify(token).session_id == session_id


def test_a_token_signed_with_the_old_key_verifies_while_that_key_is_listed() -> None:
    user, organization = uuid.uuid4(), uuid.uuid4()
    old_token, _ = TokenIssuer([OLD_KEY], 900).issue(user, organization)
    rotated = TokenIssuer([NEW_KEY, OLD_KEY], 900)
    assert rotated.verify(old_token).user_id == user
    new_token, _ = rotated.issue(user, organization)
    assert _unverified_parts(new_token)[0]["kid"] == "2026-11", "the first key signs"
    retired = TokenIssuer([NEW_KEY], 900)
    assert retired.verify(new_token).organization_id == organization
    with pytest.raises(UnauthenticatedError):
        retired.verify(old_token)


@pytest.mark.parametrize(
    ("case", "algorithm", "kid"),
    [
        ("unknown kid", "HS256", "stolen"),
        ("no kid", "HS256", None),
        ("alg none", "none", "2026-11"),
        ("another algorithm", "HS512", "2026-11"),
    ],
)
def test_tokens_with_an_unknown_key_or_another_algorithm_are_refused(
    case: str, algorithm: str, kid: str | None
) -> None:
    issuer = TokenIssuer([NEW_KEY], 900)
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "prism",
        "sub": str(uuid.uuid4()),
        "org": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    }
    header: dict[str, object] = {"alg": algorithm, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    forged = _forge(header, claims, NEW_KEY.secret, algorithm)
    honest = _forge({"alg": "HS256", "typ": "JWT", "kid": "2026-11"}, claims, NEW_KEY.secret, "HS256")
    assert issuer.verify(honest).session_id == uuid.UUID(str(claims["sid"])), "the forging helper itself is right"
    with pytest.raises(UnauthenticatedError):
        issuer.verify(forged)


def test_keys_come_from_settings_and_fall_back_to_the_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PRISM_JWT_KEYS", json.dumps([{"kid": "b", "secret": "b" * 32}, {"kid": "a", "secret": "a" * 32}])
    )
    assert signing_keys(Settings(), b"f" * 32) == [SigningKey("b", b"b" * 32), SigningKey("a", b"a" * 32)]
    monkeypatch.setenv("PRISM_JWT_KEYS", json.dumps([{"kid": "short", "secret": "too-short"}]))
    with pytest.raises(PydanticValidationError):
        Settings()
    monkeypatch.delenv("PRISM_JWT_KEYS")
    assert signing_keys(Settings(), b"f" * 32) == [SigningKey("default", b"f" * 32)]
    assert issuer_from_settings(Settings(), b"f" * 32).ttl_seconds == 900
