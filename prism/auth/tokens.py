"""Signed access tokens (JWT, HS256 via authlib.jose) naming the user, the organization they act in and the
session they belong to; and the opaque one-time secrets (refresh tokens, emailed tokens) stored only as hashes.

Keys carry a `kid`: the first key signs, every listed key verifies, so a new key can be put first and the old one
removed once the tokens it signed have expired (docs/security.md, "Sessions and tokens").

A client sends the same token with every request, and each request checks it twice (the caller's concurrency slot,
then authentication), so the issuer remembers the tokens whose signature and claims it verified, a bounded number of
them: a token seen again skips base64, JSON, HMAC and authlib's claim checks, while its time claims (expiry above all)
are compared with the clock on every use, and revocation (the session's sign-out, the membership) is checked by
authentication as before.
"""

import hashlib
import secrets
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

import authlib.deprecate

with warnings.catch_warnings():
    # authlib announces joserfc as the successor of authlib.jose; the API used here stays until authlib 2.0.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.jose import JsonWebToken
    from authlib.jose.errors import JoseError

from prism.config import Settings
from prism.errors import UnauthenticatedError

__all__ = [
    "DEFAULT_KID",
    "VERIFIED_TOKENS_KEPT",
    "AccessClaims",
    "SigningKey",
    "TokenIssuer",
    "hash_token",
    "issuer_from_settings",
    "new_opaque_token",
    "signing_keys",
]

ISSUER = "prism"
DEFAULT_KID = "default"
_ALGORITHM = "HS256"
_jwt = JsonWebToken([_ALGORITHM])  # an allow-list: tokens signed with any other algorithm (or none) are refused
_LEEWAY_SECONDS = 5
VERIFIED_TOKENS_KEPT = 4096
"""How many verified tokens an issuer remembers (least recently used first out): a few MB at most."""


@dataclass(frozen=True)
class SigningKey:
    """One HMAC key and the `kid` that names it in a token's header."""

    kid: str
    secret: bytes


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says about its bearer."""

    user_id: UUID
    organization_id: UUID
    session_id: UUID
    token_id: str
    expires_at: int


class _UnknownKeyError(JoseError):
    error = "unknown_kid"


class TokenIssuer:
    """Issues access tokens with the first key and verifies them with any listed key."""

    def __init__(self, keys: bytes | Sequence[SigningKey], ttl_seconds: int) -> None:
        listed = [SigningKey(DEFAULT_KID, keys)] if isinstance(keys, bytes) else list(keys)
        if not listed:
            raise ValueError("at least one signing key is needed")
        if len({key.kid for key in listed}) != len(listed):
            raise ValueError("signing key ids (kid) must be unique")
        self._signing = listed[0]
        self._keys: Mapping[str, bytes] = {key.kid: key.secret for key in listed}
        self.ttl_seconds = ttl_seconds
        # Only tokens whose signature verified are kept (a failure raises, and lru_cache keeps no exception), so
        # invented tokens cannot fill it; the keys are this issuer's for its whole life.
        self._verified = lru_cache(maxsize=VERIFIED_TOKENS_KEPT)(self._verify_signature)

    def issue(self, user_id: UUID, organization_id: UUID, session_id: UUID | None = None) -> tuple[str, int]:
        """A token for the user acting in the organization within a session, and its expiry (Unix seconds).

        Without a session id (tools and tests) the token names a fresh one that no row records.
        """
        now = int(time.time())
        expires = now + self.ttl_seconds
        claims = {
            "iss": ISSUER,
            "sub": str(user_id),
            "org": str(organization_id),
            "sid": str(session_id or uuid4()),
            "jti": uuid4().hex,
            "iat": now,
            "exp": expires,
        }
        header = {"alg": _ALGORITHM, "typ": "JWT", "kid": self._signing.kid}
        token = _jwt.encode(header, claims, self._signing.secret)
        return token.decode("ascii"), expires

    def _key_for(self, header: Mapping[str, Any], payload: Any) -> bytes:
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise _UnknownKeyError()
        return self._keys[kid]

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid, unexpired token; anything else raises UnauthenticatedError."""
        try:
            verified = self._verified(token)
        except (JoseError, KeyError, ValueError, TypeError) as err:
            raise UnauthenticatedError("The access token is invalid or has expired.") from err
        # Time passes between two uses of one token: expiry (and nbf, iat) are checked every time. What else the
        # claims must satisfy cannot change, and was checked with the signature.
        if not verified.in_time(time.time()):
            raise UnauthenticatedError("The access token is invalid or has expired.")
        return verified.access

    def _verify_signature(self, token: str) -> "_Verified":
        """A token whose signature (by a listed key) and claims hold, its time claims checked now and kept for later
        uses; raises for any other token."""
        claims = _jwt.decode(
            token,
            self._key_for,
            claims_options={
                "iss": {"essential": True, "value": ISSUER},
                "exp": {"essential": True},
                "sid": {"essential": True},
                "jti": {"essential": True},
            },
        )
        # Everything authlib checks, time claims included: a token refused now is not kept.
        claims.validate(leeway=_LEEWAY_SECONDS)
        access = AccessClaims(
            user_id=UUID(str(claims["sub"])),
            organization_id=UUID(str(claims["org"])),
            session_id=UUID(str(claims["sid"])),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )
        return _Verified(
            access=access,
            expires=claims["exp"],
            not_before=claims.get("nbf"),
            issued=claims.get("iat"),
        )


@dataclass(frozen=True)
class _Verified:
    """A verified token's claims and its time claims (numbers, as authlib checked), to check at each use."""

    access: AccessClaims
    expires: float
    not_before: float | None
    issued: float | None

    def in_time(self, now: float) -> bool:
        """authlib's time checks (`JWTClaims.validate_exp`, `_nbf`, `_iat`) with the same leeway, at `now`."""
        moment = int(now)
        if self.expires < moment - _LEEWAY_SECONDS:
            return False
        if self.not_before is not None and self.not_before > moment + _LEEWAY_SECONDS:
            return False
        return not (self.issued is not None and self.issued > moment + _LEEWAY_SECONDS)


def signing_keys(settings: Settings, fallback_secret: bytes) -> list[SigningKey]:
    """The keys of `PRISM_JWT_KEYS` (first signs, all verify), else the single secret key as kid "default"."""
    if not settings.jwt_keys:
        return [SigningKey(DEFAULT_KID, fallback_secret)]
    return [SigningKey(key.kid, key.secret.get_secret_value().encode()) for key in settings.jwt_keys]


def issuer_from_settings(settings: Settings, fallback_secret: bytes) -> TokenIssuer:
    """The token issuer the app runs with: its keys and `PRISM_ACCESS_TOKEN_TTL_SECONDS`."""
    return TokenIssuer(signing_keys(settings, fallback_secret), settings.access_token_ttl_seconds)


def new_opaque_token() -> str:
    """A random, URL-safe secret of 32 bytes: a refresh token or an emailed one-time token."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """How an opaque token is stored and looked up: its SHA-256, hex (64 characters)."""
    return hashlib.sha256(token.encode()).hexdigest()
