"""Operations endpoints: liveness, readiness with its checks, and Prometheus metrics (closed in production)."""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from prism.app import build_app
from prism.config import Settings
from tests.doc_examples import documented_answers


async def test_healthz_says_the_process_is_alive_as_the_operations_guide_shows(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert [(response.status_code, response.json())] == documented_answers("/healthz") == [(200, {"status": "ok"})]
    assert response.headers["x-request-id"]


async def test_readyz_reports_the_database_ok_as_the_operations_guide_shows(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    ready, _ = documented_answers("/readyz")
    # The test app has no REDIS_URL, so its answer is exactly the one the guide shows.
    assert (response.status_code, response.json()) == ready
    assert response.json()["status"] == "ready"


async def test_readyz_answers_unavailable_rather_than_wait_when_every_connection_is_busy(settings: Settings) -> None:
    import asyncio

    # The pool would make a request wait a minute for a connection; the readiness probe gives up after its 2 s.
    app = build_app(
        settings.model_copy(
            update={"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout_seconds": 60}
        )
    )
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://prism.test") as client,
            app.state.runtime().engine.connect(),
        ):
            # A guard against hanging, not a measurement: the probe answers long before the pool would.
            response = await asyncio.wait_for(client.get("/readyz"), timeout=20)
    _, unavailable = documented_answers("/readyz")
    assert (response.status_code, response.json()) == unavailable
    assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}


async def test_metrics_count_http_requests_by_route_and_status(http: httpx.AsyncClient) -> None:
    await http.post("/graphql", json={"query": "{ __typename }"})
    await http.post("/graphql", content=b"{broken", headers={"content-type": "application/json"})
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert "# TYPE prism_http_requests_total counter" in lines
    requests = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in lines if line.startswith("prism_http_requests_total{")
    }
    assert requests['prism_http_requests_total{method="POST",route="/graphql",status="200"}'] >= 1
    assert requests['prism_http_requests_total{method="POST",route="/graphql",status="400"}'] >= 1
    assert any(line.startswith("prism_http_request_duration_seconds_bucket{") for line in lines)
    assert any(line.startswith("prism_sql_statements_total{") for line in lines)


async def test_unknown_paths_are_404_and_measured_under_one_route_label(http: httpx.AsyncClient) -> None:
    for path in ("/nope", "/nope/2", "/admin.php"):
        response = await http.get(path)
        assert response.status_code == 404
    metrics = (await http.get("/metrics")).text
    assert 'route="other",status="404"' in metrics
    assert "/admin.php" not in metrics, "raw paths as labels would let clients create unbounded time series"


@asynccontextmanager
async def production_app(settings: Settings, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    """The test settings as production (with a random signing key), served in process."""
    values = {"environment": "production", "secret_key": SecretStr(secrets.token_urlsafe(48)), **overrides}
    app = build_app(settings.model_copy(update=values))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        yield http


async def test_production_without_a_metrics_token_does_not_serve_metrics(settings: Settings) -> None:
    async with production_app(settings) as http:
        response = await http.get("/metrics")
    assert response.status_code == 404
    assert "prism_http_requests_total" not in response.text


async def test_with_a_metrics_token_metrics_answer_only_to_its_bearer(settings: Settings) -> None:
    token = secrets.token_urlsafe(32)
    async with production_app(settings, metrics_token=SecretStr(token)) as http:
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"})
        basic = await http.get("/metrics", headers={"Authorization": f"Basic {token}"})
        scraper = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    for refused in (anonymous, wrong, basic):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert "prism_http_requests_total" not in refused.text
    assert scraper.status_code == 200
    assert "# TYPE prism_http_requests_total counter" in scraper.text.splitlines()


async def test_the_root_page_points_browsers_at_graphiql_and_the_docs(http: httpx.AsyncClient) -> None:
    page = await http.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<a href="/graphql">GraphiQL</a>' in page.text
    assert "docs/api.md" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    machine = await http.get("/")
    assert machine.json()["links"]["graphql"] == "/graphql"
    assert (await http.get(machine.json()["links"]["usageEventsOpenapi"])).json()["openapi"] == "3.1.0"
    assert machine.json()["name"] == "PRISM"
