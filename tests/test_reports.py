"""Sprint and release reports: asked for through GraphQL, built by the job queue, stored, and downloaded by a link.

Jobs run on an in-process worker with `wait=False` in bounded loops (as tests/test_jobs.py does), against the local
store of the test app and a real S3-compatible server (SeaweedFS).
"""

import asyncio
import csv
import hashlib
import io
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from procrastinate import App
from pypdf import PdfReader
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from prism.app import build_app
from prism.config import Settings
from prism.db.job_queue import JOB_QUEUE
from prism.domain.reports import ReportKind
from prism.domain.velocity import Velocity
from prism.jobs import JobResources, build_job_app, report_files, run_worker
from prism.jobs.report_data import ReportContent, ReportItem
from prism.jobs.reports import ReportAttempt, build_report
from prism.services.reports import MAX_PENDING_REPORTS
from prism.storage import LocalStore
from tests.helpers import (
    Account,
    GraphQLClient,
    assert_not_found,
    create_product,
    create_release,
    create_requirement,
    create_sprint,
    join_organization,
    sign_up,
    uuid_of,
)
from tests.object_stores import S3Server
from tests.test_analytics_api import close
from tests.test_sprints import finish, start

REPORT_FIELDS = "id kind format state fileName contentType size sha256 error attempts downloadUrl finishedAt"
REQUEST = f"""mutation($input: RequestReportInput!) {{
  requestReport(input: $input) {{ report {{ {REPORT_FIELDS} }} userErrors {{ field message code }} }}
}}"""
REPORT = f"query($id: ID!) {{ report(id: $id) {{ {REPORT_FIELDS} sprint {{ id }} release {{ id }} }} }}"
CUMULATIVE_FLOW = """query($id: ID!, $since: Date, $until: Date) {
  product(id: $id) { cumulativeFlow(since: $since, until: $until) { date counts { status count } total } }
}"""
SPRINT_FIGURES = """query($id: ID!) {
  sprint(id: $id) {
    name
    report {
      committed { count points } added { count points } removed { count points }
      completed { count points } canceled { count points } carriedOver { count points }
    }
    burndown { date scopePoints donePoints remainingPoints idealPoints }
    product {
      id
      velocity {
        sprints { sprint { name } committedPoints completedPoints }
        meanCompletedPoints completedPointsStandardDeviation
      }
    }
  }
}"""


def job_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"job_retry_base_seconds": 0.05, **overrides})


@asynccontextmanager
async def worker_for(settings: Settings, database_url: str) -> AsyncIterator[App]:
    queue_app = build_job_app(settings, database_url, periodic=False)
    async with queue_app.open_async():
        yield queue_app


def resources_of(app: Starlette, settings: Settings, **overrides: Any) -> JobResources:
    runtime = app.state.runtime()
    fields: dict[str, Any] = {
        "settings": settings,
        "engine": runtime.engine,
        "publisher": runtime.publisher,
        "ai": runtime.ai,
        "storage": runtime.object_store,
        **overrides,
    }
    return JobResources(**fields)


async def request(account: Account, kind: str, subject_id: str, report_format: str) -> dict[str, Any]:
    data = await account(REQUEST, {"input": {"kind": kind, "subjectId": subject_id, "format": report_format}})
    assert data["requestReport"]["userErrors"] == [], data
    report: dict[str, Any] = data["requestReport"]["report"]
    assert (report["state"], report["downloadUrl"], report["size"]) == ("QUEUED", None, None)
    return report


async def work_until_finished(
    queue_app: App, resources: JobResources, account: Account, report_ids: list[str], rounds: int = 300
) -> list[dict[str, Any]]:
    """Run the worker until every report is READY or FAILED (a bounded number of rounds); their last state."""
    for _ in range(rounds):
        await run_worker(queue_app, resources, wait=False, install_signal_handlers=False, queues=[JOB_QUEUE])
        found = [(await account(REPORT, {"id": report_id}))["report"] for report_id in report_ids]
        if all(report["state"] in ("READY", "FAILED") for report in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"the reports did not finish: {found}")


async def download(http: httpx.AsyncClient, report: dict[str, Any]) -> bytes:
    response = await http.get(report["downloadUrl"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(report["contentType"])
    assert report["fileName"] in response.headers["content-disposition"]
    body = response.content
    assert (len(body), hashlib.sha256(body).hexdigest()) == (report["size"], report["sha256"])
    return body


async def closed_sprint_with_history(account: Account) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A closed sprint that committed to three stories (one done, one canceled, one carried over), took one more
    in mid-sprint (done), and a second sprint before it, so velocity has two sprints."""
    product = await create_product(account)
    earlier = await create_sprint(account, product["id"], name="Sprint 1")
    warm_up = await create_requirement(account, product["id"], title="Warm-up", sprintId=earlier["id"], estimate=4)
    earlier = await start(account, earlier)
    await finish(account, warm_up)
    await close(account, earlier)

    sprint = await create_sprint(account, product["id"], name="Sprint 2", startsOn="2026-12-01", endsOn="2026-12-14")
    stories = {
        "done": await create_requirement(account, product["id"], title="Done story", sprintId=sprint["id"], estimate=3),
        "open": await create_requirement(
            account, product["id"], title="=HYPERLINK(evil)", sprintId=sprint["id"], estimate=5
        ),
        "canceled": await create_requirement(
            account, product["id"], title="Canceled task", kind="TASK", sprintId=sprint["id"], estimate=2
        ),
    }
    sprint = await start(account, sprint)
    stories["added"] = await create_requirement(
        account, product["id"], title="Added mid-sprint", sprintId=sprint["id"], estimate=1
    )
    for name in ("done", "added"):
        await finish(account, stories[name])
    await finish(account, stories["canceled"], "CANCELED")
    await close(account, sprint)
    return sprint, stories


async def test_a_sprint_report_in_each_format_carries_the_figures_the_graphql_queries_answer(
    app: Starlette, settings: Settings, app_database_url: str, account: Account, http: httpx.AsyncClient
) -> None:
    sprint, stories = await closed_sprint_with_history(account)
    asked = {fmt: await request(account, "SPRINT", sprint["id"], fmt) for fmt in ("CSV", "JSON", "PDF")}
    async with worker_for(job_settings(settings), app_database_url) as queue_app:
        reports = await work_until_finished(
            queue_app, resources_of(app, settings), account, [r["id"] for r in asked.values()]
        )
    by_format = {report["format"]: report for report in reports}
    for report in reports:
        assert (report["state"], report["error"], report["attempts"]) == ("READY", None, 1), report
        assert (report["sprint"], report["release"]) == ({"id": sprint["id"]}, None)
        assert report["fileName"].startswith("sprint-report-")
    graphql = (await account(SPRINT_FIGURES, {"id": sprint["id"]}))["sprint"]

    figures = orjson.loads(await download(http, by_format["JSON"]))
    assert (figures["kind"], figures["sprint"]["name"]) == ("SPRINT", "Sprint 2")
    assert figures["summary"] == graphql["report"]
    assert figures["summary"]["carriedOver"] == {"count": 1, "points": 5}
    assert figures["burndown"] == graphql["burndown"]
    assert len(figures["burndown"]) >= 1
    velocity = graphql["product"]["velocity"]
    assert [
        {"name": s["name"], "committedPoints": s["committedPoints"], "completedPoints": s["completedPoints"]}
        for s in figures["velocity"]["sprints"]
    ] == [
        {"name": s["sprint"]["name"], "committedPoints": s["committedPoints"], "completedPoints": s["completedPoints"]}
        for s in velocity["sprints"]
    ]
    assert [s["name"] for s in figures["velocity"]["sprints"]] == ["Sprint 1", "Sprint 2"]
    assert figures["velocity"]["meanCompletedPoints"] == velocity["meanCompletedPoints"] == 4
    assert figures["velocity"]["completedPointsStandardDeviation"] == velocity["completedPointsStandardDeviation"]
    # The product's cumulative flow over the sprint's days, as Product.cumulativeFlow gives it.
    days = {"since": figures["burndown"][0]["date"], "until": figures["burndown"][-1]["date"]}
    flow = await account(CUMULATIVE_FLOW, {"id": graphql["product"]["id"], **days})
    assert figures["cumulativeFlow"] == flow["product"]["cumulativeFlow"]
    assert [d["date"] for d in figures["cumulativeFlow"]] == [d["date"] for d in figures["burndown"]]
    assert figures["cumulativeFlow"][-1]["total"] == 4 + 1  # this sprint's four and Sprint 1's warm-up
    items = {item["key"]: item for item in figures["items"]}
    assert set(items) == {story["key"] for story in stories.values()}
    assert items[stories["added"]["key"]] == {
        "key": stories["added"]["key"],
        "title": "Added mid-sprint",
        "status": "DONE",
        "points": 1,
        "committed": False,
        "completed": True,
        "carried": False,
        "added": True,
        "removed": False,
        "canceled": False,
    }

    rows = list(csv.DictReader(io.StringIO((await download(http, by_format["CSV"])).decode())))
    assert len(rows) == 4
    lines = {row["key"]: row for row in rows}
    assert lines[stories["done"]["key"]] == {
        "key": stories["done"]["key"],
        "title": "Done story",
        "status": "DONE",
        "points": "3",
        "committed": "true",
        "completed": "true",
        "carried": "false",
    }
    carried = lines[stories["open"]["key"]]
    # The close moved it to the backlog; a title a spreadsheet would run as a formula is kept as text.
    assert (carried["title"], carried["status"], carried["carried"], carried["completed"]) == (
        "'=HYPERLINK(evil)",
        "BACKLOG",
        "true",
        "false",
    )
    canceled = lines[stories["canceled"]["key"]]
    assert (canceled["committed"], canceled["completed"], canceled["carried"]) == ("true", "false", "false")
    assert lines[stories["added"]["key"]]["committed"] == "false"

    pdf = PdfReader(io.BytesIO(await download(http, by_format["PDF"])))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    for expected in (
        "Sprint report: Sprint 2",
        "Summary",
        "Burndown",
        "Velocity",
        "Cumulative flow",
        "Done story",
        "Canceled task",
    ):
        assert expected in text, expected
    assert sum(len(page.images) for page in pdf.pages) == 3  # the burndown, velocity and cumulative flow charts


async def test_a_release_report_lists_its_requirements_by_status_as_json_and_csv(
    app: Starlette, settings: Settings, app_database_url: str, account: Account, http: httpx.AsyncClient
) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"], name="2.0")
    shipped = await create_requirement(account, product["id"], title="Shipped", releaseId=release["id"], estimate=8)
    await create_requirement(account, product["id"], title="Still open", releaseId=release["id"], estimate=2)
    await create_requirement(account, product["id"], title="Elsewhere", estimate=13)
    await finish(account, shipped)
    asked = [await request(account, "RELEASE", release["id"], fmt) for fmt in ("JSON", "CSV", "PDF")]
    async with worker_for(job_settings(settings), app_database_url) as queue_app:
        reports = await work_until_finished(queue_app, resources_of(app, settings), account, [r["id"] for r in asked])
    assert [(r["state"], r["release"]) for r in reports] == [("READY", {"id": release["id"]})] * 3

    figures = orjson.loads(await download(http, reports[0]))
    listed = await account(
        "query($id: ID!) { release(id: $id) { requirements { nodes { key title status estimate } } } }",
        {"id": release["id"]},
    )
    assert [(i["key"], i["title"], i["status"], i["points"]) for i in figures["items"]] == [
        (n["key"], n["title"], n["status"], n["estimate"]) for n in listed["release"]["requirements"]["nodes"]
    ]
    assert figures["summary"] == {
        "total": {"count": 2, "points": 10},
        "completed": {"count": 1, "points": 8},
        "canceled": {"count": 0, "points": 0},
        "open": {"count": 1, "points": 2},
    }
    assert figures["byStatus"] == {"BACKLOG": {"count": 1, "points": 2}, "DONE": {"count": 1, "points": 8}}
    # The product's cumulative flow of the last 30 days (Product.cumulativeFlow's default): all three requirements.
    flow = (await account(CUMULATIVE_FLOW, {"id": product["id"]}))["product"]["cumulativeFlow"]
    assert figures["cumulativeFlow"] == flow
    assert len(flow) == 30
    assert {c["status"]: c["count"] for c in flow[-1]["counts"] if c["count"]} == {"BACKLOG": 2, "DONE": 1}
    rows = list(csv.DictReader(io.StringIO((await download(http, reports[1])).decode())))
    assert [(r["title"], r["completed"], r["carried"]) for r in rows] == [
        ("Shipped", "true", "false"),
        ("Still open", "false", "true"),
    ]
    pdf = PdfReader(io.BytesIO(await download(http, reports[2])))
    assert "Release report: 2.0" in pdf.pages[0].extract_text()
    assert "Cumulative flow" in "\n".join(page.extract_text() for page in pdf.pages)
    # Points by status and the cumulative flow; no closed sprint, so no velocity.
    assert sum(len(page.images) for page in pdf.pages) == 2


async def test_another_organizations_report_and_subjects_are_not_found(
    account: Account, other_account: Account
) -> None:
    product = await create_product(other_account)
    foreign_sprint = await start(other_account, await create_sprint(other_account, product["id"]))
    foreign_release = await create_release(other_account, product["id"])
    theirs = await request(other_account, "SPRINT", foreign_sprint["id"], "CSV")

    await assert_not_found(account, REPORT, {"id": theirs["id"]}, "report")
    listed = await account("{ reports(first: 50) { totalCount nodes { id } } }")
    assert listed["reports"] == {"totalCount": 0, "nodes": []}
    for kind, subject in (("SPRINT", foreign_sprint["id"]), ("RELEASE", foreign_release["id"])):
        data = await account(REQUEST, {"input": {"kind": kind, "subjectId": subject, "format": "PDF"}})
        assert data["requestReport"]["report"] is None
        assert [(e["field"], e["code"]) for e in data["requestReport"]["userErrors"]] == [
            (["input", "subjectId"], "NOT_FOUND")
        ]
    # The owner's organization lists its own report, under its own prefix of the store.
    mine = await other_account("{ reports(first: 50) { totalCount nodes { id state } } }")
    assert mine["reports"] == {"totalCount": 1, "nodes": [{"id": theirs["id"], "state": "QUEUED"}]}


async def test_a_planned_sprint_and_a_mismatched_subject_are_refused_with_codes(account: Account) -> None:
    product = await create_product(account)
    planned = await create_sprint(account, product["id"])
    release = await create_release(account, product["id"])
    for kind, subject, code in (
        ("SPRINT", planned["id"], "INVALID_STATE"),
        ("SPRINT", release["id"], "NOT_FOUND"),
        ("RELEASE", "not-an-id", "BAD_USER_INPUT"),
    ):
        data = await account(REQUEST, {"input": {"kind": kind, "subjectId": subject, "format": "CSV"}})
        assert [e["code"] for e in data["requestReport"]["userErrors"]] == [code], (kind, data)
    listed = await account("{ reports(first: 5) { totalCount } }")
    assert listed["reports"]["totalCount"] == 0  # a refused request leaves no report (and no job)


async def test_a_report_whose_release_was_deleted_fails_with_the_reason(
    app: Starlette, settings: Settings, app_database_url: str, account: Account
) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    asked = await request(account, "RELEASE", release["id"], "JSON")
    data = await account(
        "mutation($input: DeleteReleaseInput!) { deleteRelease(input: $input) { userErrors { code } } }",
        {"input": {"id": release["id"], "version": release["version"]}},
    )
    assert data["deleteRelease"]["userErrors"] == []
    async with worker_for(job_settings(settings), app_database_url) as queue_app:
        [report] = await work_until_finished(queue_app, resources_of(app, settings), account, [asked["id"]])
    assert (report["state"], report["attempts"], report["downloadUrl"]) == ("FAILED", 1, None)
    assert report["error"] == "The release no longer exists."
    assert report["finishedAt"] is not None


async def test_a_report_the_store_cannot_take_is_retried_then_failed_with_a_reason_and_a_dead_letter(
    app: Starlette, settings: Settings, app_database_url: str, account: Account, tmp_path: Path
) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    asked = await request(account, "RELEASE", release["id"], "CSV")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the store's directory should be")
    attempts = job_settings(settings, job_max_attempts=2)
    broken = resources_of(app, attempts, storage=LocalStore(blocked))
    async with worker_for(attempts, app_database_url) as queue_app:
        [report] = await work_until_finished(queue_app, broken, account, [asked["id"]])
    assert (report["state"], report["attempts"], report["downloadUrl"], report["size"]) == ("FAILED", 2, None, None)
    assert report["error"].startswith("The report could not be built or stored on attempt 2; giving up.")
    assert str(blocked) not in report["error"]  # no server detail in what members read
    letters = await account("{ deadLetterJobs(first: 50) { nodes { id taskName runs lastError } } }")
    [letter] = [n for n in letters["deadLetterJobs"]["nodes"] if n["taskName"] == "prism:build_report"]
    assert letter["runs"] == 2
    assert "NotADirectoryError" in letter["lastError"]

    # Once the store is back, an admin runs the dead letter again: the same report is built.
    retried = await account(
        "mutation($i: RetryJobInput!) { retryJob(input: $i) { jobId userErrors { code } } }",
        {"i": {"id": letter["id"]}},
    )
    assert retried["retryJob"]["userErrors"] == []
    async with worker_for(attempts, app_database_url) as queue_app:
        for _ in range(300):
            await run_worker(
                queue_app, resources_of(app, attempts), wait=False, install_signal_handlers=False, queues=[JOB_QUEUE]
            )
            report = (await account(REPORT, {"id": asked["id"]}))["report"]
            if report["state"] == "READY":
                break
            await asyncio.sleep(0.05)
    assert (report["state"], report["error"], report["attempts"]) == ("READY", None, 3)
    assert report["downloadUrl"] is not None


async def test_a_local_download_link_expires(
    app: Starlette,
    settings: Settings,
    app_database_url: str,
    account: Account,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    asked = await request(account, "RELEASE", release["id"], "CSV")
    async with worker_for(job_settings(settings), app_database_url) as queue_app:
        [report] = await work_until_finished(queue_app, resources_of(app, settings), account, [asked["id"]])
    assert (await http.get(report["downloadUrl"])).status_code == 200
    later = time.time() + settings.download_url_ttl_seconds + 1
    monkeypatch.setattr("prism.storage.signing.time", SimpleNamespace(time=lambda: later))
    expired = await http.get(report["downloadUrl"])
    assert expired.status_code == 404
    assert expired.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_reports_go_to_s3_under_the_organizations_prefix_and_download_through_expiring_urls(
    settings: Settings, app_database_url: str, s3_server: S3Server
) -> None:
    s3_settings = Settings(
        database_url=settings.database_url,
        home=settings.home,
        environment="test",
        auto_migrate=False,
        log_format="console",
        secret_key=settings.secret_key,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket="prism-app-reports",
        s3_secure=False,
        download_url_ttl_seconds=600,
    )
    application = build_app(s3_settings)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://prism.test") as http,
    ):
        account = await sign_up(GraphQLClient(http))
        product = await create_product(account)
        release = await create_release(account, product["id"], name="3.0")
        await create_requirement(account, product["id"], title="On S3", releaseId=release["id"], estimate=3)
        asked = await request(account, "RELEASE", release["id"], "JSON")
        async with worker_for(job_settings(s3_settings), app_database_url) as queue_app:
            [report] = await work_until_finished(
                queue_app, resources_of(application, job_settings(s3_settings)), account, [asked["id"]]
            )
        assert report["state"] == "READY", report
        url = report["downloadUrl"]
        organization = uuid_of(account.organization_id)
        assert url.startswith(f"http://{s3_server.endpoint}/prism-app-reports/org/{organization}/")
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["600"]
        async with httpx.AsyncClient() as outside:
            body = await download(outside, report)
        assert [item["title"] for item in orjson.loads(body)["items"]] == ["On S3"]
        runtime = application.state.runtime()
        assert await runtime.object_store.exists(f"org/{organization}/{uuid_of(report['id'])}")


def test_the_server_and_the_job_queue_start_without_the_chart_and_pdf_libraries() -> None:
    # matplotlib and fpdf2 cost over a second to import: only the report job loads them, when it renders a PDF.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, prism.app, prism.jobs, prism.jobs.reports, resolvers.schema; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'fpdf'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert loaded.stdout.strip() == "[]"


async def test_row_level_security_keeps_another_organizations_reports_from_raw_sql(
    account: Account, other_account: Account, app_database_url: str
) -> None:
    product = await create_product(other_account)
    theirs = await request(other_account, "RELEASE", (await create_release(other_account, product["id"]))["id"], "CSV")
    conn = await asyncpg.connect(make_url(app_database_url).render_as_string(hide_password=False))
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(uuid_of(account.organization_id)))
            assert await conn.fetchval("SELECT count(*) FROM report") == 0
            changed = await conn.execute("UPDATE report SET state = 'READY' WHERE id = $1", uuid_of(theirs["id"]))
            assert changed == "UPDATE 0"
            assert await conn.fetchval("SELECT relrowsecurity FROM pg_class WHERE relname = 'report'") is True
    finally:
        await conn.close()
    still = (await other_account(REPORT, {"id": theirs["id"]}))["report"]
    assert still["state"] == "QUEUED"


async def test_a_viewer_may_ask_for_a_report_and_sees_who_asked(
    account: Account, gql: GraphQLClient, database_url: str
) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    viewer = await join_organization(gql, database_url, account, role="VIEWER", name="Stakeholder")
    asked = await request(viewer, "RELEASE", release["id"], "PDF")
    found = await account(
        "query($id: ID!) { report(id: $id) { requestedBy { id name } kind format } }", {"id": asked["id"]}
    )
    assert found["report"] == {
        "requestedBy": {"id": viewer.user_id, "name": "Stakeholder"},
        "kind": "RELEASE",
        "format": "PDF",
    }
    listed = await viewer("{ reports(first: 5) { totalCount nodes { id } } }")
    assert listed["reports"] == {"totalCount": 1, "nodes": [{"id": asked["id"]}]}


async def test_an_organization_with_too_many_reports_waiting_is_refused_until_they_are_built(
    account: Account, other_account: Account
) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    for _ in range(MAX_PENDING_REPORTS):
        await request(account, "RELEASE", release["id"], "CSV")
    data = await account(REQUEST, {"input": {"kind": "RELEASE", "subjectId": release["id"], "format": "PDF"}})
    assert data["requestReport"]["report"] is None
    assert [e["code"] for e in data["requestReport"]["userErrors"]] == ["RATE_LIMITED"]
    assert (await account("{ reports { totalCount } }"))["reports"]["totalCount"] == MAX_PENDING_REPORTS
    # Another organization's queue is its own.
    theirs = await create_release(other_account, (await create_product(other_account))["id"])
    await request(other_account, "RELEASE", theirs["id"], "CSV")


async def test_a_job_for_a_report_that_no_longer_exists_ends_without_a_retry(app: Starlette, account: Account) -> None:
    runtime = app.state.runtime()
    attempt = ReportAttempt(number=1, of=6)
    outcome = await build_report(
        runtime.engine, runtime.object_store, uuid_of(account.organization_id), uuid.uuid4(), attempt
    )
    assert outcome == "gone"


def test_a_pdf_lists_at_most_its_bound_of_requirements_and_says_how_many_more_there_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report_files, "PDF_MAX_ITEMS", 3)
    items = tuple(
        ReportItem(f"BIG-{n}", f"Story {n}", "BACKLOG", None, committed=True, completed=False, carried=True)
        for n in range(1, 6)
    )
    content = ReportContent(
        kind=ReportKind.RELEASE,
        title="Release report: big (BIG)",
        subject={"name": "big", "state": "PLANNED", "product": {"key": "BIG", "name": "Big"}, "targetDate": None},
        summary={"total": {"count": 5, "points": 0}},
        velocity=Velocity(sprints=(), mean_completed=None, standard_deviation=None),
        velocity_sprints=(),
        items=items,
        by_status={"BACKLOG": {"count": 5, "points": 0}},
    )
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(report_files.pdf_file(content))).pages)
    assert "BIG-3" in text
    assert "BIG-4" not in text
    assert "and 2 more requirements" in text
    rows = list(csv.DictReader(io.StringIO(report_files.csv_file(content).decode())))
    assert [row["key"] for row in rows] == ["BIG-1", "BIG-2", "BIG-3", "BIG-4", "BIG-5"]
    assert rows[0]["points"] == ""


async def test_concurrent_requests_cannot_take_the_organization_past_its_pending_report_limit(
    account: Account,
) -> None:
    product = await create_product(account)
    release = await create_release(account, product["id"])
    for _ in range(MAX_PENDING_REPORTS - 3):
        await request(account, "RELEASE", release["id"], "CSV")
    variables = {"input": {"kind": "RELEASE", "subjectId": release["id"], "format": "CSV"}}
    answers = await asyncio.gather(*(account(REQUEST, variables) for _ in range(8)))
    refused = [a for a in answers if a["requestReport"]["userErrors"]]
    assert len(answers) - len(refused) == 3
    assert {e["code"] for a in refused for e in a["requestReport"]["userErrors"]} == {"RATE_LIMITED"}
    assert (await account("{ reports { totalCount } }"))["reports"]["totalCount"] == MAX_PENDING_REPORTS
