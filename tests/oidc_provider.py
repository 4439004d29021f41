"""A real OpenID Connect provider for tests: authlib's authorization server (authorization code + PKCE S256 +
OpenID Connect) on Starlette, served by uvicorn on a free loopback port in a background thread.

It has discovery, authorize, token and JWKS endpoints and signs RS256 ID tokens with a key generated per run. The
authorize endpoint consents at once for `provider.user` (the person "at the keyboard"); `id_token_overrides` lets a
test make the provider misbehave (a wrong `nonce` or `aud`) to prove the relying party refuses it.
"""

import secrets
import socket
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import authlib.deprecate
import uvicorn
from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo
from authlib.oidc.core.models import AuthorizationCodeMixin
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    # authlib announces joserfc as the successor of authlib.jose; the key API used here stays until authlib 2.0.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey

__all__ = ["OidcTestProvider", "ProviderUser", "running_provider"]


@dataclass
class ProviderUser:
    """The person signed in at the provider."""

    sub: str
    email: str
    email_verified: bool = True
    name: str = "SSO Tester"


@dataclass
class _Client(ClientMixin):
    client_id: str
    client_secret: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in {"openid", "email", "profile"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.startswith("http://prism.test/auth/sso/")

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: ProviderUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return "0"

    def get_amr(self) -> list[str]:
        return ["pwd"]


class _Payload(OAuth2Payload):
    def __init__(self, values: list[tuple[str, str]]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:
        return dict(self._values)

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        lists: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in self._values:
            lists[key].append(value)
        return lists


class _Request(OAuth2Request):
    """An authlib request built from a Starlette request whose form was already read."""

    def __init__(self, request: Request, form: list[tuple[str, str]]) -> None:
        super().__init__(method=request.method, uri=str(request.url), headers=request.headers)
        self._args = list(request.query_params.multi_items())
        self._form = form
        self.payload = _Payload(self._args + form)

    @property
    def args(self) -> dict[str, str]:
        return dict(self._args)

    @property
    def form(self) -> dict[str, str]:
        return dict(self._form)


class OidcTestProvider:
    """An OpenID Connect provider with one registered client, run on loopback for the test suite."""

    def __init__(self, *, client_id: str = "prism-test", client_secret: str | None = None) -> None:
        self.client = _Client(client_id, client_secret or secrets.token_urlsafe(24))
        self.user: ProviderUser | None = None
        self.id_token_overrides: dict[str, Any] = {}
        #: Sign ID tokens with a key the JWKS does not publish (same `kid`), as a forger would.
        self.sign_with_unpublished_key = False
        self.issuer = ""
        self.codes: dict[str, _Code] = {}
        self.token_requests: list[dict[str, str]] = []
        self._key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key-1"})
        self._forged_key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key-1"})
        self._server = self._authorization_server()
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _authorization_server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):
            def query_client(self, client_id: str) -> _Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
                return None

            def create_oauth2_request(self, request: Any) -> OAuth2Request:
                assert isinstance(request, OAuth2Request)
                return request

            def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
                if isinstance(body, dict):
                    return JSONResponse(body, status_code=status, headers=dict(headers))
                return Response(body, status_code=status, headers=dict(headers))

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                return None

        class Grant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
                data = request.payload.data
                assert request.user is not None
                provider.codes[code] = _Code(
                    code=code,
                    client_id=request.client.get_client_id(),
                    redirect_uri=data["redirect_uri"],
                    scope=request.payload.scope,
                    user=request.user,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
                found = provider.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _Code) -> ProviderUser:
                return authorization_code.user

        class S256Only(CodeChallenge):
            SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

            def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
                from authlib.oauth2.rfc6749.errors import InvalidRequestError

                if not grant.request.payload.data.get("code_challenge"):
                    raise InvalidRequestError("This provider requires PKCE (code_challenge, S256).")
                super().validate_code_challenge(grant, redirect_uri)

        class OpenID(OpenIDCode):
            def resolve_client_private_key(self, client: _Client) -> dict[str, Any]:
                key = provider._forged_key if provider.sign_with_unpublished_key else provider._key
                return dict(key.as_dict(is_private=True))

            def get_client_claims(self, client: _Client) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.client_id]}

            def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
                return any(code.nonce == nonce for code in provider.codes.values())

            def generate_user_info(self, user: ProviderUser, scope: str) -> UserInfo:
                info = UserInfo(sub=user.sub, name=user.name)
                if "email" in scope.split():
                    info["email"] = user.email
                    info["email_verified"] = user.email_verified
                # Claims set here override the standard ones: how a test makes the provider misbehave.
                info.update(provider.id_token_overrides)
                return info

        server = Server()
        server.register_token_generator(
            "default", BearerTokenGenerator(lambda *args, **kwargs: secrets.token_urlsafe(32))
        )
        server.register_grant(Grant, [S256Only(required=True), OpenID(require_nonce=True)])
        return server

    def _app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "email", "profile"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "code_challenge_methods_supported": ["S256"],
                    "claims_supported": ["sub", "email", "email_verified", "name"],
                }
            )

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [self._key.as_dict(is_private=False)]})

        async def authorize(request: Request) -> Response:
            oauth_request = _Request(request, [])
            if self.user is None:
                return JSONResponse({"error": "login_required"}, status_code=401)
            oauth_request.user = self.user
            grant = self._server.get_authorization_grant(oauth_request)
            response: Response = self._server.create_authorization_response(
                request=oauth_request, grant_user=self.user, grant=grant
            )
            return response

        async def token(request: Request) -> Response:
            # A form body parsed by hand: python-multipart is not a dependency of PRISM.
            values = parse_qsl((await request.body()).decode(), keep_blank_values=True)
            self.token_requests.append(dict(values))
            response: Response = self._server.create_token_response(request=_Request(request, values))
            return response

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
                Route("/jwks", jwks, methods=["GET"]),
                Route("/authorize", authorize, methods=["GET"]),
                Route("/token", token, methods=["POST"]),
            ]
        )

    def start(self) -> None:
        """Serve on a free 127.0.0.1 port in a background thread; returns once the server accepts connections."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._uvicorn.run, name="oidc-test-provider", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test OIDC provider did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "the test OIDC provider did not stop"


@contextmanager
def running_provider(**kwargs: Any) -> Iterator[OidcTestProvider]:
    """A started provider, stopped on exit."""
    provider = OidcTestProvider(**kwargs)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
