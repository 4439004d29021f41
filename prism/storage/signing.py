"""Signed, expiring tokens for PRISM's own download route (`/files/<token>`), used with the local store."""

import time
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

__all__ = ["DownloadGrant", "DownloadSigner", "InvalidDownloadTokenError"]


class InvalidDownloadTokenError(Exception):
    """A download token that is forged, damaged or expired."""


@dataclass(frozen=True)
class DownloadGrant:
    """What a valid token allows: one object, served under this name and type."""

    key: str
    name: str
    content_type: str


class DownloadSigner:
    """Signs grants with PRISM's secret key (its own salt, so no other signed value can pass for one)."""

    def __init__(self, secret_key: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="prism.attachment-download")

    def sign(self, grant: DownloadGrant, expires_in_seconds: int) -> str:
        return self._serializer.dumps(
            {"k": grant.key, "n": grant.name, "t": grant.content_type, "e": int(time.time()) + expires_in_seconds}
        )

    def verify(self, token: str) -> DownloadGrant:
        """The grant a token carries; InvalidDownloadTokenError when forged or past its expiry."""
        try:
            data = self._serializer.loads(token)
        except (BadSignature, SignatureExpired):
            raise InvalidDownloadTokenError("invalid download token") from None
        if not isinstance(data, dict) or not isinstance(data.get("e"), int) or data["e"] < time.time():
            raise InvalidDownloadTokenError("expired download token")
        try:
            return DownloadGrant(key=str(data["k"]), name=str(data["n"]), content_type=str(data["t"]))
        except KeyError:
            raise InvalidDownloadTokenError("invalid download token") from None
