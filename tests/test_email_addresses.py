"""One address, one account: look-alike addresses are folded together or refused (issue 7, finding 15)."""

import unicodedata
import uuid

import asyncpg
import pytest

from prism.errors import ValidationError
from prism.services.credentials import fold_email, lookup_forms, normalise_email
from tests.helpers import Account, GraphQLClient, uuid_of

LOG_IN = """
mutation($input: LogInInput!) { logIn(input: $input) { accessToken user { id } userErrors { field code } } }
"""
SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { accessToken userErrors { field message code } } }
"""


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) - 0x21 + 0xFF01) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        (fullwidth("ada") + "@example.com", "ada@example.com"),
        ("\u212aate@example.com", "kate@example.com"),  # the Kelvin sign
        (unicodedata.normalize("NFD", "jos\u00e9@example.com"), "jos\u00e9@example.com"),
        ("Stra\u00dfe@example.de", "strasse@example.de"),
        ("\ufb01nn@example.com", "finn@example.com"),  # the ligature fi
    ],
)
def test_addresses_that_read_the_same_have_one_canonical_form(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored
    assert fold_email(typed) == stored
    assert lookup_forms(typed)[0] == stored


@pytest.mark.parametrize(
    "typed",
    [
        "ada\u200b@example.com",  # zero-width space
        "a\u00adda@example.com",  # soft hyphen
        "ada@exam\u200dple.com",  # zero-width joiner
        "\u202eada@example.com",  # right-to-left override
        "ada\ufeff@example.com",  # byte-order mark
        "ada\u2060@example.com",  # word joiner
        "ada\ue000@example.com",  # private use
        "ad\u00a0a@example.com",  # no-break space
        "\u0430da@example.com",  # Cyrillic a among Latin letters
        "ada@ex\u0430mple.com",  # ... in a domain label
        "p\u0391ypal@example.com",  # Greek capital alpha
    ],
)
def test_invisible_characters_and_mixed_scripts_are_refused(typed: str) -> None:
    with pytest.raises(ValidationError) as refused:
        normalise_email(typed)
    assert refused.value.field == "email"


@pytest.mark.parametrize(
    "typed",
    [
        "\u0438\u0432\u0430\u043d@\u043f\u043e\u0447\u0442\u0430.\u0440\u0444",  # Cyrillic throughout
        "\u0438\u0432\u0430\u043d@example.com",  # a Cyrillic local part at a Latin domain
        "\u5c71\u7530\u305f\u308d\u3046@example.jp",  # Han with Hiragana, as Japanese names are written
        "o'brien+news@example.co.uk",
    ],
)
def test_single_script_parts_and_usual_mixtures_are_accepted(typed: str) -> None:
    assert normalise_email(typed) == fold_email(typed)


def test_older_lower_case_forms_are_looked_up_too() -> None:
    assert lookup_forms("Stra\u00dfe@Example.de") == ["strasse@example.de", "stra\u00dfe@example.de"]
    assert lookup_forms("Ada@Example.com") == ["ada@example.com"]
    assert lookup_forms("not an address") == []


async def test_each_look_alike_of_an_address_reaches_the_same_account(account: Account, gql: GraphQLClient) -> None:
    local, _, domain = account.email.partition("@")
    for typed in (
        account.email.upper(),
        fullwidth(local) + "@" + domain,
        unicodedata.normalize("NFKD", fullwidth(account.email)),
    ):
        data = (await gql(LOG_IN, {"input": {"email": typed, "password": account.password}}))["logIn"]
        assert data["userErrors"] == [], typed
        assert data["user"] == {"id": account.user_id}


@pytest.mark.parametrize(
    "look_alike",
    ["{local}\u200b@{domain}", "{local}\u00ad@{domain}", "\u202e{local}@{domain}", "\u0430{local}@{domain}"],
)
async def test_signing_up_with_a_look_alike_address_is_refused(
    account: Account, gql: GraphQLClient, look_alike: str
) -> None:
    local, _, domain = account.email.partition("@")
    wanted = {"password": "correct-horse-battery", "name": "Mallory", "organizationName": "Look-alikes"}
    data = await gql(SIGN_UP, {"input": {"email": look_alike.format(local=local, domain=domain), **wanted}})
    assert [(e["field"], e["code"]) for e in data["signUp"]["userErrors"]] == [(["input", "email"], "BAD_USER_INPUT")]


async def test_an_account_stored_in_the_older_lower_case_form_still_logs_in(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    legacy = f"stra\u00dfe-{uuid.uuid4().hex[:8]}@example.de"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE app_user SET email = $1 WHERE id = $2", legacy, uuid_of(account.user_id))
    finally:
        await conn.close()
    typed = legacy[0].upper() + legacy[1:]  # "Straße": lower-cased, the stored form; folded, "strasse"
    data = (await gql(LOG_IN, {"input": {"email": typed, "password": account.password}}))["logIn"]
    assert data["userErrors"] == []
    assert data["user"] == {"id": account.user_id}
