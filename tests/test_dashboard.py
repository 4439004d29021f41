"""The dashboard page over HTTP: its policy, its files, and the GraphQL documents its script sends.

What it does in a browser is tests/test_dashboard_browser.py's subject.
"""

import re
from pathlib import Path

import httpx
from graphql import build_schema, parse, validate

from prism.config import Settings
from prism.web.dashboard import DASHBOARD_STATIC_DIR
from tests.helpers import app_with

SCHEMA = Path(__file__).parents[1] / "schema.graphql"


def sources(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page)


async def test_the_page_runs_nothing_inline_and_its_policy_admits_only_this_origin(http: httpx.AsyncClient) -> None:
    page = await http.get("/dashboard", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    policy = dict(directive.split(" ", 1) for directive in page.headers["content-security-policy"].split("; "))
    assert policy == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self' ws://prism.test wss://prism.test",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
    }
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts == [f'<script type="module" src="{sources(page.text)[1]}">']  # one, from a file
    assert "<style" not in page.text
    assert " style=" not in page.text
    assert sources(page.text) == [
        f"dashboard/static/dashboard.css?v={sources(page.text)[0].split('?v=')[1]}",
        f"dashboard/static/dashboard.js?v={sources(page.text)[1].split('?v=')[1]}",
    ]


async def test_the_files_are_served_with_validators_compressed_and_nothing_else_is(http: httpx.AsyncClient) -> None:
    page = await http.get("/dashboard")
    for name, content_type in [
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("charts.js", "text/javascript; charset=utf-8"),
        ("prism-graphql-ws.js", "text/javascript; charset=utf-8"),  # the same client GraphiQL uses
        ("dashboard.css", "text/css; charset=utf-8"),
    ]:
        served = await http.get(f"/dashboard/static/{name}", headers={"accept-encoding": "identity"})
        assert served.status_code == 200, name
        assert served.headers["content-type"] == content_type
        assert served.headers["cache-control"] == "no-cache"  # modules import each other without a digest
        assert served.headers["x-content-type-options"] == "nosniff"
        again = await http.get(f"/dashboard/static/{name}", headers={"if-none-match": served.headers["etag"]})
        assert again.status_code == 304
        compressed = await http.get(f"/dashboard/static/{name}", headers={"accept-encoding": "gzip"})
        assert compressed.headers["content-encoding"] == "gzip"
        assert compressed.content == served.content  # as httpx decompressed it
    for path in ["../dashboard.py", "..%2Fdashboard.py", "README.md", "graphiql.min.js", ""]:
        assert (await http.get(f"/dashboard/static/{path}")).status_code == 404, path
    assert page.status_code == 200


def test_the_scripts_write_no_html_and_no_inline_style() -> None:
    for path in DASHBOARD_STATIC_DIR.glob("*.js"):
        script = path.read_text()
        assert "innerHTML" not in script, path  # text goes in as textContent, so no name or title becomes markup
        assert "insertAdjacentHTML" not in script, path
        assert ".style" not in script, path
        assert "eval(" not in script, path


def test_every_graphql_document_the_dashboard_sends_is_valid_against_the_schema() -> None:
    script = (DASHBOARD_STATIC_DIR / "dashboard.js").read_text()
    fragments = dict(re.findall(r"const (\w+_FIELDS) = `([^`]*)`;", script))
    documents = dict(re.findall(r"const ([A-Z_]+) = `((?:query|mutation|subscription)[^`]*)`;", script))
    assert sorted(documents) == [
        "LOG_IN",
        "LOG_OUT",
        "PRODUCT",
        "PRODUCTS",
        "REFRESH",
        "RELEASE_FORECAST",
        "SPRINT_CHANGES",
        "SPRINT_DASHBOARD",
        "SPRINT_FORECAST",
    ]
    schema = build_schema(SCHEMA.read_text())
    for name, text in documents.items():
        for fragment, fields in fragments.items():
            text = text.replace("${" + fragment + "}", fields)
        assert validate(schema, parse(text)) == [], name


async def test_the_dashboard_is_served_where_graphiql_is_not(settings: Settings) -> None:
    async with app_with(settings, graphiql=False) as http:
        assert (await http.get("/graphql", headers={"accept": "text/html"})).status_code != 200
        page = await http.get("/dashboard")
        assert page.status_code == 200
        assert (await http.get("/" + sources(page.text)[1])).status_code == 200
        assert (await http.get("/dashboard/static/prism-graphql-ws.js")).status_code == 200
        home = await http.get("/")
        assert home.json()["links"]["dashboard"] == "/dashboard"


async def test_the_dashboard_is_measured_under_one_route_label(http: httpx.AsyncClient) -> None:
    await http.get("/dashboard")
    await http.get("/dashboard/static/charts.js")
    await http.get("/dashboard/static/no-such-file.js")
    metrics = (await http.get("/metrics")).text
    assert 'route="/dashboard*",status="200"' in metrics
    assert 'route="/dashboard*",status="404"' in metrics
    assert "no-such-file" not in metrics
