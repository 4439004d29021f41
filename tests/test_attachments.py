"""Attachments: uploaded through the GraphQL multipart request, limited, hashed, isolated, downloaded and deleted."""

import hashlib
import json
import os
from typing import Any

import httpx
import pytest

from prism.config import Settings
from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    app_with,
    create_document,
    create_product,
    create_requirement,
    sign_up,
)
from tests.object_stores import S3Server

ERRORS = "userErrors { field message code }"
UPLOAD = f"""
mutation($input: UploadAttachmentInput!) {{
  uploadAttachment(input: $input) {{
    attachment {{ id name contentType size sha256 createdAt downloadUrl uploadedBy {{ id }} }}
    {ERRORS}
  }}
}}
"""
DELETE = f"mutation($input: DeleteAttachmentInput!) {{ deleteAttachment(input: $input) {{ deletedId {ERRORS} }} }}"
PREFLIGHT = {"Apollo-Require-Preflight": "true"}


async def upload(
    http: httpx.AsyncClient,
    token: str,
    subject: dict[str, str],
    content: bytes,
    *,
    name: str = "notes.txt",
    content_type: str = "text/plain",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A GraphQL multipart request, as the spec and `curl -F` send it."""
    operations = {"query": UPLOAD, "variables": {"input": {**subject, "file": None}}}
    return await http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {token}", **(PREFLIGHT if headers is None else headers)},
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": (name, content, content_type)},
    )


def uploaded(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result = body["data"]["uploadAttachment"]
    assert result["userErrors"] == [], result
    return result["attachment"]  # type: ignore[no-any-return]


async def test_a_file_uploaded_to_a_requirement_is_listed_with_its_sha256_and_downloads_intact(
    account: Account, http: httpx.AsyncClient
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    content = os.urandom(50_000)

    attachment = uploaded(
        await upload(
            http,
            account.token,
            {"requirementId": requirement["id"]},
            content,
            name="dir/../spec.pdf",
            content_type="application/pdf",
        )
    )

    assert attachment["name"] == "spec.pdf"
    assert attachment["contentType"] == "application/pdf"
    assert attachment["size"] == len(content)
    assert attachment["sha256"] == hashlib.sha256(content).hexdigest()
    assert attachment["uploadedBy"] == {"id": account.user_id}
    listed = await account(
        "query($id: ID!) { requirement(id: $id) { attachments { totalCount nodes { id sha256 } } } }",
        {"id": requirement["id"]},
    )
    assert listed["requirement"]["attachments"] == {
        "totalCount": 1,
        "nodes": [{"id": attachment["id"], "sha256": attachment["sha256"]}],
    }
    download = await http.get(attachment["downloadUrl"])
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"


async def test_comments_and_documents_take_attachments_too(account: Account, http: httpx.AsyncClient) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"])
    comment = await add_comment(account, documentId=document["id"])

    on_document = uploaded(await upload(http, account.token, {"documentId": document["id"]}, b"# PRD"))
    on_comment = uploaded(await upload(http, account.token, {"commentId": comment["id"]}, b"screenshot"))

    data = await account(
        """query($d: ID!, $c: ID!) {
             d: node(id: $d) { ... on Document { attachments { nodes { id } } } }
             c: node(id: $c) { ... on Comment { attachments { nodes { id } } } }
           }""",
        {"d": document["id"], "c": comment["id"]},
    )
    assert data["d"]["attachments"]["nodes"] == [{"id": on_document["id"]}]
    assert data["c"]["attachments"]["nodes"] == [{"id": on_comment["id"]}]


async def test_an_upload_without_the_preflight_header_is_refused_as_csrf(
    account: Account, http: httpx.AsyncClient
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])

    response = await upload(http, account.token, {"requirementId": requirement["id"]}, b"x", headers={})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PREFLIGHT_REQUIRED"
    listed = await account(
        "query($id: ID!) { requirement(id: $id) { attachments { totalCount } } }", {"id": requirement["id"]}
    )
    assert listed["requirement"]["attachments"]["totalCount"] == 0


@pytest.mark.parametrize(
    "operations_map",
    [
        {"operations": "not json", "map": "{}"},
        {"operations": json.dumps({"query": UPLOAD, "variables": {}}), "map": json.dumps({"0": ["variables.x"]})},
        {"operations": json.dumps({"query": UPLOAD, "variables": {}}), "map": json.dumps({"9": ["variables.x"]})},
        {"operations": json.dumps([{"query": UPLOAD}]), "map": "{}"},
    ],
)
async def test_malformed_multipart_requests_are_400_with_a_code(
    account: Account, http: httpx.AsyncClient, operations_map: dict[str, str]
) -> None:
    response = await http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {account.token}", **PREFLIGHT},
        data=operations_map,
        files={"0": ("a.txt", b"a", "text/plain")},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_files_over_the_limit_or_of_a_refused_type_are_coded_errors(settings: Settings) -> None:
    async with app_with(settings, attachment_max_bytes=1000, attachment_content_types="text/plain") as http:
        account = await sign_up(GraphQLClient(http))
        product = await create_product(account)
        subject = {"requirementId": (await create_requirement(account, product["id"]))["id"]}

        too_big = (await upload(http, account.token, subject, b"x" * 1001)).json()["data"]["uploadAttachment"]
        wrong_type = (
            await upload(http, account.token, subject, b"MZ", name="a.exe", content_type="application/x-msdownload")
        ).json()["data"]["uploadAttachment"]
        far_too_big = await upload(http, account.token, subject, b"x" * 2_000_000)
        exact = uploaded(await upload(http, account.token, subject, b"x" * 1000))

    assert [(e["field"], e["code"]) for e in too_big["userErrors"]] == [(["input", "file"], "OUT_OF_RANGE")]
    assert [(e["field"], e["code"]) for e in wrong_type["userErrors"]] == [(["input", "file"], "OUT_OF_RANGE")]
    assert too_big["attachment"] is None
    assert wrong_type["attachment"] is None
    assert far_too_big.status_code == 413
    assert far_too_big.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert exact["size"] == 1000


async def test_another_organizations_attachment_is_not_found(
    account: Account, other_account: Account, http: httpx.AsyncClient
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    attachment = uploaded(await upload(http, account.token, {"requirementId": requirement["id"]}, b"private"))

    seen = await other_account.run("query($id: ID!) { node(id: $id) { id } }", {"id": attachment["id"]})
    deleted = await other_account.run(DELETE, {"input": {"id": attachment["id"]}})
    attach_to_theirs = await upload(http, other_account.token, {"requirementId": requirement["id"]}, b"intrusion")

    assert [e["extensions"]["code"] for e in seen.errors] == ["NOT_FOUND"]
    assert [e["code"] for e in deleted.data["deleteAttachment"]["userErrors"]] == ["NOT_FOUND"]
    intrusion = attach_to_theirs.json()["data"]["uploadAttachment"]
    assert [e["code"] for e in intrusion["userErrors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    "damage", [lambda t: t[:-3] + ("aaa" if not t.endswith("aaa") else "bbb"), lambda t: "forged", lambda t: t + "x"]
)
async def test_a_forged_or_altered_download_token_is_refused(
    account: Account, http: httpx.AsyncClient, damage: Any
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    attachment = uploaded(await upload(http, account.token, {"requirementId": requirement["id"]}, b"secret"))
    base, token = attachment["downloadUrl"].rsplit("/", 1)

    response = await http.get(f"{base}/{damage(token)}")

    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_expired_download_link_is_refused(settings: Settings) -> None:
    import asyncio

    async with app_with(settings, download_url_ttl_seconds=10) as http:
        account = await sign_up(GraphQLClient(http))
        product = await create_product(account)
        requirement = await create_requirement(account, product["id"])
        attachment = uploaded(await upload(http, account.token, {"requirementId": requirement["id"]}, b"soon gone"))
        from prism.storage.signing import DownloadGrant

        signer = http._transport.app.state.runtime().download_signer  # type: ignore[attr-defined]
        grant = signer.verify(attachment["downloadUrl"].rsplit("/", 1)[1])
        expired = signer.sign(DownloadGrant(grant.key, grant.name, grant.content_type), -1)
        assert (await http.get(f"/files/{expired}")).status_code == 404
        assert (await http.get(attachment["downloadUrl"])).status_code == 200
        await asyncio.sleep(0)


async def test_deleting_an_attachment_removes_its_file(account: Account, http: httpx.AsyncClient) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    attachment = uploaded(await upload(http, account.token, {"requirementId": requirement["id"]}, b"to delete"))

    data = await account(DELETE, {"input": {"id": attachment["id"]}})

    assert data["deleteAttachment"] == {"deletedId": attachment["id"], "userErrors": []}
    assert (await http.get(attachment["downloadUrl"])).status_code == 404


async def test_deleting_a_requirement_removes_its_attachments_and_those_of_its_comments(
    account: Account, http: httpx.AsyncClient
) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    comment = await add_comment(account, requirementId=requirement["id"])
    on_requirement = uploaded(await upload(http, account.token, {"requirementId": requirement["id"]}, b"r"))
    on_comment = uploaded(await upload(http, account.token, {"commentId": comment["id"]}, b"c"))

    deleted = await account(
        f"mutation($input: DeleteRequirementInput!) {{ deleteRequirement(input: $input) {{ {ERRORS} }} }}",
        {"input": {"id": requirement["id"], "version": requirement["version"]}},
    )

    assert deleted["deleteRequirement"]["userErrors"] == []
    for attachment in (on_requirement, on_comment):
        assert (await http.get(attachment["downloadUrl"])).status_code == 404
        gone = await account.run("query($id: ID!) { node(id: $id) { id } }", {"id": attachment["id"]})
        assert [e["extensions"]["code"] for e in gone.errors] == ["NOT_FOUND"]


async def test_deleting_a_document_or_a_comment_removes_their_attachments(
    account: Account, http: httpx.AsyncClient
) -> None:
    product = await create_product(account)
    document = await create_document(account, product["id"])
    comment = await add_comment(account, documentId=document["id"])
    on_comment = uploaded(await upload(http, account.token, {"commentId": comment["id"]}, b"c"))
    on_document = uploaded(await upload(http, account.token, {"documentId": document["id"]}, b"d"))

    await account(
        f"mutation($input: DeleteCommentInput!) {{ deleteComment(input: $input) {{ {ERRORS} }} }}",
        {"input": {"id": comment["id"]}},
    )
    assert (await http.get(on_comment["downloadUrl"])).status_code == 404
    assert (await http.get(on_document["downloadUrl"])).status_code == 200
    await account(
        f"mutation($input: DeleteDocumentInput!) {{ deleteDocument(input: $input) {{ {ERRORS} }} }}",
        {"input": {"id": document["id"], "version": document["version"]}},
    )
    assert (await http.get(on_document["downloadUrl"])).status_code == 404


async def test_uploads_go_to_s3_and_download_through_presigned_urls(settings: Settings, s3_server: S3Server) -> None:
    async with app_with(
        settings,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket="prism-app-attachments",
        s3_secure=False,
    ) as http:
        account = await sign_up(GraphQLClient(http))
        product = await create_product(account)
        requirement = await create_requirement(account, product["id"])
        content = os.urandom(20_000)
        attachment = uploaded(
            await upload(
                http,
                account.token,
                {"requirementId": requirement["id"]},
                content,
                name="data.json",
                content_type="application/json",
            )
        )
        ready = await http.get("/readyz")
        assert ready.json()["checks"]["storage"] == "ok"
        url = attachment["downloadUrl"]
        assert url.startswith(f"http://{s3_server.endpoint}/prism-app-attachments/org/")
        async with httpx.AsyncClient() as outside:
            fetched = await outside.get(url)
            assert fetched.status_code == 200
            assert hashlib.sha256(fetched.content).hexdigest() == attachment["sha256"]
            await account(DELETE, {"input": {"id": attachment["id"]}})
            assert (await outside.get(url)).status_code == 404
