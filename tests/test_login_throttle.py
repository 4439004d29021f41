"""Throttling counts a try before it verifies anything: concurrent guesses never get more verifications than the limit.

The attacks of issue 7, finding 6: many wrong passwords (or TOTP codes, recovery codes, current passwords) sent at
once, so that each passes a check made before any failure is counted. Every secret PRISM checks goes through the
same reservation (prism/auth/throttle.py), in process and in Redis.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette

from prism.auth.passwords import PasswordHasher, make_hasher
from prism.auth.throttle import LoginThrottle, ThrottledError
from prism.config import Settings
from prism.kv import KeyValueStore
from tests.helpers import Account, GraphQLClient, client_from, sign_up, store_for
from tests.test_mfa import COMPLETE, DISABLE, code_at, enrol

LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken mfaToken retryAfterSeconds userErrors { field message code } }
}
"""
CHANGE = """
mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ok userErrors { field message code } } }
"""
ACCOUNT_LIMIT = 5  # the default PRISM_LOGIN_MAX_FAILURES_PER_ACCOUNT
IP_LIMIT = 20  # the default PRISM_LOGIN_MAX_FAILURES_PER_IP


class CountingHasher(PasswordHasher):
    """The app's argon2 hasher, counting the passwords it verifies."""

    def __init__(self) -> None:
        reference = make_hasher()
        super().__init__(
            time_cost=reference.time_cost, memory_cost=reference.memory_cost, parallelism=reference.parallelism
        )
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, app: Starlette) -> AsyncIterator[KeyValueStore]:
    """The app's key-value store for one test: in process, then real Redis (its counters are what replicas share)."""
    runtime = app.state.runtime()
    store = await store_for(request.param)
    previous, runtime.kv = runtime.kv, store
    try:
        yield store
    finally:
        runtime.kv = previous
        await store.close()


@pytest.fixture
def hasher(app: Starlette) -> Iterator[CountingHasher]:
    runtime = app.state.runtime()
    counting = CountingHasher()
    previous, runtime.hasher = runtime.hasher, counting
    try:
        yield counting
    finally:
        runtime.hasher = previous


def codes_of(payloads: list[dict[str, Any]]) -> Counter[str]:
    return Counter(error["code"] for payload in payloads for error in payload["userErrors"])


def fresh_network() -> str:
    """A client address no other test uses (198.18.0.0/15 is for benchmarks)."""
    value = uuid.uuid4().int
    return f"198.{18 + value % 2}.{value // 2 % 256}.{value // 512 % 254 + 1}"


async def from_address(app: Starlette, ip: str, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    async with client_from(app, ip) as client:
        return await client(query, variables, token=token)


async def test_concurrent_wrong_passwords_for_one_account_verify_at_most_its_limit(
    app: Starlette, gql: GraphQLClient, kv: KeyValueStore, hasher: CountingHasher
) -> None:
    victim = await sign_up(gql)
    hasher.verified = 0
    guesses = [{"input": {"email": victim.email, "password": f"guess-number-{n:03}"}} for n in range(40)]
    # From forty addresses, so only the account's limit can stop them.
    answers = await asyncio.gather(*(from_address(app, fresh_network(), LOG_IN, g) for g in guesses))
    payloads = [answer["logIn"] for answer in answers]
    assert hasher.verified <= ACCOUNT_LIMIT
    assert codes_of(payloads) == {"INVALID_CREDENTIALS": hasher.verified, "ACCOUNT_LOCKED": 40 - hasher.verified}
    assert all(p["accessToken"] is None for p in payloads)
    locked = (await gql(LOG_IN, {"input": {"email": victim.email, "password": victim.password}}))["logIn"]
    assert [e["code"] for e in locked["userErrors"]] == ["ACCOUNT_LOCKED"], "the right password comes too late"


async def test_concurrent_guesses_from_one_address_verify_at_most_its_limit(
    app: Starlette, kv: KeyValueStore, hasher: CountingHasher
) -> None:
    guesses = [
        {"input": {"email": f"guess-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong-password-123"}}
        for _ in range(60)
    ]
    hasher.verified = 0
    async with client_from(app, fresh_network()) as attacker:
        answers = await asyncio.gather(*(attacker(LOG_IN, guess) for guess in guesses))
    payloads = [answer["logIn"] for answer in answers]
    assert hasher.verified <= IP_LIMIT
    assert codes_of(payloads) == {"INVALID_CREDENTIALS": hasher.verified, "RATE_LIMITED": 60 - hasher.verified}


async def test_concurrent_wrong_totp_codes_verify_at_most_the_limit(
    app: Starlette, account: Account, kv: KeyValueStore
) -> None:
    secret, _ = await enrol(account)
    async with client_from(app, fresh_network()) as client:
        challenge = (await client(LOG_IN, {"input": {"email": account.email, "password": account.password}}))["logIn"]
    right = {code_at(secret, step) for step in (-1, 0, 1)}
    wrong = [f"{n:06}" for n in range(100_000, 100_060) if f"{n:06}" not in right][:30]
    answers = await asyncio.gather(
        *(
            from_address(app, fresh_network(), COMPLETE, {"input": {"mfaToken": challenge["mfaToken"], "code": code}})
            for code in wrong
        )
    )
    counted = codes_of([answer["completeMfaLogIn"] for answer in answers])
    assert counted["INVALID_MFA_CODE"] <= ACCOUNT_LIMIT
    assert counted == {
        "INVALID_MFA_CODE": counted["INVALID_MFA_CODE"],
        "ACCOUNT_LOCKED": 30 - counted["INVALID_MFA_CODE"],
    }


async def test_concurrent_wrong_recovery_codes_verify_at_most_the_limit(
    app: Starlette, account: Account, kv: KeyValueStore
) -> None:
    await enrol(account)
    async with client_from(app, fresh_network()) as client:
        challenge = (await client(LOG_IN, {"input": {"email": account.email, "password": account.password}}))["logIn"]
    answers = await asyncio.gather(
        *(
            from_address(
                app,
                fresh_network(),
                COMPLETE,
                {"input": {"mfaToken": challenge["mfaToken"], "recoveryCode": uuid.uuid4().hex[:16]}},
            )
            for _ in range(30)
        )
    )
    counted = codes_of([answer["completeMfaLogIn"] for answer in answers])
    assert counted["INVALID_MFA_CODE"] <= ACCOUNT_LIMIT
    assert counted["INVALID_MFA_CODE"] + counted["ACCOUNT_LOCKED"] == 30


async def test_a_stolen_token_cannot_guess_the_current_password_faster_than_a_log_in(
    app: Starlette, account: Account, kv: KeyValueStore, hasher: CountingHasher
) -> None:
    hasher.verified = 0
    answers = await asyncio.gather(
        *(
            from_address(
                app,
                fresh_network(),
                CHANGE,
                {"input": {"currentPassword": f"guess-number-{n:03}", "newPassword": "the-thiefs-passphrase"}},
                token=account.token,
            )
            for n in range(30)
        )
    )
    counted = codes_of([answer["changePassword"] for answer in answers])
    assert hasher.verified <= ACCOUNT_LIMIT
    assert counted == {"INVALID_CREDENTIALS": hasher.verified, "ACCOUNT_LOCKED": 30 - hasher.verified}
    refused = await account(CHANGE, {"input": {"currentPassword": account.password, "newPassword": "x" * 12}})
    assert [e["code"] for e in refused["changePassword"]["userErrors"]] == ["ACCOUNT_LOCKED"]


async def test_a_stolen_token_cannot_guess_totp_codes_to_turn_mfa_off(
    app: Starlette, account: Account, kv: KeyValueStore
) -> None:
    secret, _ = await enrol(account)
    right = {code_at(secret, step) for step in (-1, 0, 1)}
    wrong = [f"{n:06}" for n in range(200_000, 200_060) if f"{n:06}" not in right][:30]
    answers = await asyncio.gather(
        *(from_address(app, fresh_network(), DISABLE, {"input": {"code": code}}, token=account.token) for code in wrong)
    )
    counted = codes_of([answer["disableTotp"] for answer in answers])
    assert counted["INVALID_MFA_CODE"] <= ACCOUNT_LIMIT
    assert counted["INVALID_MFA_CODE"] + counted["ACCOUNT_LOCKED"] == 30
    assert (await account("{ accountSecurity { totpEnabled } }"))["accountSecurity"]["totpEnabled"] is True


async def test_a_right_password_gives_its_try_back_and_only_wrong_ones_count(app: Starlette, kv: KeyValueStore) -> None:
    settings = Settings(login_max_failures_per_account=3, login_max_failures_per_ip=3)
    throttle = LoginThrottle(kv, settings)
    email = f"counted-{uuid.uuid4().hex}@example.com"
    for _ in range(10):
        await (await throttle.reserve(email, "192.0.2.77")).passed()
    for _ in range(2):
        await (await throttle.reserve(email, "192.0.2.77")).failed()
    await (await throttle.reserve(email, "192.0.2.77")).signed_in()
    await (await throttle.reserve(email, "192.0.2.77")).failed()
    with pytest.raises(ThrottledError) as refused:
        await throttle.reserve(f"other-{email}", "192.0.2.77")
    assert refused.value.code.value == "RATE_LIMITED", "three wrong tries from the address, whatever the successes"
