"""MFA: TOTP enrolment with recovery codes, the second step of log-in, and organizations that require it."""

import time
from typing import Any

import asyncpg
import pyotp
import pytest
from starlette.applications import Starlette

from tests.helpers import Account, GraphQLClient, client_from, join_organization, uuid_of

AUTH_FIELDS = "accessToken refreshToken mfaRequired mfaToken organization { id } userErrors { field message code }"
LOG_IN = f"mutation($input: LogInInput!) {{ logIn(input: $input) {{ {AUTH_FIELDS} }} }}"
COMPLETE = f"mutation($input: CompleteMfaLogInInput!) {{ completeMfaLogIn(input: $input) {{ {AUTH_FIELDS} }} }}"
ENROLL = """
mutation($input: EnrollTotpInput) { enrollTotp(input: $input) { secret otpauthUri userErrors { field message code } } }
"""
CONFIRM = """
mutation($input: ConfirmTotpInput!) { confirmTotp(input: $input) { recoveryCodes userErrors { field message code } } }
"""
DISABLE = """
mutation($input: DisableTotpInput!) { disableTotp(input: $input) { ok userErrors { field message code } } }
"""
REQUIRE = """
mutation($input: UpdateOrganizationSecurityInput!) {
  updateOrganizationSecurity(input: $input) { organization { id } requireMfa userErrors { field message code } }
}
"""
SECURITY = "{ accountSecurity { totpEnabled requireMfa } }"


def code_at(secret: str, offset_steps: int) -> str:
    """The TOTP code of the current 30-second step moved by `offset_steps` (the server accepts one step each way)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


async def enrol(account: Account) -> tuple[str, list[str]]:
    """Turn TOTP on for the account; returns the secret and the recovery codes. Uses the code of the current step."""
    enrolment = (await account(ENROLL))["enrollTotp"]
    assert enrolment["userErrors"] == []
    confirmed = (await account(CONFIRM, {"input": {"code": code_at(enrolment["secret"], 0)}}))["confirmTotp"]
    assert confirmed["userErrors"] == []
    return enrolment["secret"], confirmed["recoveryCodes"]


async def log_in(gql: GraphQLClient, account: Account, organization_id: str | None = None) -> dict[str, Any]:
    given = {"email": account.email, "password": account.password}
    if organization_id:
        given["organizationId"] = organization_id
    return (await gql(LOG_IN, {"input": given}))["logIn"]  # type: ignore[no-any-return]


async def recovery_hashes(database_url: str, account: Account) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT code_hash FROM recovery_code WHERE user_id = $1", uuid_of(account.user_id))
    finally:
        await conn.close()
    return [row["code_hash"] for row in rows]


async def test_enrolling_totp_turns_mfa_on_and_gives_ten_recovery_codes_stored_hashed(
    account: Account, database_url: str
) -> None:
    enrolment = (await account(ENROLL))["enrollTotp"]
    assert enrolment["otpauthUri"].startswith("otpauth://totp/PRISM:")
    assert f"secret={enrolment['secret']}" in enrolment["otpauthUri"]
    assert (await account(SECURITY))["accountSecurity"]["totpEnabled"] is False, "not before a code confirms it"
    confirmed = (await account(CONFIRM, {"input": {"code": code_at(enrolment["secret"], 0)}}))["confirmTotp"]
    codes = confirmed["recoveryCodes"]
    assert confirmed["userErrors"] == []
    assert len(codes) == len(set(codes)) == 10
    assert (await account(SECURITY))["accountSecurity"] == {"totpEnabled": True, "requireMfa": False}
    stored = await recovery_hashes(database_url, account)
    assert len(stored) == 10
    assert not set(stored) & ({c.replace("-", "") for c in codes} | set(codes)), "no code is stored in clear"
    again = (await account(ENROLL))["enrollTotp"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]


async def test_a_wrong_code_does_not_turn_totp_on(account: Account, database_url: str) -> None:
    secret = (await account(ENROLL))["enrollTotp"]["secret"]
    wrong = str((int(code_at(secret, 0)) + 1) % 1_000_000).zfill(6)
    for code in (wrong, "abcdef", "12345"):
        data = (await account(CONFIRM, {"input": {"code": code}}))["confirmTotp"]
        assert data["recoveryCodes"] is None
        assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(["input", "code"], "INVALID_MFA_CODE")]
    assert (await account(SECURITY))["accountSecurity"]["totpEnabled"] is False
    assert await recovery_hashes(database_url, account) == []


async def test_with_totp_log_in_needs_a_second_step_that_works_once(account: Account, gql: GraphQLClient) -> None:
    secret, _ = await enrol(account)
    first = await log_in(gql, account)
    assert first["mfaRequired"] is True
    assert first["accessToken"] is None
    assert first["refreshToken"] is None
    assert first["userErrors"] == []
    replayed = (await gql(COMPLETE, {"input": {"mfaToken": first["mfaToken"], "code": code_at(secret, 0)}}))[
        "completeMfaLogIn"
    ]
    assert [e["code"] for e in replayed["userErrors"]] == ["INVALID_MFA_CODE"], "the enrolment's code was used"
    done = (await gql(COMPLETE, {"input": {"mfaToken": first["mfaToken"], "code": code_at(secret, 1)}}))[
        "completeMfaLogIn"
    ]
    assert done["userErrors"] == []
    assert done["organization"] == {"id": account.organization_id}
    sessions = (await gql("{ viewer { sessions { current mfaVerified } } }", token=done["accessToken"]))["viewer"]
    assert {"current": True, "mfaVerified": True} in sessions["sessions"]
    again = (await gql(COMPLETE, {"input": {"mfaToken": first["mfaToken"], "code": code_at(secret, -1)}}))[
        "completeMfaLogIn"
    ]
    assert again["accessToken"] is None
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_TOKEN"]


async def test_a_recovery_code_replaces_the_authenticator_once(account: Account, gql: GraphQLClient) -> None:
    _, codes = await enrol(account)
    first = await log_in(gql, account)
    done = (await gql(COMPLETE, {"input": {"mfaToken": first["mfaToken"], "recoveryCode": codes[3].upper()}}))[
        "completeMfaLogIn"
    ]
    assert done["userErrors"] == []
    assert done["accessToken"]
    second = await log_in(gql, account)
    reused = (await gql(COMPLETE, {"input": {"mfaToken": second["mfaToken"], "recoveryCode": codes[3]}}))[
        "completeMfaLogIn"
    ]
    assert reused["accessToken"] is None
    assert [(e["field"], e["code"]) for e in reused["userErrors"]] == [(["input", "recoveryCode"], "INVALID_MFA_CODE")]
    other = (await gql(COMPLETE, {"input": {"mfaToken": second["mfaToken"], "recoveryCode": codes[4]}}))[
        "completeMfaLogIn"
    ]
    assert other["userErrors"] == [], "a failed attempt does not use up the mfaToken"


@pytest.mark.parametrize(
    ("given", "field", "code"),
    [
        ({"mfaToken": "forged"}, "mfaToken", "INVALID_TOKEN"),
        ({}, "code", "BAD_USER_INPUT"),
        ({"code": "123456", "recoveryCode": "aaaa-bbbb"}, "code", "BAD_USER_INPUT"),
    ],
)
async def test_a_bad_second_step_signs_nobody_in(
    account: Account, gql: GraphQLClient, given: dict[str, str], field: str, code: str
) -> None:
    secret, _ = await enrol(account)
    challenge = await log_in(gql, account)
    attempt = {"mfaToken": challenge["mfaToken"], "code": code_at(secret, 1)} | given
    if "recoveryCode" in given or not given:
        attempt = {"mfaToken": challenge["mfaToken"]} | given
    data = (await gql(COMPLETE, {"input": attempt}))["completeMfaLogIn"]
    assert data["accessToken"] is None
    assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(["input", field], code)]


async def test_turning_totp_off_needs_a_current_code(account: Account, gql: GraphQLClient, database_url: str) -> None:
    secret, _ = await enrol(account)
    wrong = str((int(code_at(secret, 1)) + 1) % 1_000_000).zfill(6)
    refused = (await account(DISABLE, {"input": {"code": wrong}}))["disableTotp"]
    assert refused == {
        "ok": False,
        "userErrors": [
            {"field": ["input", "code"], "message": "The code is wrong or expired.", "code": "INVALID_MFA_CODE"}
        ],
    }
    assert (await account(SECURITY))["accountSecurity"]["totpEnabled"] is True
    done = (await account(DISABLE, {"input": {"code": code_at(secret, 1)}}))["disableTotp"]
    assert done == {"ok": True, "userErrors": []}
    assert (await account(SECURITY))["accountSecurity"]["totpEnabled"] is False
    assert await recovery_hashes(database_url, account) == []
    plain = await log_in(gql, account)
    assert plain["mfaRequired"] is False
    assert plain["accessToken"]


async def test_an_organization_that_requires_mfa_makes_members_enrol_at_log_in(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    member = await join_organization(gql, database_url, account, role="MEMBER")
    forbidden = await member.run(REQUIRE, {"input": {"requireMfa": True}})
    assert forbidden.codes == ["FORBIDDEN"]
    data = (await account(REQUIRE, {"input": {"requireMfa": True}}))["updateOrganizationSecurity"]
    assert data == {"organization": {"id": account.organization_id}, "requireMfa": True, "userErrors": []}

    answer = await log_in(gql, member, account.organization_id)
    assert answer["accessToken"] is None
    assert answer["mfaRequired"] is True
    assert [e["code"] for e in answer["userErrors"]] == ["MFA_ENROLLMENT_REQUIRED"]
    mfa_token = answer["mfaToken"]
    early = (await gql(COMPLETE, {"input": {"mfaToken": mfa_token, "code": "123456"}}))["completeMfaLogIn"]
    assert [e["code"] for e in early["userErrors"]] == ["MFA_ENROLLMENT_REQUIRED"]

    enrolment = (await gql(ENROLL, {"input": {"mfaToken": mfa_token}}))["enrollTotp"]
    assert enrolment["userErrors"] == []
    secret = enrolment["secret"]
    confirmed = (await gql(CONFIRM, {"input": {"mfaToken": mfa_token, "code": code_at(secret, 0)}}))["confirmTotp"]
    assert len(confirmed["recoveryCodes"]) == 10
    done = (await gql(COMPLETE, {"input": {"mfaToken": mfa_token, "code": code_at(secret, 1)}}))["completeMfaLogIn"]
    assert done["userErrors"] == []
    assert done["organization"] == {"id": account.organization_id}
    viewer = await gql("{ viewer { role } }", token=done["accessToken"])
    assert viewer == {"viewer": {"role": "MEMBER"}}

    conn = await asyncpg.connect(database_url)
    try:
        actions = await conn.fetch(
            "SELECT action, details FROM audit_log WHERE organization_id = $1 AND action LIKE 'organization.%'",
            uuid_of(account.organization_id),
        )
    finally:
        await conn.close()
    assert [row["action"] for row in actions] == ["organization.security_changed"]


async def test_enrolling_without_a_session_or_a_valid_mfa_token_is_refused(gql: GraphQLClient) -> None:
    anonymous = await gql.run(ENROLL)
    assert anonymous.errors == [], "a public mutation answers in its payload"
    assert [e["code"] for e in anonymous.data["enrollTotp"]["userErrors"]] == ["UNAUTHENTICATED"]
    forged = (await gql(ENROLL, {"input": {"mfaToken": "forged"}}))["enrollTotp"]
    assert forged["secret"] is None
    assert [(e["field"], e["code"]) for e in forged["userErrors"]] == [(["input", "mfaToken"], "INVALID_TOKEN")]


async def test_requiring_mfa_in_one_organization_does_not_touch_another(
    account: Account, other_account: Account, gql: GraphQLClient
) -> None:
    await account(REQUIRE, {"input": {"requireMfa": True}})
    assert (await other_account(SECURITY))["accountSecurity"]["requireMfa"] is False
    plain = await log_in(gql, other_account)
    assert plain["mfaRequired"] is False
    assert plain["accessToken"]


async def test_wrong_totp_codes_lock_the_account_even_between_right_passwords(account: Account, app: Starlette) -> None:
    secret, _ = await enrol(account)
    wrong = str((int(code_at(secret, 1)) + 7) % 1_000_000).zfill(6)
    async with client_from(app, "192.0.2.200") as client:
        for _ in range(5):
            challenge = await log_in(client, account)
            assert challenge["mfaRequired"] is True, "the password is right every time"
            refused = (await client(COMPLETE, {"input": {"mfaToken": challenge["mfaToken"], "code": wrong}}))[
                "completeMfaLogIn"
            ]
            assert [e["code"] for e in refused["userErrors"]] == ["INVALID_MFA_CODE"]
        locked = await log_in(client, account)
    assert locked["mfaToken"] is None
    assert [e["code"] for e in locked["userErrors"]] == ["ACCOUNT_LOCKED"]
