"""The single sign-on routes: `/auth/sso/{provider}/login` starts an OpenID Connect sign-in, `.../callback` ends it.

The flow's state lives in a signed session cookie scoped to `/auth/sso` (SameSite=Lax so the provider's top-level
redirect brings it back; Secure in production). A successful callback answers JSON with the AuthPayload fields, or,
when `PRISM_SSO_REDIRECT_URL` is set, redirects there with the tokens in the URL fragment (a fragment never reaches a
server log or a Referer header).
"""

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from strawberry.relay import GlobalID

from prism.auth.oidc import OidcClients, SsoError, SsoErrorCode
from prism.config import Settings
from prism.runtime import Runtime, load_secret_key
from prism.services.audit import RequestMeta
from prism.services.identity import MfaChallenge
from prism.services.registry import Services
from prism.services.sso import SsoSignIn

__all__ = ["SESSION_COOKIE", "sso_routes"]

logger = logging.getLogger("prism.sso")
SESSION_COOKIE = "prism_sso"
PREFIX = "/auth/sso"
#: How long a started sign-in may take before its state cookie is no longer accepted.
FLOW_SECONDS = 600


def _session_secret(settings: Settings) -> str:
    # A key of its own, derived from the secret key, so a session cookie can never pass for anything else.
    return hmac.new(load_secret_key(settings), b"prism sso session", hashlib.sha256).hexdigest()


def _meta(request: Request) -> RequestMeta:
    client = request.client
    return RequestMeta(ip=client.host if client else None, user_agent=request.headers.get("user-agent"))


def _organization_id(raw: str) -> UUID:
    """The organization's GraphQL id (as `viewer { organizations }` lists it) or its bare UUID."""
    try:
        return UUID(raw)
    except ValueError:
        pass
    try:
        global_id = GlobalID.from_id(raw)
        if global_id.type_name == "Organization":
            return UUID(global_id.node_id)
    except (ValueError, TypeError):
        pass
    raise SsoError(SsoErrorCode.BAD_REQUEST, "organization must be an organization id.")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def sso_routes(settings: Settings, runtime: Callable[[], Runtime]) -> list[BaseRoute]:
    """The SSO routes for the providers in `settings.oidc_providers`, under `/auth/sso` with their session cookie."""
    clients = OidcClients(settings.oidc_providers)

    def callback_url(request: Request, provider: str) -> str:
        if settings.sso_callback_base_url:
            return f"{settings.sso_callback_base_url.rstrip('/')}{PREFIX}/{provider}/callback"
        return str(request.url_for("sso_callback", provider=provider))

    def refuse(error: SsoError) -> Response:
        logger.info("single sign-on refused", extra={"code": error.code.value})
        if settings.sso_redirect_url:
            fragment = urlencode({"error": error.code.value, "message": error.message})
            return _no_store(RedirectResponse(f"{settings.sso_redirect_url}#{fragment}", status_code=303))
        body = {"error": {"code": error.code.value, "message": error.message}}
        return _no_store(JSONResponse(body, status_code=error.status))

    def answer(values: dict[str, Any]) -> Response:
        if settings.sso_redirect_url:
            fragment = urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in values.items()})
            return _no_store(RedirectResponse(f"{settings.sso_redirect_url}#{fragment}", status_code=303))
        return _no_store(JSONResponse(values))

    async def login(request: Request) -> Response:
        provider = request.path_params["provider"]
        raw_organization = request.query_params.get("organization")
        try:
            organization_id = _organization_id(raw_organization) if raw_organization else None
            response = await clients.begin(request, provider, callback_url(request, provider), organization_id)
        except SsoError as error:
            return refuse(error)
        return _no_store(response)

    async def callback(request: Request) -> Response:
        provider = request.path_params["provider"]
        rt = runtime()
        meta = _meta(request)
        try:
            identity, organization_id = await clients.finish(request, provider)
            async with rt.unit_of_work() as uow:
                services = Services(rt, uow, None, meta)
                result = await SsoSignIn(uow, services.identity, meta).sign_in(identity, organization_id)
        except SsoError as error:
            return refuse(error)
        if isinstance(result, MfaChallenge):
            # The same second step as after a password: `completeMfaLogIn` (or TOTP enrolment) with this token.
            return answer(
                {"mfaRequired": True, "mfaToken": result.mfa_token, "mfaEnrollmentRequired": result.enrollment_required}
            )
        tokens: dict[str, Any] = {
            "accessToken": result.access_token,
            "tokenType": "Bearer",
            "expiresAt": datetime.fromtimestamp(result.expires_at, UTC).isoformat(),
        }
        if result.refresh_token:
            tokens["refreshToken"] = result.refresh_token
        return answer(tokens)

    session = Middleware(
        SessionMiddleware,
        secret_key=_session_secret(settings),
        session_cookie=SESSION_COOKIE,
        max_age=FLOW_SECONDS,
        path=PREFIX,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    return [
        Mount(
            PREFIX,
            routes=[
                Route("/{provider}/login", login, methods=["GET"], name="sso_login"),
                Route("/{provider}/callback", callback, methods=["GET"], name="sso_callback"),
            ],
            middleware=[session],
        )
    ]
