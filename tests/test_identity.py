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
from typing import Any

import pytest
from authlib.jose import JWTClaims
from pydantic import ValidationError as PydanticValidationError

from prism.auth.tokens import VERIFIED_TOKENS_KEPT, SigningKey, TokenIssuer, issuer_from_settings, signing_keys
from prism.config import Settings
from prism.errors import UnauthenticatedError
from tests.helpers import (
    VERIFY_EMAIL,
    Account,
    GraphQLClient,
    create_product,
    join_organization,
    mailer_of,
    verification_token,
)

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) {
    accessToken expiresAt emailVerificationRequired user { id name email } organization { id name slug }
    userErrors { field message code }
  }
}
"""
LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) {
    accessToken expiresAt user { email } organization { id name slug } userErrors { field message code }
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


async def confirm(gql: GraphQLClient, email: str) -> dict[str, object]:
    """Open the confirmation mailed to `email`: verifyEmail with its token."""
    return (await gql(VERIFY_EMAIL, {"input": {"token": verification_token(gql, email)}}))[  # type: ignore[no-any-return]
        "verifyEmail"
    ]


async def test_signing_up_creates_an_owner_and_an_organization_once_the_address_is_confirmed(
    gql: GraphQLClient,
) -> None:
    wanted = signup_input(name="  Ada Lovelace ")
    data = (await gql(SIGN_UP, {"input": wanted}))["signUp"]
    assert data == {
        "accessToken": None,
        "expiresAt": None,
        "emailVerificationRequired": True,
        "user": None,
        "organization": None,
        "userErrors": [],
    }
    early = (await gql(LOG_IN, {"input": {"email": wanted["email"], "password": wanted["password"]}}))["logIn"]
    assert [e["code"] for e in early["userErrors"]] == ["INVALID_CREDENTIALS"], "no account before confirmation"
    assert (await confirm(gql, wanted["email"].lower()))["userErrors"] == []
    logged_in = (await gql(LOG_IN, {"input": {"email": wanted["email"], "password": wanted["password"]}}))["logIn"]
    assert logged_in["userErrors"] == []
    expires = datetime.fromisoformat(logged_in["expiresAt"]).timestamp()
    assert 890 < expires - time.time() <= 900, "access tokens are short-lived (15 minutes)"
    viewer = (await gql(VIEWER, token=logged_in["accessToken"]))["viewer"]
    organization = logged_in["organization"]
    assert viewer["role"] == "OWNER"
    assert viewer["user"]["email"] == wanted["email"].lower()
    assert viewer["user"]["name"] == "Ada Lovelace"
    assert viewer["organization"] == {"id": organization["id"], "name": "Analytical Engines"}
    assert viewer["organizations"] == [{"role": "OWNER", "organization": {"id": organization["id"]}}]
    security = await gql("{ accountSecurity { emailVerifiedAt } }", token=logged_in["accessToken"])
    assert security["accountSecurity"]["emailVerifiedAt"] is not None


async def test_signing_up_with_a_taken_address_answers_alike_and_mails_its_owner(
    account: Account, gql: GraphQLClient
) -> None:
    mailer = mailer_of(gql)
    local, _, domain = account.email.partition("@")
    fresh = await gql.run(SIGN_UP, {"input": signup_input()})
    sent_before = len(mailer.sent)
    answers = [
        await gql.run(SIGN_UP, {"input": signup_input(email=typed, password="the-intruders-passphrase")})
        for typed in (account.email.upper(), "".join(chr(ord(c) + 0xFEE0) for c in local) + "@" + domain)
    ]
    for taken in answers:
        assert taken.body == fresh.body, "the same answer as for a new address"
        assert taken.sql_statements == fresh.sql_statements, "and the same statements"
    owner_mails = mailer.sent[sent_before:]
    assert [m.to for m in owner_mails] == [account.email] * 2
    assert all("has an account already" in m.body and "verifyEmail" not in m.body for m in owner_mails)
    intruder = await gql(LOG_IN, {"input": {"email": account.email, "password": "the-intruders-passphrase"}})
    assert [e["code"] for e in intruder["logIn"]["userErrors"]] == ["INVALID_CREDENTIALS"]
    owner = (await gql(LOG_IN, {"input": {"email": account.email, "password": account.password}}))["logIn"]
    assert owner["userErrors"] == []


async def test_concurrent_sign_ups_with_one_email_make_one_account(gql: GraphQLClient) -> None:
    wanted = signup_input()
    email = wanted["email"].lower()
    mailer = mailer_of(gql)
    results = await asyncio.gather(*(gql.run(SIGN_UP, {"input": wanted}) for _ in range(3)))
    assert [r.errors for r in results] == [[]] * 3
    assert [r.data["signUp"]["userErrors"] for r in results] == [[]] * 3
    tokens = [verification_token_in(m.body) for m in mailer.sent if m.to == email]
    assert len(tokens) == 3
    confirmed = [(await gql(VERIFY_EMAIL, {"input": {"token": t}}))["verifyEmail"] for t in tokens]
    assert sorted(str([e["code"] for e in c["userErrors"]]) for c in confirmed) == [
        "['INVALID_TOKEN']",
        "['INVALID_TOKEN']",
        "[]",
    ]
    logged_in = await gql(LOG_IN, {"input": {"email": wanted["email"], "password": wanted["password"]}})
    assert logged_in["logIn"]["userErrors"] == []


def verification_token_in(body: str) -> str:
    import re

    found = re.search(r"with the verifyEmail mutation: (\S+)", body)
    assert found, body
    return found.group(1)


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
    await gql(SIGN_UP, {"input": wanted})
    await confirm(gql, wanted["email"].lower())
    token = (await gql(LOG_IN, {"input": {"email": wanted["email"], "password": wanted["password"]}}))["logIn"][
        "accessToken"
    ]
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


def test_a_token_verified_before_is_still_refused_once_it_has_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = TokenIssuer([NEW_KEY], ttl_seconds=60)
    user, organization = uuid.uuid4(), uuid.uuid4()
    token, expires = issuer.issue(user, organization)
    assert issuer.verify(token).user_id == user
    assert issuer.verify(token).expires_at == expires, "a token seen again answers the same claims"
    # The signature's check is remembered; the expiry (5 seconds of leeway) is checked on every use.
    monkeypatch.setattr(time, "time", lambda: expires + 6.0)
    with pytest.raises(UnauthenticatedError):
        issuer.verify(token)


def test_a_token_seen_again_is_compared_with_the_clock_without_validating_its_claims_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validations = 0
    validate = JWTClaims.validate

    def counted(self: JWTClaims, *args: Any, **kwargs: Any) -> None:
        nonlocal validations
        validations += 1
        validate(self, *args, **kwargs)

    monkeypatch.setattr(JWTClaims, "validate", counted)
    issuer = TokenIssuer([NEW_KEY], ttl_seconds=60)
    token, expires = issuer.issue(uuid.uuid4(), uuid.uuid4())
    for _ in range(3):
        issuer.verify(token)
    assert validations == 1, "authlib's claim checks run once per token, with its signature's"
    monkeypatch.setattr(time, "time", lambda: expires + 5.9)
    issuer.verify(token)  # within the 5 seconds of leeway, as authlib counts them (whole seconds)
    monkeypatch.setattr(time, "time", lambda: expires + 6.0)
    with pytest.raises(UnauthenticatedError):
        issuer.verify(token)


def test_a_token_not_yet_valid_or_issued_in_the_future_is_refused_until_its_time_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = int(time.time())
    header: dict[str, object] = {"alg": "HS256", "typ": "JWT", "kid": NEW_KEY.kid}
    base = {"iss": "prism", "sub": str(uuid.uuid4()), "org": str(uuid.uuid4()), "sid": str(uuid.uuid4())}
    for later in ({"nbf": now + 60}, {"iat": now + 60}):
        issuer = TokenIssuer([NEW_KEY], ttl_seconds=600)
        token = _forge(header, {**base, "jti": uuid.uuid4().hex, "exp": now + 600, **later}, NEW_KEY.secret, "HS256")
        with pytest.raises(UnauthenticatedError):
            issuer.verify(token)
        monkeypatch.setattr(time, "time", lambda: now + 56.0)
        assert issuer.verify(token).token_id, later  # 4 seconds early: within the leeway
        monkeypatch.setattr(time, "time", lambda: now + 30.0)
        with pytest.raises(UnauthenticatedError):
            issuer.verify(token)  # remembered, and still compared with the clock
        monkeypatch.undo()


def test_an_issuer_remembers_a_bounded_number_of_verified_tokens_and_no_refused_one() -> None:
    issuer = TokenIssuer([NEW_KEY], ttl_seconds=60)
    token, _ = issuer.issue(uuid.uuid4(), uuid.uuid4())
    for _ in range(3):
        with pytest.raises(UnauthenticatedError):
            issuer.verify(token + "x")
    issuer.verify(token)
    issuer.verify(token)
    info = issuer._verified.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 4, 1), "failures are checked again every time, never kept"
    assert info.maxsize == VERIFIED_TOKENS_KEPT


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
