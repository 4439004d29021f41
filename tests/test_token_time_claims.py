"""A remembered access token (prism/auth/tokens.py) is compared with the clock by three comparisons of its own; at
every instant around the edges of exp, nbf and iat (the 5 seconds of leeway, whole and fractional seconds, float
claims) it must be accepted or refused exactly as authlib's full verification of the same token decides."""

import time
import uuid

import pytest

from prism.auth.tokens import SigningKey, TokenIssuer
from prism.errors import UnauthenticatedError
from tests.test_identity import _forge

KEY = SigningKey("2026-12", b"k" * 40)
HEADER: dict[str, object] = {"alg": "HS256", "typ": "JWT", "kid": KEY.kid}


def _accepted(issuer: TokenIssuer, token: str) -> bool:
    try:
        issuer.verify(token)
    except UnauthenticatedError:
        return False
    return True


def test_a_remembered_token_is_in_time_exactly_when_a_fresh_verification_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = 2_000_000_000
    base = {"iss": "prism", "sub": str(uuid.uuid4()), "org": str(uuid.uuid4()), "sid": str(uuid.uuid4())}
    cases: list[dict[str, object]] = [
        {"exp": start + 60},
        {"exp": start + 60.5},
        {"exp": start + 600, "nbf": start + 60},
        {"exp": start + 600, "nbf": start + 60.5},
        {"exp": start + 600, "iat": start + 60},
        {"exp": start + 600, "iat": start + 60.25, "nbf": start + 59.75},
    ]
    offsets = [o + f for o in range(50, 71) for f in (0.0, 0.5, 0.999)]
    decided = 0
    for claims in cases:
        token = _forge(HEADER, {**base, "jti": uuid.uuid4().hex, **claims}, KEY.secret, "HS256")
        remembered = TokenIssuer([KEY], ttl_seconds=600)
        monkeypatch.setattr(time, "time", lambda: start + 0.0)
        if "nbf" not in claims and "iat" not in claims:
            assert _accepted(remembered, token)  # verified (and kept) while valid
        for offset in offsets:
            monkeypatch.setattr(time, "time", lambda offset=offset: start + offset)  # type: ignore[misc]
            if "nbf" in claims or "iat" in claims:
                # Kept once it is first accepted; from then on the remembered comparisons decide.
                _accepted(remembered, token)
            fresh = _accepted(TokenIssuer([KEY], ttl_seconds=600), token)
            assert _accepted(remembered, token) == fresh, (claims, offset)
            decided += 1
    assert decided == len(cases) * len(offsets)
