"""`GET /`: a small page for whoever opens PRISM's address in a browser, pointing at GraphiQL and the docs."""

from collections.abc import Awaitable, Callable
from html import escape
from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

__all__ = ["home_endpoint"]

DOCS = ["README.md", "docs/api.md", "docs/operations.md", "docs/security.md", "docs/architecture.md"]


def home_endpoint(*, graphiql: bool) -> Callable[[Request], Awaitable[Response]]:
    """The `/` endpoint: HTML for browsers, JSON for everything else; it mentions GraphiQL only where it is served."""

    release = version("prism")  # read once: the installed package's metadata does not change while PRISM runs

    async def home(request: Request) -> Response:
        links = {
            "graphql": "/graphql",
            "graphiql": "/graphql" if graphiql else None,
            "health": "/healthz",
            "readiness": "/readyz",
            "usageEventsOpenapi": "/api/v1/openapi.json",
            "dashboard": "/dashboard",
        }
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"name": "PRISM", "version": release, "links": links, "docs": DOCS})
        explorer = (
            '<li><a href="/graphql">GraphiQL</a>: explore the schema and run queries in the browser.</li>'
            if graphiql
            else "<li>GraphiQL is not served here (PRISM_GRAPHIQL); use any GraphQL client on /graphql.</li>"
        )
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>PRISM</title></head><body>"
            f"<h1>PRISM {escape(release)}</h1>"
            "<p>A GraphQL API for product management. Send queries with POST to <code>/graphql</code>.</p>"
            f"<ul>{explorer}"
            '<li><a href="/dashboard">Dashboard</a>: a product\'s sprint burndown, velocity, cumulative flow and '
            "forecast, updating live.</li>"
            f"<li>Documentation ships with PRISM's source: {', '.join(f'<code>{d}</code>' for d in DOCS)}.</li>"
            '<li><a href="/api/v1/openapi.json">/api/v1/openapi.json</a>: the OpenAPI document of '
            "<code>POST /api/v1/usage-events</code>, where SDKs report feature usage.</li>"
            '<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a>: health and readiness.</li>'
            "</ul></body></html>"
        )
        return HTMLResponse(body)

    return home
