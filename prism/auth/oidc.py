"""Single sign-on with OpenID Connect: the authorization-code flow (PKCE, state, nonce) through authlib, and the rule
that links a provider's identity to an existing PRISM account by verified email only.

authlib keeps the flow's `state`, `nonce` and PKCE `code_verifier` in the Starlette session (a signed cookie), checks
`state` on the way back, exchanges the code with the verifier, and validates the ID token: signature against the
issuer's JWKS, `iss`, `aud`, `exp`, `iat` and `nonce`. This module makes sure that validation cannot be skipped (no
ID token is a refusal) and that only the allow-listed signature algorithms are accepted. Linking the identity to an
account is a use case: prism/services/sso.py.
"""

import enum
import logging
import warnings
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import authlib.deprecate
import httpx
from authlib.common.security import is_secure_transport
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse

with warnings.catch_warnings():
    # authlib falls back to httpx (announcing httpx2 as its successor); the client API used here is unchanged.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, OAuthError

from prism.config import OidcProvider

__all__ = ["ID_TOKEN_ALGORITHMS", "OidcClients", "SsoError", "SsoErrorCode", "SsoIdentity"]

logger = logging.getLogger("prism.sso")

#: Signature algorithms accepted on ID tokens, whatever the provider's metadata advertises (never `none` or HS*).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_ORGANIZATION_KEY = "_prism_sso_org_{state}"


class SsoErrorCode(enum.StrEnum):
    """Stable codes of a refused single sign-on, for the client to branch on."""

    UNKNOWN_PROVIDER = "SSO_UNKNOWN_PROVIDER"
    STATE_MISMATCH = "SSO_STATE_MISMATCH"
    PROVIDER_ERROR = "SSO_PROVIDER_ERROR"
    PROVIDER_UNAVAILABLE = "SSO_PROVIDER_UNAVAILABLE"
    INVALID_ID_TOKEN = "SSO_INVALID_ID_TOKEN"  # noqa: S105 - an error code, not a secret
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    ACCOUNT_NOT_FOUND = "SSO_ACCOUNT_NOT_FOUND"
    ACCOUNT_NOT_VERIFIED = "SSO_ACCOUNT_NOT_VERIFIED"
    NOT_A_MEMBER = "NOT_FOUND"
    BAD_REQUEST = "BAD_USER_INPUT"


class SsoError(Exception):
    """A refused single sign-on: a stable code, a message for the person, and the HTTP status to answer with."""

    def __init__(self, code: SsoErrorCode, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SsoIdentity:
    """Who the provider says signed in, taken from a validated ID token."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool


def _is_verified(value: Any) -> bool:
    # Some providers (Cognito among them) send the boolean as a string.
    return value is True or (isinstance(value, str) and value.lower() == "true")


class OidcClients:
    """The configured providers, registered with authlib, and the two halves of the flow."""

    def __init__(self, providers: list[OidcProvider]) -> None:
        self._oauth = OAuth()
        self._providers = {provider.name: provider for provider in providers}
        for provider in providers:
            if "openid" not in provider.scope.split():
                raise ValueError(f"OIDC provider {provider.name!r}: scope must include 'openid'")
            if not is_secure_transport(provider.issuer):
                raise ValueError(f"OIDC provider {provider.name!r}: the issuer must be https (http on loopback only)")
            self._oauth.register(
                name=provider.name,
                client_id=provider.client_id,
                client_secret=provider.client_secret.get_secret_value() if provider.client_secret else None,
                server_metadata_url=provider.issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_kwargs={
                    "scope": provider.scope,
                    "code_challenge_method": "S256",
                    "timeout": 10,
                    # A public client authenticates with PKCE alone.
                    **({} if provider.client_secret else {"token_endpoint_auth_method": "none"}),
                },
            )

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    def _client(self, name: str) -> Any:
        if name not in self._providers:
            raise SsoError(SsoErrorCode.UNKNOWN_PROVIDER, f"No single sign-on provider is named {name!r}.", 404)
        return self._oauth.create_client(name)

    async def _metadata(self, name: str) -> Any:
        """The provider's client with its discovery document loaded, checked and narrowed to safe algorithms."""
        client = self._client(name)
        try:
            metadata = await client.load_server_metadata()
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("OIDC discovery failed", extra={"provider": name, "error": type(error).__name__})
            raise SsoError(
                SsoErrorCode.PROVIDER_UNAVAILABLE, "The sign-in provider cannot be reached; try again later.", 502
            ) from None
        configured = self._providers[name].issuer.rstrip("/")
        if str(metadata.get("issuer", "")).rstrip("/") != configured:
            # OpenID Connect Discovery 4.3: a document naming another issuer must not be used (mix-up attacks).
            logger.warning("OIDC issuer mismatch", extra={"provider": name})
            raise SsoError(SsoErrorCode.PROVIDER_ERROR, "The sign-in provider's configuration is inconsistent.", 502)
        advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        allowed = [alg for alg in advertised if alg in ID_TOKEN_ALGORITHMS]
        if not allowed:
            raise SsoError(SsoErrorCode.PROVIDER_ERROR, "The sign-in provider signs with no accepted algorithm.", 502)
        metadata["id_token_signing_alg_values_supported"] = allowed
        return client

    async def begin(
        self, request: Request, name: str, redirect_uri: str, organization_id: UUID | None
    ) -> RedirectResponse:
        """Redirect the browser to the provider, keeping state, nonce and PKCE verifier in the session."""
        client = await self._metadata(name)
        flow = await client.create_authorization_url(redirect_uri)
        await client.save_authorize_data(request, redirect_uri=redirect_uri, **flow)
        if organization_id is not None:
            request.session[_ORGANIZATION_KEY.format(state=flow["state"])] = str(organization_id)
        return RedirectResponse(flow["url"], status_code=302)

    async def finish(self, request: Request, name: str) -> tuple[SsoIdentity, UUID | None]:
        """Check the provider's answer, exchange the code and validate the ID token; the organization asked for."""
        client = await self._metadata(name)
        state = request.query_params.get("state") or ""
        try:
            token = await client.authorize_access_token(request)
        except OAuthError as error:
            if error.error == "mismatching_state":
                raise SsoError(
                    SsoErrorCode.STATE_MISMATCH,
                    "This sign-in link is stale or was not started in this browser; start again.",
                ) from None
            logger.warning("OIDC provider refused", extra={"provider": name, "error": error.error})
            raise SsoError(SsoErrorCode.PROVIDER_ERROR, f"The sign-in provider refused: {error.error}.") from None
        except JoseError as error:
            logger.warning("OIDC ID token rejected", extra={"provider": name, "error": type(error).__name__})
            raise SsoError(SsoErrorCode.INVALID_ID_TOKEN, "The sign-in provider's ID token is not valid.") from None
        except httpx.HTTPError as error:
            logger.warning("OIDC token exchange failed", extra={"provider": name, "error": type(error).__name__})
            raise SsoError(
                SsoErrorCode.PROVIDER_UNAVAILABLE, "The sign-in provider cannot be reached; try again later.", 502
            ) from None
        organization = request.session.pop(_ORGANIZATION_KEY.format(state=state), None)
        claims = token.get("userinfo")
        if not claims:
            # authlib validates the ID token only when there is one: without it nothing proves who signed in.
            raise SsoError(SsoErrorCode.INVALID_ID_TOKEN, "The sign-in provider returned no ID token.")
        email = claims.get("email")
        identity = SsoIdentity(
            provider=name,
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=_is_verified(claims.get("email_verified")),
        )
        return identity, UUID(organization) if organization else None
