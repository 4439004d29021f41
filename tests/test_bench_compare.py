"""The parts of `make bench-compare` (bench/compare, bench/wire.py), checked without timing anything."""

import asyncio
import hashlib
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import pytest
from graphql import parse, validate
from sqlalchemy.engine import make_url

from bench.compare.__main__ import parse_options
from bench.compare.equivalence import Answer, compare_answers, executor_problem
from bench.compare.queries import compared_queries
from bench.compare.report import POSTGRAPHILE, POSTGRAPHILE_RLS, comparison_table, summary_table
from bench.compare.results import Measurement, summarize
from bench.compare.servers import backend_cpu_times
from bench.load import Phase
from bench.wire import SSL_REQUEST, MessageCounter, WireCounts, WireProxy
from resolvers.schema import build_schema

ORGANIZATION = UUID("01c3e3d6-b03f-5766-b0c9-65d39af6bca6")
QUERIES = compared_queries(ORGANIZATION, "B002")


def _prism_dashboard(products: list[tuple[str, list[tuple[int, str, float | None, str | None]]]]) -> bytes:
    return orjson.dumps(
        {
            "data": {
                "products": {
                    "nodes": [
                        {
                            "key": key,
                            "name": f"Product {key}",
                            "requirements": {
                                "nodes": [
                                    {
                                        "key": f"{key}-{number}",
                                        "title": title,
                                        "status": "TODO",
                                        "estimate": estimate,
                                        "assignee": None if assignee is None else {"name": assignee},
                                    }
                                    for number, title, estimate, assignee in requirements
                                ]
                            },
                        }
                        for key, requirements in products
                    ]
                }
            }
        }
    )


def _postgraphile_dashboard(products: list[tuple[str, list[tuple[int, str, float | None, str | None]]]]) -> bytes:
    return orjson.dumps(
        {
            "data": {
                "allProducts": {
                    "nodes": [
                        {
                            "key": key,
                            "name": f"Product {key}",
                            "requirementsByProductId": {
                                "nodes": [
                                    {
                                        "number": number,
                                        "title": title,
                                        "status": "TODO",
                                        # PostGraphile answers a whole double precision as an integer.
                                        "estimate": None if estimate is None else int(estimate),
                                        "appUserByAssigneeId": None if assignee is None else {"name": assignee},
                                    }
                                    for number, title, estimate, assignee in requirements
                                ]
                            },
                        }
                        for key, requirements in products
                    ]
                }
            }
        }
    )


DATA = [
    ("B001", [(1, "Add export", 3.0, "Ada Lovelace"), (2, "Fix search", None, None)]),
    ("B002", [(1, "Speed up sign-in", 8.0, "Grace Hopper")]),
]


def test_answers_with_the_same_data_in_each_schemas_names_agree() -> None:
    dashboard = QUERIES["dashboard"]
    digest, problems = compare_answers(
        dashboard,
        [
            Answer("PRISM resolvers", "prism", 200, _prism_dashboard(DATA)),
            Answer(POSTGRAPHILE, "postgraphile", 200, _postgraphile_dashboard(DATA)),
            Answer(POSTGRAPHILE_RLS, "postgraphile", 200, _postgraphile_dashboard(DATA)),
        ],
    )
    assert problems == []
    assert digest is not None
    assert len(digest) == 64


def test_other_data_another_order_an_error_or_nothing_at_all_are_each_a_problem() -> None:
    dashboard = QUERIES["dashboard"]
    reordered = [DATA[1], DATA[0]]
    retitled = [("B001", [(1, "Add export", 3.0, "Ada Lovelace"), (2, "Fix SEARCH", None, None)]), DATA[1]]
    unassigned = [("B001", [(1, "Add export", 3.0, None), (2, "Fix search", None, None)]), DATA[1]]
    error = orjson.dumps({"data": None, "errors": [{"message": "permission denied for table product"}]})
    digest, problems = compare_answers(
        dashboard,
        [
            Answer("PRISM resolvers", "prism", 200, _prism_dashboard(DATA)),
            Answer("reordered", "postgraphile", 200, _postgraphile_dashboard(reordered)),
            Answer("retitled", "postgraphile", 200, _postgraphile_dashboard(retitled)),
            Answer("unassigned", "prism", 200, _prism_dashboard(unassigned)),
            Answer("refused", "postgraphile", 200, error),
            Answer("crashed", "prism", 500, b"Internal Server Error"),
            Answer("empty", "postgraphile", 200, _postgraphile_dashboard([])),
        ],
    )
    assert digest is not None
    assert [problem.split(" ", 1)[0] for problem in problems] == [
        "reordered",
        "retitled",
        "unassigned",
        "refused",
        "crashed",
        "empty",
        "empty",
    ]
    assert "with no data" in problems[-2]


def test_the_one_product_query_compares_the_product_and_names_its_key_in_both_documents() -> None:
    small = QUERIES["small"]
    product = {"key": "B002", "name": "Product B002", "description": "The second."}
    _, agreeing = compare_answers(
        small,
        [
            Answer("PRISM resolvers", "prism", 200, orjson.dumps({"data": {"product": product}})),
            Answer(
                POSTGRAPHILE, "postgraphile", 200, orjson.dumps({"data": {"productByOrganizationIdAndKey": product}})
            ),
        ],
    )
    assert agreeing == []
    _, missing = compare_answers(
        small,
        [
            Answer("PRISM resolvers", "prism", 200, orjson.dumps({"data": {"product": product}})),
            Answer(POSTGRAPHILE, "postgraphile", 200, orjson.dumps({"data": {"productByOrganizationIdAndKey": None}})),
        ],
    )
    assert len(missing) == 2
    assert "with no data" in missing[0]
    assert "with other data than PRISM resolvers" in missing[1]
    assert '"B002"' in small.prism.query
    assert str(ORGANIZATION) in small.postgraphile.query


def test_prisms_documents_are_valid_against_prisms_schema() -> None:
    schema = build_schema(caches=True)._schema
    for query in QUERIES.values():
        assert validate(schema, parse(query.prism.query)) == [], query.name


def test_the_counter_reads_messages_split_anywhere_and_counts_statements_and_sessions() -> None:
    counts = WireCounts()
    counter = MessageCounter(counts)

    def message(kind: bytes, body: bytes) -> bytes:
        return kind + (4 + len(body)).to_bytes(4, "big") + body

    stream = (
        (8).to_bytes(4, "big")
        + SSL_REQUEST.to_bytes(4, "big")
        + (9).to_bytes(4, "big")
        + (196608).to_bytes(4, "big")
        + b"\x00"  # a start-up message (protocol 3.0) with no parameters
        + message(b"Q", b"BEGIN\x00")
        + message(b"P", b"\x00SELECT 1\x00\x00\x00")
        + message(b"B", b"\x00\x00\x00\x00\x00\x00\x00\x00")
        + message(b"D", b"P\x00")
        + message(b"E", b"\x00\x00\x00\x00\x00")
        + message(b"S", b"")
        + message(b"E", b"\x00\x00\x00\x00\x00")
        + message(b"Q", b"COMMIT\x00")
    )
    for byte in stream:
        counter.feed(bytes([byte]))
    assert counter.started
    assert counter.pending_refusals == 1
    assert (counts.statements, counts.simple_queries, counts.executes, counts.parses, counts.sessions) == (
        4,
        2,
        2,
        1,
        1,
    )


async def test_the_proxy_counts_what_a_real_client_sends_postgresql(server_url: str) -> None:
    proxy = WireProxy(make_url(server_url).host or "127.0.0.1", make_url(server_url).port or 5432)
    await proxy.start()
    through = make_url(server_url).set(drivername="postgresql", host="127.0.0.1", port=proxy.port)
    try:
        # asyncpg asks for TLS first: the proxy refuses, and the session goes on in the clear.
        first = await asyncpg.connect(through.render_as_string(hide_password=False))
        second = await asyncpg.connect(through.render_as_string(hide_password=False))
        before = proxy.counts.statements
        for value in range(3):
            assert await first.fetchval("SELECT $1::int + 1", value) == value + 1
        async with second.transaction():  # BEGIN and COMMIT, each a simple query
            assert await second.fetch("SELECT 1 AS one") == [(1,)]
        # An answer far larger than a socket's buffers crosses whole, while the other session goes on.
        large, small = await asyncio.gather(
            second.fetchval("SELECT repeat('x', 20000000)"), first.fetchval("SELECT $1::int", 7)
        )
        assert (len(large), set(large), small) == (20_000_000, {"x"}, 7)
        # Each session's backend is found by the port the proxy connected from.
        admin = await asyncpg.connect(
            make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            times = await backend_cpu_times(admin, sorted(proxy.upstream_ports))
        finally:
            await admin.close()
        assert times is not None
        assert set(times) == {first.get_server_pid(), second.get_server_pid()}
        await asyncio.gather(first.close(), second.close())
        assert proxy.counts.statements - before == 3 + 3 + 2
        assert proxy.counts.sessions == 2
        assert proxy.counts.bytes_to_client > 20_000_000
    finally:
        await proxy.stop()


def test_identical_answers_are_checked_once_and_every_failed_one_still_counts() -> None:
    phase = Phase()
    good = orjson.dumps({"data": {"viewer": {"user": {"name": "Ann"}}}})
    bad = orjson.dumps({"data": None, "errors": [{"message": "boom"}]})
    for body in (good, bad, good, bad, bad):
        phase.check(200, body, hashlib.sha256(body).hexdigest())
    phase.check(503, good, hashlib.sha256(good).hexdigest())  # the same bytes with another status: checked anew
    assert phase.failed == 4
    assert len(phase.verdicts) == 3
    assert phase.failures[0].startswith("errors:")
    assert phase.failures[-1].startswith("HTTP 503")


def _measurement(target: str, query: str, rounds: list[tuple[int, float, float]]) -> list[Measurement]:
    return [
        Measurement(
            target=target,
            query=query,
            concurrency=10,
            round=number,
            requests=requests,
            elapsed_seconds=10.0,
            latencies=[latency / 1000] * requests,
            cpu_seconds=cpu,
            statements=4 * requests,
            sessions=0,
            database_cpu_seconds=cpu / 2,
        )
        for number, (requests, latency, cpu) in enumerate(rounds, start=1)
    ]


def test_the_report_gives_medians_of_the_rounds_and_prisms_throughput_as_a_multiple() -> None:
    measurements = [
        *_measurement("PRISM resolvers", "dashboard", [(100, 90.0, 1.0), (300, 30.0, 3.0), (200, 50.0, 2.0)]),
        *_measurement(POSTGRAPHILE, "dashboard", [(400, 25.0, 0.4), (400, 25.0, 0.4), (1000, 10.0, 1.0)]),
        *_measurement(POSTGRAPHILE_RLS, "dashboard", [(800, 12.0, 0.8)]),
    ]
    # Rounds are measured in a shuffled order; the summaries follow the servers' order.
    summaries = summarize(measurements[::-1], ["PRISM resolvers", POSTGRAPHILE, POSTGRAPHILE_RLS])
    prism = summaries[0]
    assert (prism.target, prism.rounds, prism.requests_per_second) == ("PRISM resolvers", 3, 20.0)
    assert (prism.p50_ms, prism.p99_ms, prism.cpu_ms_per_request, prism.statements_per_request) == (50, 50, 10, 4)
    assert prism.database_cpu_ms_per_request == 5
    assert [s.requests_per_second for s in summaries[1:]] == [40.0, 80.0]
    table = summary_table(summaries)
    assert "PostGraphile RLS" in table
    assert "20.0" in table
    comparison = comparison_table(summaries)
    row = [line for line in comparison.splitlines() if "PRISM resolvers" in line]
    assert len(row) == 1
    assert row[0].split()[4:6] == ["0.50x", "0.25x"]


def test_the_command_line_defaults_to_three_interleaved_rounds_at_10_and_50() -> None:
    options = parse_options([])
    assert (options.rounds, options.concurrency, options.queries) == (3, (10, 50), ("dashboard", "small"))
    assert options.postgraphile
    assert options.proxy
    custom: Any = parse_options(
        ["--prism-paths", "resolvers", "--query", "small", "--concurrency", "5", "--prism-env", "PRISM_X=1=2"]
    )
    assert (custom.prism_paths, custom.queries, custom.concurrency) == (("resolvers",), ("small",), (5,))
    assert custom.prism_environment == {"PRISM_X": "1=2"}


def test_a_prism_server_answering_on_another_path_than_its_label_is_a_problem() -> None:
    assert executor_problem("PRISM planned", "dashboard", "planned") is None
    assert executor_problem("PRISM resolvers", "dashboard", "resolvers") is None
    fallen_back = executor_problem("PRISM planned", "small", "resolvers")
    assert fallen_back is not None
    assert "small on the resolvers path" in fallen_back
    assert executor_problem("PRISM resolvers", "dashboard", "planned") is not None
    assert executor_problem(POSTGRAPHILE, "dashboard", "anything") is None


@pytest.mark.slow
async def test_the_proxy_reaches_a_postgresql_listening_on_a_unix_socket_only_as_the_embedded_one_does() -> None:
    """`make bench-compare` on a machine without a database URL runs on the embedded PostgreSQL, which listens on a
    Unix socket only (`?host=<directory>`): the counting proxy relays to that socket, a twin's URL reaches the same
    database through the proxy over TCP, and a timed server's backends, which have no client port there, are found
    by their database."""
    from bench.compare.runner import _upstream
    from bench.compare.servers import through_proxy
    from prism.db.embedded import start_embedded_postgres

    home = Path(tempfile.mkdtemp(prefix="prism-embedded-"))
    embedded = await asyncio.to_thread(start_embedded_postgres, home)
    proxy: WireProxy | None = None
    try:
        url = make_url(embedded.url).set(drivername="postgresql").render_as_string(hide_password=False)
        host, port = _upstream(url)
        assert host.startswith("/")
        assert (Path(host) / f".s.PGSQL.{port}").exists()
        proxy = WireProxy(host, port)
        await proxy.start()
        twin_url = through_proxy(url, SimpleNamespace(port=proxy.port))  # type: ignore[arg-type]
        assert make_url(twin_url).query.get("host") is None
        through = await asyncpg.connect(twin_url)
        direct = await asyncpg.connect(url)
        try:
            async with through.transaction():
                assert await through.fetchval("SELECT $1::int * 2", 21) == 42
            assert proxy.counts.statements == 3
            assert proxy.counts.sessions == 1
            assert proxy.upstream_ports == set()  # a Unix socket's connection has no port
            admin = await asyncpg.connect(make_url(url).set(database="postgres").render_as_string(hide_password=False))
            try:
                database = make_url(url).database
                times = await backend_cpu_times(admin, [], database)
            finally:
                await admin.close()
            assert times is not None
            assert set(times) == {through.get_server_pid(), direct.get_server_pid()}
        finally:
            await asyncio.gather(through.close(), direct.close())
    finally:
        if proxy is not None:
            await proxy.stop()
        await asyncio.to_thread(embedded.stop)
        shutil.rmtree(home, ignore_errors=True)
