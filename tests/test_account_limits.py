"""Per-address and per-IP limits on the public account mutations that mail or hash (issue 7, findings 8 and 9).

Each test runs on an app of its own with low limits, counted in process and then in Redis (as replicas share them).
"""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette

from prism.auth.mailer import RecordingMailer
from prism.config import Settings
from tests.helpers import SIGN_UP, GraphQLClient, client_from, sign_up
from tests.test_accounts import REQUEST_RESET, RESET, token_in
from tests.test_rate_limits import limited_app, store  # noqa: F401 - the `store` fixture: memory, then Redis

NEW_PASSWORD = "a-brand-new-passphrase"


def fresh_ip() -> str:
    """An address no earlier run has used this hour: the counters in a shared Redis outlive a test run, and a space
    of 28,702 addresses (as this once drew from) made every twentieth run meet an earlier one."""
    value = uuid.uuid4().int
    return f"10.{value % 256}.{value // 256 % 256}.{value // 65536 % 254 + 1}"


@pytest.fixture
async def low_limits(settings: Settings, store: str | None) -> AsyncIterator[Starlette]:  # noqa: F811
    async with limited_app(
        settings,
        store,
        sign_up_limit_per_address="2/hour",
        sign_up_limit_per_ip="3/hour",
        password_reset_request_limit_per_address="2/hour",
        password_reset_request_limit_per_ip="3/hour",
        password_reset_limit_per_address="1/hour",
        password_reset_limit_per_ip="3/hour",
        rate_limit_enabled=False,
    ) as app:
        app.state.runtime().mailer = RecordingMailer()
        yield app


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


async def request_reset(client: GraphQLClient, email: str) -> dict[str, Any]:
    return (await client(REQUEST_RESET, {"input": {"email": email}}))["requestPasswordReset"]  # type: ignore[no-any-return]


async def test_reset_mails_to_one_address_stop_at_its_limit_whoever_asks(low_limits: Starlette) -> None:
    mailer = low_limits.state.runtime().mailer
    async with client_from(low_limits, fresh_ip()) as client:
        victim = await sign_up(client)
    sent_before = len(mailer.sent)
    answers = []
    for _ in range(4):
        async with client_from(low_limits, fresh_ip()) as attacker:
            answers.append(await request_reset(attacker, victim.email.upper()))
    assert [codes(a) for a in answers] == [[], [], ["RATE_LIMITED"], ["RATE_LIMITED"]]
    assert all(1 <= a["retryAfterSeconds"] <= 3600 for a in answers[2:])
    assert len(mailer.sent) - sent_before == 2, "the victim gets two mails, not four"
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    for expected in ([], [], ["RATE_LIMITED"]):
        async with client_from(low_limits, fresh_ip()) as attacker:
            assert codes(await request_reset(attacker, nobody)) == expected, "unknown addresses count the same"


async def test_reset_mails_asked_from_one_address_stop_at_its_limit(low_limits: Starlette) -> None:
    async with client_from(low_limits, fresh_ip()) as attacker:
        answers = [await request_reset(attacker, f"someone-{uuid.uuid4().hex[:8]}@example.com") for _ in range(4)]
    assert [codes(a) for a in answers] == [[], [], [], ["RATE_LIMITED"]]
    async with client_from(low_limits, fresh_ip()) as neighbour:
        assert codes(await request_reset(neighbour, f"someone-{uuid.uuid4().hex[:8]}@example.com")) == []


async def test_reset_attempts_from_one_address_stop_at_its_limit(low_limits: Starlette) -> None:
    async with client_from(low_limits, fresh_ip()) as attacker:
        answers = [
            (await attacker(RESET, {"input": {"token": uuid.uuid4().hex, "newPassword": NEW_PASSWORD}}))[
                "resetPassword"
            ]
            for _ in range(4)
        ]
    assert [codes(a) for a in answers] == [["INVALID_TOKEN"]] * 3 + [["RATE_LIMITED"]]
    assert 1 <= answers[3]["retryAfterSeconds"] <= 3600


async def test_resets_of_one_account_stop_at_its_limit(low_limits: Starlette) -> None:
    mailer = low_limits.state.runtime().mailer
    async with client_from(low_limits, fresh_ip()) as client:
        account = await sign_up(client)
    for expected in ([], ["RATE_LIMITED"]):
        async with client_from(low_limits, fresh_ip()) as client:
            assert codes(await request_reset(client, account.email)) == []
            token = token_in(mailer.sent[-1], "resetPassword")
            answer = (await client(RESET, {"input": {"token": token, "newPassword": NEW_PASSWORD}}))["resetPassword"]
        assert codes(answer) == expected


def sign_up_input(email: str) -> dict[str, Any]:
    wanted = {"email": email, "password": "correct-horse-battery", "name": "Ada", "organizationName": "Flood"}
    return {"input": wanted}


async def test_sign_ups_with_one_address_stop_at_its_limit_whoever_asks(low_limits: Starlette) -> None:
    email = f"flooded-{uuid.uuid4().hex[:8]}@example.com"
    answers = []
    for _ in range(3):
        async with client_from(low_limits, fresh_ip()) as client:
            answers.append((await client(SIGN_UP, {"input": sign_up_input(email)["input"]}))["signUp"])
    assert codes(answers[2]) == ["RATE_LIMITED"]


async def test_sign_ups_from_one_address_stop_at_its_limit(low_limits: Starlette) -> None:
    async with client_from(low_limits, fresh_ip()) as flooder:
        answers = [
            (await flooder(SIGN_UP, sign_up_input(f"bot-{uuid.uuid4().hex[:8]}@example.com")))["signUp"]
            for _ in range(4)
        ]
    assert [codes(a) for a in answers] == [[], [], [], ["RATE_LIMITED"]]
