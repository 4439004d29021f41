"""The live dashboard page at `/dashboard`: a product's sprint burndown, velocity, cumulative flow and forecast.

The page is static HTML plus PRISM's own ES modules from prism/web/static/dashboard/ (the charts are SVG drawn by
`charts.js`, no chart library, nothing from a CDN). Everything it shows comes from `/graphql` with the access token
the visitor signs in with (the `logIn` mutation, as in GraphiQL, or a pasted token or API key), held in the page's
memory only; it stays current through the `sprintDashboard` subscription over graphql-transport-ws at the same path.
Its Content-Security-Policy is GraphiQL's without the two allowances GraphiQL's bundle needs (a style nonce and two
style-attribute hashes): this origin only, no inline script or style.
"""

from collections.abc import Mapping
from functools import cache
from html import escape
from pathlib import Path
from types import MappingProxyType

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from prism.web.graphiql import STATIC_DIR as GRAPHIQL_STATIC_DIR
from prism.web.graphiql import Asset, asset_response, connect_sources, load_asset

__all__ = ["DASHBOARD_STATIC_DIR", "dashboard_policy", "dashboard_routes"]

DASHBOARD_STATIC_DIR = Path(__file__).parent / "static" / "dashboard"
STATIC_PREFIX = "/dashboard/static/"
# The files served, by the name the page and its modules use; the graphql-transport-ws client is GraphiQL's own.
FILES: Mapping[str, Path] = MappingProxyType(
    {
        "dashboard.css": DASHBOARD_STATIC_DIR,
        "dashboard.js": DASHBOARD_STATIC_DIR,
        "charts.js": DASHBOARD_STATIC_DIR,
        "prism-graphql-ws.js": GRAPHIQL_STATIC_DIR,
    }
)
# Modules import each other by plain relative names (no digest in the URL), so browsers revalidate with the ETag
# instead of keeping a file for a year: a new PRISM version's files are never mixed with an old one's.
REVALIDATE = "no-cache"


@cache
def _assets() -> Mapping[str, Asset]:
    """The dashboard's files, read once per process; nothing else is served under /dashboard/static/."""
    return MappingProxyType({name: load_asset(name, directory) for name, directory in FILES.items()})


def dashboard_policy(host: str | None) -> str:
    """This origin only (WebSocket included), no inline script or style, no frames, no form posts."""
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src {' '.join(connect_sources(host))}",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    return "; ".join(directives)


def _url(name: str) -> str:
    # Relative to the page at /dashboard, so a proxy may mount PRISM under a prefix.
    return escape(f"{STATIC_PREFIX.lstrip('/')}{name}?v={_assets()[name].digest[:16]}")


BODY = """<body>
<header class="top">
  <h1>PRISM dashboard</h1>
  <label id="product-picker" hidden>Product <select id="product"></select></label>
  <span id="live" class="live" data-state="offline">offline</span>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<main>
<section id="sign-in-panel" class="sign-in" hidden>
  <h2>Sign in</h2>
  <form id="sign-in">
    <label>Email <input name="email" type="email" autocomplete="username" required></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
  <form id="token-form">
    <label>Or an access token or API key <input name="token" type="password" autocomplete="off" required></label>
    <button type="submit">Use it</button>
  </form>
  <p id="sign-in-error" class="error" role="alert"></p>
  <p class="hint">The token stays in this page's memory: reloading the page signs out.</p>
</section>
<p id="message" class="message" role="status"></p>
<div id="panels" class="panels" hidden>
  <section class="panel" id="burndown-panel">
    <h2>Burndown <span id="sprint-name" class="subtitle"></span></h2>
    <div id="burndown" class="chart"></div>
    <p id="sprint-summary" class="summary"></p>
  </section>
  <section class="panel" id="velocity-panel">
    <h2>Velocity <span class="subtitle">last 6 closed sprints</span></h2>
    <div id="velocity" class="chart"></div>
    <p id="velocity-summary" class="summary"></p>
  </section>
  <section class="panel" id="flow-panel">
    <h2>Cumulative flow <span class="subtitle">last 30 days</span></h2>
    <div id="flow" class="chart"></div>
  </section>
  <section class="panel" id="forecast-panel">
    <h2>Forecast <span id="forecast-subject" class="subtitle"></span></h2>
    <div id="forecast" class="forecast"></div>
  </section>
</div>
</main>
<noscript><p>The dashboard needs JavaScript. Its figures come from GraphQL queries on /graphql
(docs/analytics.md).</p></noscript>
</body>
"""


def _page() -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>PRISM dashboard</title>
<link rel="stylesheet" href="{_url("dashboard.css")}">
<script type="module" src="{_url("dashboard.js")}"></script>
</head>
{BODY}</html>
"""


async def dashboard_page(request: Request) -> Response:
    """The dashboard's HTML; the data arrives from /graphql once the visitor signs in."""
    headers = {
        "Content-Security-Policy": dashboard_policy(request.headers.get("host")),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    return HTMLResponse(_page(), headers=headers)


async def _static(request: Request) -> Response:
    return asset_response(request, _assets().get(request.path_params["path"]), REVALIDATE)


def dashboard_routes() -> list[BaseRoute]:
    """`/dashboard` and its files under /dashboard/static/."""
    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route(STATIC_PREFIX + "{path:path}", _static, methods=["GET"]),
    ]
