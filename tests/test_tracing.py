"""OpenTelemetry: off by default, and when OTEL_* asks for it, HTTP, GraphQL and SQL spans share one trace."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from prism.config import Settings

SECRET_PASSWORD = "tracing-must-not-record-this"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spans(console_output: str) -> list[dict[str, object]]:
    """ConsoleSpanExporter prints one pretty JSON object per span; split them back out."""
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while (start := console_output.find("{", index)) != -1:
        try:
            span, index = decoder.raw_decode(console_output, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(span, dict) and "context" in span:
            spans.append(span)
    return spans


@pytest.mark.slow
def test_a_request_is_traced_across_http_graphql_and_sql_without_recording_arguments(
    settings: Settings, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "PRISM_HOME": str(tmp_path),
        "PRISM_AUTO_MIGRATE": "false",
        "PRISM_SECRET_KEY": "x" * 40,
        "PRISM_LOG_FORMAT": "json",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "prism-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "prism.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        response = httpx.post(
            f"{base}/graphql",
            json={
                "query": "mutation($i: LogInInput!) { logIn(input: $i) { userErrors { code } } }",
                "variables": {"i": {"email": "nobody@example.com", "password": SECRET_PASSWORD}},
            },
        )
        assert response.json()["data"]["logIn"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            stdout, stderr = server.communicate()

    spans = _spans(stdout)
    names = {str(span["name"]) for span in spans}
    assert "POST /graphql" in names, names
    assert any(name.startswith("GraphQL") for name in names), names
    sql = [span for span in spans if "db.statement" in json.dumps(span.get("attributes", {}))]
    assert sql, ("no SQL span was recorded", sorted(names))
    http_span = next(span for span in spans if span["name"] == "POST /graphql")
    trace_id = http_span["context"]["trace_id"]  # type: ignore[index]
    # The log-in looks the address up through the named look-up (prism/db/lookups.py).
    login_sql = [span for span in sql if "prism_user_id_by_email" in json.dumps(span["attributes"])]
    assert login_sql, "the log-in query was not traced"
    assert all(span["context"]["trace_id"] == trace_id for span in login_sql)  # type: ignore[index]
    assert SECRET_PASSWORD not in stdout
    assert SECRET_PASSWORD not in stderr
    access = [json.loads(line) for line in stderr.splitlines() if '"logger": "prism.access"' in line]
    graphql_lines = [line for line in access if line.get("path") == "/graphql"]
    assert graphql_lines
    assert graphql_lines[0]["trace_id"] == trace_id.removeprefix("0x")
