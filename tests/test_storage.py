"""The object-store contract, run against the local-directory store and a real S3 server (SeaweedFS)."""

import asyncio
import hashlib
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from prism.config import Settings
from prism.storage import (
    DownloadSigner,
    InvalidDownloadTokenError,
    LocalStore,
    ObjectNotFoundError,
    ObjectStore,
    S3Store,
    StorageLimitError,
    object_key,
    open_storage,
)
from prism.storage.base import read_limited
from prism.storage.signing import DownloadGrant
from tests.object_stores import S3Server


def s3_settings(server: S3Server, bucket: str) -> Settings:
    return Settings(
        s3_endpoint=f"http://{server.endpoint}",
        s3_access_key=server.access_key,
        s3_secret_key=server.secret_key,
        s3_bucket=bucket,
    )


@pytest.fixture(scope="session")
def s3_bucket() -> str:
    """One bucket for the contract tests (each bucket costs SeaweedFS volumes); keys differ per test."""
    return f"prism-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        opened: ObjectStore = LocalStore(tmp_path / "files")
    else:
        server = request.getfixturevalue("s3_server")
        opened = open_storage(s3_settings(server, request.getfixturevalue("s3_bucket")))
        assert isinstance(opened, S3Store)
    await opened.start()
    return opened


async def test_a_stored_object_reads_back_byte_for_byte(store: ObjectStore) -> None:
    key = object_key(uuid.uuid4(), uuid.uuid4())
    content = os.urandom(300_000)
    await store.put(key, content, "application/octet-stream")
    assert await store.exists(key)
    assert await store.get(key) == content


async def test_storing_again_under_a_key_replaces_the_object(store: ObjectStore) -> None:
    key = object_key(uuid.uuid4(), uuid.uuid4())
    await store.put(key, b"first", "text/plain")
    await store.put(key, b"second", "text/plain")
    assert await store.get(key) == b"second"


async def test_a_deleted_object_is_gone_and_deleting_twice_is_harmless(store: ObjectStore) -> None:
    key = object_key(uuid.uuid4(), uuid.uuid4())
    await store.put(key, b"bye", "text/plain")
    await store.delete(key)
    await store.delete(key)
    assert not await store.exists(key)
    with pytest.raises(ObjectNotFoundError):
        await store.get(key)


async def test_a_started_store_is_reachable(store: ObjectStore) -> None:
    assert await store.reachable()


async def test_a_missing_key_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        await store.get(object_key(uuid.uuid4(), uuid.uuid4()))


async def test_starting_twice_keeps_what_is_stored(store: ObjectStore) -> None:
    key = object_key(uuid.uuid4(), uuid.uuid4())
    await store.put(key, b"kept", "text/plain")
    await store.start()
    assert await store.get(key) == b"kept"


async def test_the_s3_store_creates_its_bucket_and_serves_presigned_urls_that_expire(s3_server: S3Server) -> None:
    store = open_storage(s3_settings(s3_server, f"prism-new-{uuid.uuid4().hex[:12]}"))
    await store.start()
    key = object_key(uuid.uuid4(), uuid.uuid4())
    await store.put(key, b"%PDF-1.7 signed", "application/pdf")
    url = store.download_url(key, name="spec v1.pdf", content_type="application/pdf", expires=timedelta(seconds=2))
    assert url is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(url)
        assert answer.status_code == 200
        assert answer.content == b"%PDF-1.7 signed"
        assert answer.headers["content-type"] == "application/pdf"
        assert (await client.get(url.replace("Signature=", "Signature=0"))).status_code == 403
        await asyncio.sleep(3.5)
        assert (await client.get(url)).status_code == 403


async def test_the_local_store_refuses_keys_that_would_leave_its_directory(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "files")
    await store.start()
    (tmp_path / "secret").write_text("outside")
    for key in ("../secret", "org/../../secret", "/etc/passwd", ""):
        with pytest.raises(ObjectNotFoundError):
            await store.get(key)


async def test_reading_an_upload_measures_its_sha256_and_stops_past_the_limit() -> None:
    async def chunks(*parts: bytes):  # type: ignore[no-untyped-def]
        for part in parts:
            yield part

    content, digest = await read_limited(chunks(b"hello ", b"world"), max_bytes=11)
    assert content == b"hello world"
    assert digest == hashlib.sha256(b"hello world").hexdigest()
    with pytest.raises(StorageLimitError):
        await read_limited(chunks(b"hello ", b"world!"), max_bytes=11)


def test_a_download_token_is_refused_when_forged_tampered_or_expired() -> None:
    signer = DownloadSigner(b"k" * 40)
    grant = DownloadGrant(key="org/a/b", name="a.txt", content_type="text/plain")
    token = signer.sign(grant, 60)
    assert signer.verify(token) == grant
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "garbage", ""):
        with pytest.raises(InvalidDownloadTokenError):
            signer.verify(bad)
    with pytest.raises(InvalidDownloadTokenError):
        DownloadSigner(b"x" * 40).verify(token)
    expired = signer.sign(grant, -1)
    with pytest.raises(InvalidDownloadTokenError):
        signer.verify(expired)
    assert time.time() > 0


def test_presigned_urls_name_the_public_endpoint_when_one_is_set() -> None:
    store = open_storage(
        Settings(
            s3_endpoint="http://minio:9000",
            s3_public_endpoint="https://files.example.com",
            s3_access_key="key",
            s3_secret_key="secret",
            s3_bucket="prism",
        )
    )
    url = store.download_url("org/a/b", name="a.txt", content_type="text/plain", expires=timedelta(minutes=5))
    assert url is not None
    assert url.startswith("https://files.example.com/prism/org/a/b?")
    assert "X-Amz-Expires=300" in url
