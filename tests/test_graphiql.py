"""GraphiQL is served by PRISM itself: same-origin files only, no inline script, a strict Content-Security-Policy."""

import hashlib
import re
import secrets
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from starlette.applications import Starlette

from prism.app import build_app
from prism.config import Settings
from prism.web.graphiql import STATIC_DIR

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
HEADERS_HINT = '{"Authorization": "Bearer <paste the accessToken from logIn>"}'
README_ROW = re.compile(
    r"^\| `(?P<file>[^`]+)` \| (?P<package>[^|]+) \| (?P<version>[^|]+) \| [^|]+ \| `(?P<sha>[0-9a-f]{64})` \|$"
)
VENDORED_DIRS = ("graphiql-*", "react-*")


class PageReferences(HTMLParser):
    """What a page loads and what it runs inline, as a browser would see it."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.inline_script = ""
        self.style_elements = 0
        self.inline_attributes: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.inline_attributes += [name for name in attributes if name.startswith("on") or name == "style"]
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        elif tag == "link":
            self.links.append(attributes)
        elif tag == "style":
            self.style_elements += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script += data


def parse_page(html: str) -> PageReferences:
    references = PageReferences()
    references.feed(html)
    return references


def policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = (d.strip().split() for d in response.headers["content-security-policy"].split(";") if d.strip())
    return {name: sources for name, *sources in directives}


def referenced_urls(response: httpx.Response) -> list[str]:
    page = parse_page(response.text)
    sources = [s["src"] for s in page.scripts] + [link["href"] for link in page.links]
    assert all(sources), "every <script> and <link> names what it loads"
    return [urljoin(str(response.url), source) for source in sources if source]


def readme_listing() -> dict[str, str]:
    rows = (README_ROW.match(line) for line in (STATIC_DIR / "README.md").read_text().splitlines())
    return {row["file"]: row["sha"] for row in rows if row}


def vendored_files() -> list[Path]:
    return sorted(p for pattern in VENDORED_DIRS for d in STATIC_DIR.glob(pattern) for p in d.rglob("*") if p.is_file())


async def graphiql(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/graphql", headers={"Accept": BROWSER_ACCEPT})


async def test_a_browser_opening_graphql_gets_graphiql_under_a_same_origin_content_security_policy(
    http: httpx.AsyncClient,
) -> None:
    response = await graphiql(http)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"][0] == "'self'"
    assert len(csp["style-src"]) == 2
    assert csp["style-src"][1].startswith("'nonce-")
    assert csp["style-src-attr"][0] == "'unsafe-hashes'"
    assert all(source.startswith("'sha256-") for source in csp["style-src-attr"][1:])
    assert csp["connect-src"] == ["'self'", "ws://prism.test", "wss://prism.test"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["font-src"] == ["'self'", "data:"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'none'"]
    assert not any("unsafe-inline" in s or "unsafe-eval" in s or s == "*" for sources in csp.values() for s in sources)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_the_style_nonce_is_new_on_every_page_and_handed_to_the_bootstrap_script(
    http: httpx.AsyncClient,
) -> None:
    first, second = await graphiql(http), await graphiql(http)

    nonces = [policy(r)["style-src"][1].removeprefix("'nonce-").removesuffix("'") for r in (first, second)]
    assert nonces[0] != nonces[1]
    for response, nonce in zip((first, second), nonces, strict=True):
        scripts = parse_page(response.text).scripts
        assert [s.get("nonce") for s in scripts if s.get("nonce")] == [nonce]
        assert scripts[-1]["src"] is not None
        assert "prism-graphiql.js" in scripts[-1]["src"]


async def test_the_page_runs_no_inline_script_and_names_no_other_site(http: httpx.AsyncClient) -> None:
    response = await graphiql(http)
    page = parse_page(response.text)

    assert page.scripts
    assert all(s.get("src") and "defer" in s for s in page.scripts)
    assert page.inline_script.strip() == ""
    assert page.style_elements == 0
    assert page.inline_attributes == []
    assert re.search(r"https?:", response.text) is None
    assert "//" not in "".join(s["src"] or "" for s in page.scripts)


async def test_every_script_and_stylesheet_the_page_loads_comes_from_this_server(http: httpx.AsyncClient) -> None:
    page = await graphiql(http)
    urls = referenced_urls(page)

    assert len(urls) == 7
    for url in urls:
        assert urlsplit(url).netloc == "prism.test"
        assert urlsplit(url).path.startswith("/graphiql/static/")
        response = await http.get(url)
        assert response.status_code == 200, url
        expected = "text/javascript" if urlsplit(url).path.endswith(".js") else "text/css"
        assert response.headers["content-type"] == f"{expected}; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content == (STATIC_DIR / urlsplit(url).path.removeprefix("/graphiql/static/")).read_bytes()


async def test_react_loads_before_react_dom_before_graphiql_before_prisms_bootstrap(http: httpx.AsyncClient) -> None:
    scripts = [urlsplit(u).path for u in referenced_urls(await graphiql(http)) if urlsplit(u).path.endswith(".js")]

    assert [Path(p).name for p in scripts] == [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "prism-graphql-ws.js",
        "prism-graphiql.js",
    ]


async def test_a_static_file_is_gzipped_for_clients_that_accept_it_and_revalidates_by_etag(
    http: httpx.AsyncClient,
) -> None:
    path = "/graphiql/static/graphiql-3.9.0/graphiql.min.js"
    on_disk = (STATIC_DIR / "graphiql-3.9.0/graphiql.min.js").read_bytes()

    plain = await http.get(path, headers={"Accept-Encoding": "identity"})
    zipped = await http.get(path, headers={"Accept-Encoding": "gzip"})
    again = await http.get(path, headers={"If-None-Match": plain.headers["etag"]})

    assert "content-encoding" not in plain.headers
    assert plain.content == on_disk
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == on_disk  # httpx undoes the gzip encoding
    assert int(zipped.headers["content-length"]) < len(on_disk) // 2
    assert again.status_code == 304
    assert again.content == b""


async def test_only_the_files_the_page_loads_are_served(http: httpx.AsyncClient) -> None:
    for path in (
        "README.md",
        "graphiql-3.9.0/LICENSE",
        "graphiql-3.9.0/index.umd.js.map",
        "missing.js",
        "%2e%2e/graphiql.py",
    ):
        response = await http.get(f"/graphiql/static/{path}")
        assert response.status_code == 404, path


def test_vendored_files_match_the_checksums_listed_in_the_readme() -> None:
    listing = readme_listing()
    files = vendored_files()

    assert sorted(listing) == sorted(str(p.relative_to(STATIC_DIR)) for p in files)
    for path in files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == listing[str(path.relative_to(STATIC_DIR))], path
    assert sum(p.stat().st_size for p in files) < 2_000_000
    assert {Path(name).parts[0] for name in listing} == {"graphiql-3.9.0", "react-18.3.1", "react-dom-18.3.1"}
    assert all((STATIC_DIR / d / "LICENSE").is_file() for d in ("graphiql-3.9.0", "react-18.3.1", "react-dom-18.3.1"))


async def test_the_vendored_files_the_page_loads_are_served_exactly_as_listed_in_the_readme(
    http: httpx.AsyncClient,
) -> None:
    listing = readme_listing()
    served = {urlsplit(u).path.removeprefix("/graphiql/static/"): u for u in referenced_urls(await graphiql(http))}

    assert {name for name in listing if not name.endswith("LICENSE")} == set(served) & set(listing)
    for name in set(served) & set(listing):
        assert hashlib.sha256((await http.get(served[name])).content).hexdigest() == listing[name], name


async def test_the_bootstrap_opens_the_header_editor_with_a_sign_in_hint_and_posts_with_its_headers(
    http: httpx.AsyncClient,
) -> None:
    [bootstrap] = [u for u in referenced_urls(await graphiql(http)) if u.split("?")[0].endswith("prism-graphiql.js")]
    script = (await http.get(bootstrap)).text

    assert "isHeadersEditorEnabled: true" in script
    assert 'defaultEditorToolsVisibility: "headers"' in script
    assert 'defaultHeaders: "{}"' in script
    assert "shouldPersistHeaders: false" in script
    assert HEADERS_HINT in script.replace("\\", "")
    assert '"application/graphql-response+json, application/json"' in script
    assert 'method: "POST"' in script
    assert "options.headers" in script
    assert "window.location.pathname" in script


async def test_graphql_clients_still_get_json_from_the_same_url(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "{ __typename }"}, headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_with_graphiql_turned_off_neither_the_page_nor_its_files_are_served(settings: Settings) -> None:
    app = build_app(
        Settings(
            database_url=settings.database_url,
            home=settings.home,
            environment="test",
            auto_migrate=False,
            log_format="console",
            secret_key=settings.secret_key,
            graphiql=False,
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        page = await http.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
        asset = await http.get("/graphiql/static/graphiql-3.9.0/graphiql.min.js")
        query = await http.post("/graphql", json={"query": "{ __typename }"})

    assert page.headers["content-type"] == "application/json"
    assert "content-security-policy" not in page.headers
    assert "<html" not in page.text
    assert asset.status_code == 404
    assert query.json() == {"data": {"__typename": "Query"}}


async def test_production_serves_no_graphiql_unless_told_to(settings: Settings) -> None:
    production = settings.model_copy(
        update={"environment": "production", "secret_key": SecretStr(secrets.token_urlsafe(48))}
    )
    pages = {}
    for name, chosen in {"default": production, "told": production.model_copy(update={"graphiql": True})}.items():
        app = build_app(chosen)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
        ):
            page = await http.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
            asset = await http.get("/graphiql/static/graphiql-3.9.0/graphiql.min.js")
        pages[name] = (page.headers["content-type"].split(";")[0], asset.status_code)

    assert pages["default"] == ("application/json", 404)
    assert pages["told"] == ("text/html", 200)


async def test_graphiql_opens_with_one_operation_that_the_schema_accepts(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    import ast

    from graphql import OperationDefinitionNode, parse, validate

    [bootstrap] = [u for u in referenced_urls(await graphiql(http)) if u.split("?")[0].endswith("prism-graphiql.js")]
    script = (await http.get(bootstrap)).text
    found = re.search(r"var DEFAULT_QUERY = \[(.*?)\]\.join\(\"\\n\"\);", script, re.S)
    assert found, "DEFAULT_QUERY not found"
    lines = ast.literal_eval("[" + found.group(1) + "]")  # the array's string literals read the same in Python
    document = parse("\n".join(lines))
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    # With two, GraphiQL's Run button becomes a menu and a quick click sends nothing.
    assert len(operations) == 1
    assert validate(app.state.schema._schema, document) == []
