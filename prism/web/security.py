"""HTTP hardening: secure headers on every response, CORS from settings, and the rules that stop CSRF.

CSRF: PRISM takes credentials only from the `Authorization` header, never from cookies, so a page on another site
cannot make a browser send a signed-in request. Independently of that, every request that could change state must
be one a browser only sends after a CORS preflight: mutations are refused over GET (405), and a POST must carry a
JSON content type (`application/json` or `application/graphql+json`); `multipart/form-data`,
`application/x-www-form-urlencoded` and `text/plain` (the "simple" types an HTML form can send) get 415 before the
body is read. GET answers queries only, and browsers do not let another origin read the answer unless CORS admits it.
"""

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CORS_HEADERS", "SecureHeadersMiddleware", "cors_options", "parse_origins"]

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""For JSON and other non-HTML answers: nothing may load, frame or be framed."""

CORS_HEADERS = [
    "authorization",
    "content-type",
    "x-request-id",
    "apollo-require-preflight",
    "x-apollo-operation-name",
]


class SecureHeadersMiddleware:
    """Adds X-Content-Type-Options, Referrer-Policy, X-Frame-Options, a restrictive CSP to what is neither JSON nor
    a page with its own (GraphiQL) and, when `hsts_max_age` is set, Strict-Transport-Security."""

    def __init__(self, app: ASGIApp, hsts_max_age: int | None = None) -> None:
        self.app = app
        self.headers: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts_max_age:
            self.headers.append((b"strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains".encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in self.headers if name not in present]
                if b"content-security-policy" not in present and _needs_policy(headers):
                    headers.append((b"content-security-policy", API_CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _needs_policy(headers: list[tuple[bytes, bytes]]) -> bool:
    # JSON (every GraphQL answer) cannot run anything under nosniff, and a JSON answer without a CSP is how clients
    # and tests tell it from the GraphiQL page; anything else a browser might render gets the restrictive policy.
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"").lower()
    return b"json" not in content_type


def parse_origins(value: str) -> list[str]:
    """The allowed origins from a comma-separated setting; `*` must stand alone."""
    origins = [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
    if "*" in origins and len(origins) > 1:
        raise ValueError("PRISM_CORS_ORIGINS: `*` cannot be combined with named origins")
    return origins


def cors_options(origins: list[str], allow_credentials: bool) -> dict[str, Any]:
    """Keyword arguments for Starlette's CORSMiddleware; credentials are never allowed with a wildcard origin."""
    if allow_credentials and "*" in origins:
        raise ValueError("PRISM_CORS_ALLOW_CREDENTIALS cannot be used with PRISM_CORS_ORIGINS=*")
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST", "OPTIONS"],
        "allow_headers": CORS_HEADERS,
        "expose_headers": ["x-request-id", "retry-after"],
        "allow_credentials": allow_credentials,
        "max_age": 600,
    }
