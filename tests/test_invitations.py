"""Invitations: an OWNER or ADMIN invites an address with a role; the person with that address joins."""

import re
from collections.abc import Iterator

import asyncpg
import pytest
from starlette.applications import Starlette

from prism.auth.mailer import RecordingMailer
from prism.config import Settings
from tests.helpers import Account, GraphQLClient, join_organization, sign_up, uuid_of
from tests.test_mfa import COMPLETE, code_at, enrol, log_in

INVITE = """
mutation($input: InviteMemberInput!) {
  inviteMember(input: $input) {
    invitation { id email role expiresAt invitedBy { id } }
    userErrors { field message code }
  }
}
"""
REVOKE = """
mutation($input: RevokeInvitationInput!) {
  revokeInvitation(input: $input) { invitation { id revokedAt } userErrors { field message code } }
}
"""
ACCEPT = """
mutation($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) {
    accessToken refreshToken organization { id }
    userErrors { field message code }
  }
}
"""
PENDING = "query { invitations(first: 10) { totalCount nodes { id email role } } }"


@pytest.fixture
def mailer(app: Starlette) -> Iterator[RecordingMailer]:
    runtime = app.state.runtime()
    previous = runtime.mailer
    runtime.mailer = RecordingMailer()
    try:
        yield runtime.mailer
    finally:
        runtime.mailer = previous


def invitations_sent(mailer: RecordingMailer) -> list[str]:
    """The addresses invitations were mailed to (sign-ups mail verification links too)."""
    return [m.to for m in mailer.sent if "invited" in m.subject]


def token_in(mailer: RecordingMailer, to: str) -> str:
    message = [m for m in mailer.sent if m.to == to and "invited" in m.subject][-1]
    found = re.search(r"invitation token:\n\n(\S+)\n", message.body)
    assert found, message.body
    return found.group(1)


async def invite(account: Account, email: str, role: str = "MEMBER") -> dict[str, str]:
    data = await account(INVITE, {"input": {"email": email, "role": role}})
    assert data["inviteMember"]["userErrors"] == [], data
    return data["inviteMember"]["invitation"]  # type: ignore[no-any-return]


async def _actions(database_url: str, account: Account) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT action FROM audit_log WHERE organization_id = $1", uuid_of(account.organization_id)
        )
        return [row["action"] for row in rows]
    finally:
        await conn.close()


async def test_an_invited_person_joins_with_the_invited_role(
    account: Account, gql: GraphQLClient, mailer: RecordingMailer, database_url: str
) -> None:
    invitee = await sign_up(gql, name="Invitee", organization="Their own")
    invitation = await invite(account, invitee.email.upper(), role="VIEWER")
    assert invitation["email"] == invitee.email
    assert invitation["invitedBy"] == {"id": account.user_id}
    assert (await account(PENDING))["invitations"]["totalCount"] == 1
    token = token_in(mailer, invitee.email)

    data = await invitee(ACCEPT, {"input": {"token": token}})
    payload = data["acceptInvitation"]
    assert payload["userErrors"] == []
    assert payload["organization"] == {"id": account.organization_id}
    viewer = await gql("query { viewer { role organization { id } } }", token=payload["accessToken"])
    assert viewer["viewer"] == {"role": "VIEWER", "organization": {"id": account.organization_id}}
    assert (await account(PENDING))["invitations"]["totalCount"] == 0
    assert {"invitation.created", "invitation.accepted"} <= set(await _actions(database_url, account))

    replay = await invitee(ACCEPT, {"input": {"token": token}})
    assert replay["acceptInvitation"]["userErrors"][0]["code"] == "INVALID_STATE"


async def test_only_the_invited_address_can_accept(
    account: Account, gql: GraphQLClient, mailer: RecordingMailer
) -> None:
    await invite(account, "someone-else@example.com")
    stranger = await sign_up(gql, name="Stranger")
    result = await stranger.run(ACCEPT, {"input": {"token": token_in(mailer, "someone-else@example.com")}})
    assert result.codes == ["FORBIDDEN"]
    assert (await account(PENDING))["invitations"]["totalCount"] == 1


async def test_a_wrong_or_revoked_token_does_not_let_anyone_in(
    account: Account, gql: GraphQLClient, mailer: RecordingMailer, database_url: str
) -> None:
    invitee = await sign_up(gql, name="Invitee")
    invitation = await invite(account, invitee.email)
    token = token_in(mailer, invitee.email)
    wrong = await invitee(ACCEPT, {"input": {"token": token + "x"}})
    assert wrong["acceptInvitation"]["userErrors"][0]["code"] == "NOT_FOUND"

    revoked = await account(REVOKE, {"input": {"id": invitation["id"]}})
    assert revoked["revokeInvitation"]["invitation"]["revokedAt"] is not None
    assert "invitation.revoked" in await _actions(database_url, account)
    data = await invitee(ACCEPT, {"input": {"token": token}})
    assert data["acceptInvitation"]["accessToken"] is None
    assert data["acceptInvitation"]["userErrors"][0]["code"] == "INVALID_STATE"
    again = await account(REVOKE, {"input": {"id": invitation["id"]}})
    assert again["revokeInvitation"]["userErrors"][0]["code"] == "INVALID_STATE"


async def test_inviting_again_replaces_the_pending_invitation(account: Account, mailer: RecordingMailer) -> None:
    await invite(account, "twice@example.com")
    await invite(account, "twice@example.com", role="ADMIN")
    pending = (await account(PENDING))["invitations"]
    assert pending["totalCount"] == 1
    assert pending["nodes"][0]["role"] == "ADMIN"
    assert invitations_sent(mailer) == ["twice@example.com", "twice@example.com"]


async def test_bad_addresses_and_existing_members_are_refused(
    account: Account, gql: GraphQLClient, mailer: RecordingMailer, database_url: str
) -> None:
    teammate = await join_organization(gql, database_url, account, role="MEMBER")
    for email, code in (("not-an-address", "BAD_USER_INPUT"), (teammate.email, "ALREADY_EXISTS")):
        data = await account(INVITE, {"input": {"email": email, "role": "MEMBER"}})
        assert data["inviteMember"]["userErrors"][0]["code"] == code
    assert (await account(PENDING))["invitations"]["totalCount"] == 0
    assert invitations_sent(mailer) == []


async def test_an_admin_cannot_invite_an_owner_and_a_member_cannot_invite(
    account: Account, gql: GraphQLClient, mailer: RecordingMailer, database_url: str
) -> None:
    admin = await join_organization(gql, database_url, account, role="ADMIN")
    member = await join_organization(gql, database_url, account, role="MEMBER", name="Member")
    as_admin = await admin.run(INVITE, {"input": {"email": "boss@example.com", "role": "OWNER"}})
    assert as_admin.codes == ["FORBIDDEN"]
    as_member = await member.run(INVITE, {"input": {"email": "friend@example.com", "role": "VIEWER"}})
    assert as_member.codes == ["FORBIDDEN"]
    assert (await member.run(PENDING)).codes == ["FORBIDDEN"]
    await invite(admin, "colleague@example.com", role="ADMIN")
    assert invitations_sent(mailer) == ["colleague@example.com"]


async def test_another_organizations_invitation_cannot_be_revoked(
    account: Account, other_account: Account, mailer: RecordingMailer
) -> None:
    theirs = await invite(other_account, "theirs@example.com")
    data = await account(REVOKE, {"input": {"id": theirs["id"]}})
    assert data["revokeInvitation"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await other_account(PENDING))["invitations"]["totalCount"] == 1


async def test_only_owners_and_admins_can_read_an_invitation_by_id(
    gql: GraphQLClient, settings: Settings, account: Account, mailer: RecordingMailer
) -> None:
    invitation = await invite(account, "reader-check@example.com")
    query = "query($id: ID!) { node(id: $id) { ... on Invitation { email } } }"
    assert (await account(query, {"id": invitation["id"]}))["node"] == {"email": "reader-check@example.com"}
    assert settings.database_admin_url is not None
    member = await join_organization(gql, settings.database_admin_url, account, role="MEMBER")
    result = await member.run(query, {"id": invitation["id"]})
    assert result.codes == ["NOT_FOUND"]
    assert "reader-check" not in str(result.body)


async def test_joining_an_organization_that_requires_mfa_needs_a_second_factor_first(
    account: Account, gql: GraphQLClient, mailer: RecordingMailer
) -> None:
    required = await account(
        """mutation($input: UpdateOrganizationSecurityInput!) {
             updateOrganizationSecurity(input: $input) { requireMfa userErrors { code } }
           }""",
        {"input": {"requireMfa": True}},
    )
    assert required["updateOrganizationSecurity"] == {"requireMfa": True, "userErrors": []}
    invitee = await sign_up(gql, name="No second factor")
    await invite(account, invitee.email)

    data = await invitee(ACCEPT, {"input": {"token": token_in(mailer, invitee.email)}})
    assert data["acceptInvitation"]["accessToken"] is None
    assert data["acceptInvitation"]["userErrors"][0]["code"] == "MFA_ENROLLMENT_REQUIRED"
    assert (await account(PENDING))["invitations"]["totalCount"] == 1, "nothing was written"
    organizations = await invitee("{ viewer { organizations { organization { id } } } }")
    assert account.organization_id not in str(organizations)


async def test_a_user_with_totp_joins_only_from_a_session_proven_with_it(
    account: Account, gql: GraphQLClient, mailer: RecordingMailer
) -> None:
    invitee = await sign_up(gql, name="Has TOTP")
    secret, _ = await enrol(invitee)  # the sign-up session was opened with the password alone
    await invite(account, invitee.email)
    token = token_in(mailer, invitee.email)

    refused = (await invitee(ACCEPT, {"input": {"token": token}}))["acceptInvitation"]
    assert refused["accessToken"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["MFA_ENROLLMENT_REQUIRED"]
    assert (await account(PENDING))["invitations"]["totalCount"] == 1, "nothing was written"

    challenge = await log_in(gql, invitee)
    proven = (await gql(COMPLETE, {"input": {"mfaToken": challenge["mfaToken"], "code": code_at(secret, 1)}}))[
        "completeMfaLogIn"
    ]
    joined = (await gql(ACCEPT, {"input": {"token": token}}, token=proven["accessToken"]))["acceptInvitation"]
    assert joined["userErrors"] == []
    assert joined["organization"] == {"id": account.organization_id}
