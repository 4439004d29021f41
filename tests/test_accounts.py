"""Accounts: email verification, password change and reset, outgoing mail, and throttling of failed log-ins."""

import asyncio
import logging
import re
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from prism.auth.mailbox import MailboxMailer
from prism.auth.mailer import LogMailer, Message, RecordingMailer
from prism.auth.smtp import SmtpMailer, mailer_from_settings
from prism.auth.throttle import LoginThrottle, ThrottledError
from prism.config import Settings
from prism.kv import KeyValueStore, open_store
from tests.helpers import TEST_REDIS_URL, Account, GraphQLClient, client_from, sign_up, store_for

LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken retryAfterSeconds userErrors { field message code } }
}
"""
VERIFY = """
mutation($input: VerifyEmailInput!) {
  verifyEmail(input: $input) { user { email } userErrors { field message code } }
}
"""
CHANGE = """
mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ok userErrors { field message code } } }
"""
REQUEST_RESET = """
mutation($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { ok retryAfterSeconds userErrors { field message code } }
}
"""
RESET = """
mutation($input: ResetPasswordInput!) {
  resetPassword(input: $input) { ok retryAfterSeconds userErrors { field message code } }
}
"""
SECURITY = "{ accountSecurity { emailVerifiedAt totpEnabled requireMfa } }"
SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { emailVerificationRequired userErrors { field code } } }
"""
NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def mailer(app: Starlette) -> Any:
    """The app's mailer for one test: a recorder."""
    runtime = app.state.runtime()
    recorder = RecordingMailer()
    previous, runtime.mailer = runtime.mailer, recorder
    yield recorder
    runtime.mailer = previous


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, app: Starlette) -> AsyncIterator[KeyValueStore]:
    """The app's key-value store for one test: in-process, then real Redis."""
    runtime = app.state.runtime()
    store = await store_for(request.param)
    previous, runtime.kv = runtime.kv, store
    try:
        yield store
    finally:
        runtime.kv = previous
        await store.close()


def token_in(message: Message, mutation: str) -> str:
    match = re.search(rf"with the {mutation} mutation: (\S+)", message.body)
    assert match, message.body
    return match.group(1)


async def log_in(gql: GraphQLClient, email: str, password: str) -> dict[str, Any]:
    return (await gql(LOG_IN, {"input": {"email": email, "password": password}}))["logIn"]  # type: ignore[no-any-return]


async def expire_tokens(database_url: str, email: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE user_token SET expires_at = now() - interval '1 second' "
            "WHERE user_id = (SELECT id FROM app_user WHERE email = $1)",
            email,
        )
    finally:
        await conn.close()


async def ask_for_account(gql: GraphQLClient) -> tuple[str, str]:
    email = f"asker-{uuid.uuid4().hex[:10]}@example.com"
    data = await gql(
        SIGN_UP,
        {"input": {"email": email, "password": NEW_PASSWORD, "name": "Asker", "organizationName": "Asking"}},
    )
    assert data["signUp"] == {"emailVerificationRequired": True, "userErrors": []}
    return email, NEW_PASSWORD


async def test_signing_up_mails_a_token_that_creates_the_account_once(gql: GraphQLClient, mailer: Any) -> None:
    email, password = await ask_for_account(gql)
    [message] = mailer.sent
    assert message.to == email
    assert "verify-email?token=" in message.body
    token = token_in(message, "verifyEmail")
    data = (await gql(VERIFY, {"input": {"token": token}}))["verifyEmail"]
    assert data == {"user": {"email": email}, "userErrors": []}
    assert (await log_in(gql, email, password))["userErrors"] == []
    again = (await gql(VERIFY, {"input": {"token": token}}))["verifyEmail"]
    assert again["user"] is None
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["input", "token"], "INVALID_TOKEN")]


async def test_an_expired_sign_up_token_creates_nothing(gql: GraphQLClient, mailer: Any, database_url: str) -> None:
    email, password = await ask_for_account(gql)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE sign_up_request SET expires_at = now() - interval '1 second' WHERE email = $1", email
        )
    finally:
        await conn.close()
    data = (await gql(VERIFY, {"input": {"token": token_in(mailer.sent[0], "verifyEmail")}}))["verifyEmail"]
    assert [e["code"] for e in data["userErrors"]] == ["INVALID_TOKEN"]
    assert [e["code"] for e in (await log_in(gql, email, password))["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_changing_the_password_signs_out_the_other_sessions(account: Account, app: Starlette) -> None:
    async with client_from(app, "198.51.100.20") as laptop:
        elsewhere = await log_in(laptop, account.email, account.password)
        data = (await account(CHANGE, {"input": {"currentPassword": account.password, "newPassword": NEW_PASSWORD}}))[
            "changePassword"
        ]
        assert data == {"ok": True, "userErrors": []}
        assert (await laptop.run("{ viewer { role } }", token=elsewhere["accessToken"])).codes == ["UNAUTHENTICATED"]
        assert await account("{ viewer { role } }") == {"viewer": {"role": "OWNER"}}, "this session stays"
        assert [e["code"] for e in (await log_in(laptop, account.email, account.password))["userErrors"]] == [
            "INVALID_CREDENTIALS"
        ]
        assert (await log_in(laptop, account.email, NEW_PASSWORD))["userErrors"] == []


@pytest.mark.parametrize(
    ("current", "new", "field", "code"),
    [
        ("wrong-password-123", NEW_PASSWORD, "currentPassword", "INVALID_CREDENTIALS"),
        (None, "short", "newPassword", "OUT_OF_RANGE"),
    ],
)
async def test_a_wrong_current_password_or_a_short_new_one_changes_nothing(
    account: Account, current: str | None, new: str, field: str, code: str
) -> None:
    data = (await account(CHANGE, {"input": {"currentPassword": current or account.password, "newPassword": new}}))[
        "changePassword"
    ]
    assert data["ok"] is False
    assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(["input", field], code)]
    assert (await log_in(account.gql, account.email, account.password))["userErrors"] == []


async def test_asking_for_a_reset_answers_the_same_whether_or_not_the_account_exists(
    account: Account, mailer: Any
) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:6]}@example.com"
    answers = [
        (await account.gql(REQUEST_RESET, {"input": {"email": email}}))["requestPasswordReset"]
        for email in (account.email.upper(), nobody, "not an email")
    ]
    assert answers == [{"ok": True, "retryAfterSeconds": None, "userErrors": []}] * 3
    assert [m.to for m in mailer.sent] == [account.email, nobody]
    assert "reset-password?token=" in mailer.sent[0].body
    assert "no PRISM account uses it" in mailer.sent[1].body
    assert "token" not in mailer.sent[1].body


async def test_asking_for_a_reset_does_the_same_work_for_a_known_and_an_unknown_address(
    account: Account, mailer: Any
) -> None:
    # Issue 7, finding 9: a known address used to cost more statements (and time) than an unknown one.
    known = await account.gql.run(REQUEST_RESET, {"input": {"email": account.email}})
    unknown = await account.gql.run(REQUEST_RESET, {"input": {"email": f"nobody-{uuid.uuid4().hex[:6]}@example.com"}})
    assert known.body == unknown.body
    assert known.sql_statements == unknown.sql_statements
    assert len(mailer.sent) == 2, "one mail each: a link, or a notice that the address has no account"


async def test_a_reset_token_sets_a_new_password_once_and_signs_everyone_out(account: Account, mailer: Any) -> None:
    await account.gql(REQUEST_RESET, {"input": {"email": account.email}})
    await account.gql(REQUEST_RESET, {"input": {"email": account.email}})
    first, second = (token_in(m, "resetPassword") for m in mailer.sent)
    data = (await account.gql(RESET, {"input": {"token": second, "newPassword": NEW_PASSWORD}}))["resetPassword"]
    assert data == {"ok": True, "retryAfterSeconds": None, "userErrors": []}
    assert (await account.run("{ viewer { role } }")).codes == ["UNAUTHENTICATED"], "every session is signed out"
    assert (await log_in(account.gql, account.email, NEW_PASSWORD))["userErrors"] == []
    for used in (second, first):
        again = (await account.gql(RESET, {"input": {"token": used, "newPassword": "yet-another-passphrase"}}))[
            "resetPassword"
        ]
        assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["input", "token"], "INVALID_TOKEN")]
    assert (await log_in(account.gql, account.email, NEW_PASSWORD))["userErrors"] == []


async def test_an_expired_reset_token_or_a_short_password_resets_nothing(
    account: Account, mailer: Any, database_url: str
) -> None:
    await account.gql(REQUEST_RESET, {"input": {"email": account.email}})
    token = token_in(mailer.sent[0], "resetPassword")
    short = (await account.gql(RESET, {"input": {"token": token, "newPassword": "short"}}))["resetPassword"]
    assert [(e["field"], e["code"]) for e in short["userErrors"]] == [(["input", "newPassword"], "OUT_OF_RANGE")]
    await expire_tokens(database_url, account.email)
    expired = (await account.gql(RESET, {"input": {"token": token, "newPassword": NEW_PASSWORD}}))["resetPassword"]
    assert [e["code"] for e in expired["userErrors"]] == ["INVALID_TOKEN"]
    assert (await log_in(account.gql, account.email, account.password))["userErrors"] == []
    assert await account("{ viewer { role } }") == {"viewer": {"role": "OWNER"}}


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_smtp_mailer_delivers_to_a_real_smtp_server() -> None:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        mailer = mailer_from_settings(Settings(smtp_url=f"smtp://127.0.0.1:{port}", mail_from="PRISM <p@example.com>"))
        assert isinstance(mailer, SmtpMailer)
        await mailer.send(Message(to="ada@example.com", subject="Hello", body="Verify: abc123\n"))
    finally:
        await asyncio.to_thread(controller.stop)
    [(sender, recipients, content)] = inbox.messages
    assert sender == "p@example.com"
    assert recipients == ["ada@example.com"]
    assert b"Subject: Hello" in content
    assert b"Verify: abc123" in content


def test_production_without_smtp_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="prism.mail"):
        assert isinstance(mailer_from_settings(Settings(environment="development")), MailboxMailer)
        assert caplog.records == []
        assert isinstance(mailer_from_settings(Settings(environment="production")), LogMailer)
    assert ["PRISM_SMTP_URL is not set" in r.getMessage() for r in caplog.records] == [True]
    with pytest.raises(ValueError, match="PRISM_SMTP_URL"):
        SmtpMailer("http://mail.example.com", "p@example.com")


async def test_five_failed_log_ins_lock_the_account_for_fifteen_minutes(
    app: Starlette, gql: GraphQLClient, kv: KeyValueStore
) -> None:
    victim, bystander = await sign_up(gql), await sign_up(gql)
    for attempt in range(5):
        # From different addresses, so only the account's counter can trip.
        async with client_from(app, f"192.0.2.{attempt + 10}") as client:
            failed = await log_in(client, victim.email, "wrong-password-123")
            assert [e["code"] for e in failed["userErrors"]] == ["INVALID_CREDENTIALS"]
    locked = await log_in(gql, victim.email, victim.password)
    assert locked["accessToken"] is None
    assert [e["code"] for e in locked["userErrors"]] == ["ACCOUNT_LOCKED"]
    assert 880 <= locked["retryAfterSeconds"] <= 901
    assert f"{locked['retryAfterSeconds']} seconds" in locked["userErrors"][0]["message"]
    assert (await log_in(gql, bystander.email, bystander.password))["userErrors"] == []


async def test_twenty_failures_from_one_address_make_it_wait_and_a_success_does_not_reset_that(
    app: Starlette, gql: GraphQLClient, kv: KeyValueStore
) -> None:
    account = await sign_up(gql)
    async with client_from(app, f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}") as attacker:
        for _ in range(19):
            failed = await log_in(attacker, f"guess-{uuid.uuid4().hex[:6]}@example.com", "wrong-password-123")
            assert [e["code"] for e in failed["userErrors"]] == ["INVALID_CREDENTIALS"]
        assert (await log_in(attacker, account.email, account.password))["userErrors"] == []
        await log_in(attacker, f"guess-{uuid.uuid4().hex[:6]}@example.com", "wrong-password-123")
        limited = await log_in(attacker, account.email, account.password)
    assert limited["accessToken"] is None
    assert [e["code"] for e in limited["userErrors"]] == ["RATE_LIMITED"]
    assert 1 <= limited["retryAfterSeconds"] <= 901
    assert (await log_in(gql, account.email, account.password))["userErrors"] == [], "other addresses may log in"


async def test_a_lock_written_by_one_replica_holds_on_another_through_redis() -> None:
    await (await store_for("redis")).close()  # Redis must be up (or the test is skipped, or fails in CI)
    shared = Settings(redis_url=TEST_REDIS_URL, login_max_failures_per_account=2)
    first, second = open_store(shared.redis_url), open_store(shared.redis_url)
    email = f"replica-{uuid.uuid4().hex}@example.com"
    try:
        for _ in range(2):
            await (await LoginThrottle(first, shared).reserve(email, None)).failed()
        with pytest.raises(ThrottledError) as refused:
            await LoginThrottle(second, shared).reserve(email, None)
        assert refused.value.code.value == "ACCOUNT_LOCKED"
        assert 1 <= refused.value.retry_after_seconds <= 901
    finally:
        await first.delete(f"login-lock:{email}")
        await first.close()
        await second.close()
