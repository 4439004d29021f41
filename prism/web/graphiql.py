"""GraphiQL served by PRISM itself: a pinned, vendored bundle from its own origin, under a strict CSP.

Strawberry's stock page loads React and GraphiQL from a CDN, which leaves a blank page on an offline or locked-down
install. This page loads GraphiQL 3 (its UMD build), React and ReactDOM 18 from prism/web/static/graphiql/ (its
README.md lists versions, licences and checksums) and starts GraphiQL from a static script, so the page holds no
inline script and its Content-Security-Policy admits nothing but this server.
"""

import gzip
import hashlib
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = [
    "STATIC_DIR",
    "STATIC_PREFIX",
    "Asset",
    "asset_response",
    "connect_sources",
    "graphiql_page",
    "graphiql_routes",
    "load_asset",
]

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
STATIC_PREFIX = "/graphiql/static/"
# In the order the page loads them: GraphiQL's UMD build expects the React and ReactDOM globals.
STYLESHEETS = ("graphiql-3.9.0/graphiql.min.css", "prism-graphiql.css")
SCRIPTS = (
    "react-18.3.1/react.production.min.js",
    "react-dom-18.3.1/react-dom.production.min.js",
    "graphiql-3.9.0/graphiql.min.js",
    "prism-graphql-ws.js",
    "prism-graphiql.js",
)
BOOTSTRAP = "prism-graphiql.js"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Asset URLs carry a digest of their content, so a changed file is a new URL and browsers may keep one for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
# sha256 of `width: 10em` and `color: #888`, the only style attributes in graphiql.min.js's HTML strings.
STYLE_ATTRIBUTE_HASHES = (
    "'sha256-H22cvujYHDQPJvzf4ie16OHKC3HsNj7RmRT3jO07Y/U='",
    "'sha256-Eaamrrh0b5a/naRsV/zg7s6+kGvexMXZQARWP6ukkg4='",
)
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


@dataclass(frozen=True)
class Asset:
    """One static file the page loads, held in memory with its gzip form and validators."""

    path: str
    body: bytes
    gzipped: bytes
    content_type: str
    digest: str

    @property
    def url(self) -> str:
        """This version's URL, relative to the page at /graphql, so a proxy may mount PRISM under a prefix."""
        return f"{STATIC_PREFIX.lstrip('/')}{self.path}?v={self.digest[:16]}"

    @property
    def etag(self) -> str:
        return f'"{self.digest[:32]}"'


def load_asset(path: str, directory: Path = STATIC_DIR) -> Asset:
    """One static file read into memory (GraphiQL's, or the dashboard's: prism/web/dashboard.py)."""
    body = (directory / path).read_bytes()
    return Asset(
        path=path,
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        content_type=CONTENT_TYPES[Path(path).suffix],
        digest=hashlib.sha256(body).hexdigest(),
    )


@cache
def _assets() -> Mapping[str, Asset]:
    """The files the page loads, read once per process; nothing else under the static directory is served."""
    return MappingProxyType({path: load_asset(path) for path in (*STYLESHEETS, *SCRIPTS)})


def connect_sources(host: str | None) -> list[str]:
    """connect-src: 'self', plus this host's ws:// and wss:// for pre-CSP 3 browsers (none for a malformed Host)."""
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return connect


def content_security_policy(nonce: str, host: str | None) -> str:
    """The page's policy: this origin only, no inline script, one nonce for the style element GraphiQL adds.

    - style-src: GraphiQL's dialogs (Radix UI through react-remove-scroll) insert one <style> element, admitted
      by a fresh nonce per response instead of 'unsafe-inline'. Everything else GraphiQL styles through the CSSOM
      (React `style` props, CodeMirror's `style.cssText`), which CSP does not restrict.
    - style-src-attr: CodeMirror's jump-to-line dialog (Alt-G) is an HTML string with two style attributes; the
      hashes admit exactly those two values ('unsafe-hashes' is what lets a hash match an attribute), nothing else.
    - font-src data: GraphiQL's stylesheet embeds its fonts (Fira Code) as data: URLs. img-src data: likewise.
    - connect-src: 'self' covers ws/wss to the same host in CSP 3 browsers; the explicit ws:// and wss:// sources
      are for older ones, for subscriptions over WebSocket.
    """
    connect = connect_sources(host)
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        f"style-src 'self' 'nonce-{nonce}'",
        f"style-src-attr 'unsafe-hashes' {' '.join(STYLE_ATTRIBUTE_HASHES)}",
        "font-src 'self' data:",
        "img-src 'self' data:",
        f"connect-src {' '.join(connect)}",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    return "; ".join(directives)


def _nonce_attribute(nonce: str) -> str:
    return f' nonce="{nonce}"'


def _page(nonce: str) -> str:
    assets = _assets()
    links = "\n".join(f'<link rel="stylesheet" href="{html.escape(assets[p].url)}">' for p in STYLESHEETS)
    # The bootstrap script carries the nonce so it can hand it to GraphiQL (see prism-graphiql.js); browsers hide
    # nonce attributes from the DOM and from CSS selectors, but not from the element's `nonce` property.
    scripts = "\n".join(
        f'<script src="{html.escape(assets[p].url)}" defer{_nonce_attribute(nonce) if p == BOOTSTRAP else ""}></script>'
        for p in SCRIPTS
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>PRISM GraphiQL</title>
{links}
{scripts}
</head>
<body>
<div id="graphiql"><p class="prism-graphiql-loading">Loading GraphiQL&hellip;</p></div>
<noscript><p class="prism-graphiql-loading">GraphiQL needs JavaScript. Without it, POST GraphQL operations to
this URL as application/json.</p></noscript>
</body>
</html>
"""


async def graphiql_page(request: Request) -> Response:
    """GraphiQL's HTML page, served at /graphql to browsers that ask for text/html."""
    nonce = secrets.token_urlsafe(18)
    headers = {
        "Content-Security-Policy": content_security_policy(nonce, request.headers.get("host")),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        # The nonce is new on every response, and /graphql answers JSON to other Accept headers.
        "Cache-Control": "no-store",
        "Vary": "Accept",
    }
    return HTMLResponse(_page(nonce), headers=headers)


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, *params = (p.strip().lower() for p in part.split(";"))
        if coding == "gzip":
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
    return False


async def _static(request: Request) -> Response:
    return asset_response(request, _assets().get(request.path_params["path"]))


def asset_response(request: Request, asset: Asset | None, cache_control: str = IMMUTABLE) -> Response:
    """One static file (404 when None), gzip-compressed when the client takes it, 304 when its ETag matches."""
    if asset is None:
        return Response("Not found.", status_code=404, media_type="text/plain")
    headers = {
        "Cache-Control": cache_control,
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Vary": "Accept-Encoding",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type=asset.content_type)


def graphiql_routes() -> list[BaseRoute]:
    """The routes of GraphiQL's static files, under /graphiql/static/."""
    return [Route(STATIC_PREFIX + "{path:path}", _static, methods=["GET"])]
