"""Operations endpoints: liveness, readiness with its checks, and Prometheus metrics."""

import httpx


async def test_healthz_says_the_process_is_alive(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readyz_reports_the_database_ok(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert all(state == "ok" for state in body["checks"].values())


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
