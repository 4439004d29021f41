"""Signed access tokens (JWT, HS256 via authlib.jose) naming the user and the organization they act in."""

import time
import warnings
from dataclasses import dataclass
from uuid import UUID

import authlib.deprecate

with warnings.catch_warnings():
    # authlib announces joserfc as the successor of authlib.jose; the API used here stays until authlib 2.0.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.jose import JsonWebToken
    from authlib.jose.errors import JoseError

from prism.errors import UnauthenticatedError

__all__ = ["AccessClaims", "TokenIssuer"]

ISSUER = "prism"
_jwt = JsonWebToken(["HS256"])  # an allow-list: tokens signed with any other algorithm are refused


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says about its bearer."""

    user_id: UUID
    organization_id: UUID
    expires_at: int


class TokenIssuer:
    """Issues and verifies access tokens with one secret key."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue(self, user_id: UUID, organization_id: UUID) -> tuple[str, int]:
        """A token for the user acting in the organization, and its expiry (Unix seconds)."""
        now = int(time.time())
        expires = now + self._ttl
        claims = {"iss": ISSUER, "sub": str(user_id), "org": str(organization_id), "iat": now, "exp": expires}
        token = _jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self._secret)
        return token.decode("ascii"), expires

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid, unexpired token; anything else raises UnauthenticatedError."""
        try:
            claims = _jwt.decode(
                token,
                self._secret,
                claims_options={"iss": {"essential": True, "value": ISSUER}, "exp": {"essential": True}},
            )
            claims.validate(leeway=5)
            return AccessClaims(
                user_id=UUID(str(claims["sub"])),
                organization_id=UUID(str(claims["org"])),
                expires_at=int(claims["exp"]),
            )
        except (JoseError, KeyError, ValueError, TypeError) as err:
            raise UnauthenticatedError("The access token is invalid or has expired.") from err
