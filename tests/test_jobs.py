"""Background jobs on procrastinate: retries with backoff, dead letters for admins, the periodic work, and workers
that stop (cleanly on SIGTERM, or killed mid-job: the job runs again).

In-process workers run with `wait=False` (they return once no job is ready) in bounded loops; `prism worker` runs as
a real subprocess. Waits are bounded loops on the database's state, never assertions about durations.
"""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner
from procrastinate import App, JobContext
from starlette.applications import Starlette

from prism.cli import main
from prism.config import Settings
from prism.db.job_queue import JOB_QUEUE, defer_job
from prism.jobs import TASK_NAMES, JobResources, build_job_app, run_worker
from prism.jobs.retry import Backoff
from tests.helpers import (
    TEST_REDIS_URL,
    Account,
    GraphQLClient,
    app_with,
    create_product,
    create_requirement,
    create_sprint,
    join_organization,
    sign_up,
    uuid_of,
)

DEAD_LETTERS = """query($first: Int) {
  deadLetterJobs(first: $first) { totalCount edges { node { id taskName queueName runs status lastError failedAt } } }
}"""
RETRY = "mutation($i: RetryJobInput!) { retryJob(input: $i) { jobId userErrors { field code message } } }"


class UnreachableError(RuntimeError):
    """What the test task raises on every run."""


async def always_fails(context: JobContext, organization_id: str) -> None:
    raise UnreachableError(f"the mail server of {organization_id[:8]} refused the message")


@pytest.fixture
def resources(app: Starlette, settings: Settings) -> JobResources:
    runtime = app.state.runtime()
    return JobResources(settings=settings, engine=runtime.engine, publisher=runtime.publisher, ai=runtime.ai)


@pytest.fixture
async def job_app(settings: Settings, app_database_url: str) -> AsyncIterator[App]:
    """PRISM's tasks without their schedules, over the server's role, and a task that always fails."""
    queue_app = build_job_app(settings, app_database_url, periodic=False)
    queue_app.task(
        name="test.always_fails",
        queue="test-failing",
        pass_context=True,
        retry=Backoff(max_attempts=3, base_seconds=0.2),
    )(always_fails)
    async with queue_app.open_async():
        yield queue_app


async def owner_connection(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url)


async def fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def defer(app: Starlette, task_name: str, arguments: dict[str, Any], *, queue: str = JOB_QUEUE) -> int:
    """Write a job as a use case does: inside a transaction of the server's own engine."""
    async with app.state.runtime().engine.connect() as conn, conn.begin():
        return await defer_job(conn, task_name, arguments, queue=queue)


async def work_until(
    job_app: App,
    resources: JobResources,
    done: Callable[[], Awaitable[bool]],
    *,
    queue: str = JOB_QUEUE,
    rounds: int = 400,
) -> None:
    """Run a worker over `queue` until `done()` (a bounded number of rounds, each until no job is ready)."""
    for _ in range(rounds):
        await run_worker(job_app, resources, wait=False, install_signal_handlers=False, queues=[queue])
        if await done():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the jobs did not get there")


async def job_status(database_url: str, job_id: int) -> asyncpg.Record:
    [row] = await fetch(
        database_url, "SELECT status::text AS status, attempts FROM procrastinate_jobs WHERE id = $1", job_id
    )
    return row


async def test_a_failing_job_is_retried_with_growing_waits_then_kept_as_a_dead_letter_for_its_admins_alone(
    app: Starlette,
    gql: GraphQLClient,
    account: Account,
    other_account: Account,
    job_app: App,
    resources: JobResources,
    database_url: str,
) -> None:
    organization = str(uuid_of(account.organization_id))
    job_id = await defer(app, "test.always_fails", {"organization_id": organization}, queue="test-failing")

    async def failed() -> bool:
        return (await job_status(database_url, job_id))["status"] == "failed"

    await work_until(job_app, resources, failed, queue="test-failing")

    assert (await job_status(database_url, job_id))["attempts"] == 3
    events = await fetch(
        database_url, "SELECT type::text AS type, at FROM procrastinate_events WHERE job_id = $1 ORDER BY id", job_id
    )
    assert [e["type"] for e in events if e["type"] != "scheduled"] == [
        "deferred",
        "started",
        "deferred_for_retry",
        "started",
        "deferred_for_retry",
        "started",
        "failed",
    ]
    # Each retry is scheduled further from the failure that caused it than the one before (exponential backoff).
    retried = [e["at"] for e in events if e["type"] == "deferred_for_retry"]
    scheduled = list(dict.fromkeys(e["at"] for e in events if e["type"] == "scheduled"))  # recorded twice each
    waits = [when - failure for failure, when in zip(retried, scheduled, strict=True)]
    assert waits[1] > waits[0] > timedelta(0)

    listed = (await account(DEAD_LETTERS, {"first": 10}))["deadLetterJobs"]
    [node] = [edge["node"] for edge in listed["edges"] if edge["node"]["id"] == str(job_id)]
    assert (node["taskName"], node["queueName"], node["runs"], node["status"]) == (
        "test.always_fails",
        "test-failing",
        3,
        "failed",
    )
    assert node["lastError"].startswith(f"UnreachableError: the mail server of {organization[:8]} refused the message")
    assert node["failedAt"] is not None

    member = await join_organization(gql, database_url, account, role="MEMBER")
    refused = await member.run(DEAD_LETTERS, {"first": 10})
    assert refused.codes == ["FORBIDDEN"]
    assert (await other_account(DEAD_LETTERS, {"first": 10}))["deadLetterJobs"] == {"totalCount": 0, "edges": []}

    foreign = (await other_account(RETRY, {"i": {"id": str(job_id)}}))["retryJob"]
    assert (foreign["jobId"], [e["code"] for e in foreign["userErrors"]]) == (None, ["NOT_FOUND"])
    malformed = (await account(RETRY, {"i": {"id": "12x"}}))["retryJob"]
    assert [(e["field"], e["code"]) for e in malformed["userErrors"]] == [(["input", "id"], "BAD_USER_INPUT")]
    assert (await member.run(RETRY, {"i": {"id": str(job_id)}})).codes == ["FORBIDDEN"]

    retried_now = (await account(RETRY, {"i": {"id": str(job_id)}}))["retryJob"]
    assert retried_now == {"jobId": str(job_id), "userErrors": []}
    assert (await job_status(database_url, job_id))["status"] == "todo"
    assert (await account(DEAD_LETTERS, {"first": 10}))["deadLetterJobs"]["totalCount"] == listed["totalCount"] - 1
    again = (await account(RETRY, {"i": {"id": str(job_id)}}))["retryJob"]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]  # no longer a dead letter
    await work_until(job_app, resources, failed, queue="test-failing")  # one more run, which fails too
    [again_listed] = [
        edge["node"]
        for edge in (await account(DEAD_LETTERS, {"first": 10}))["deadLetterJobs"]["edges"]
        if edge["node"]["id"] == str(job_id)
    ]
    assert again_listed["runs"] == 4


async def test_the_dead_letter_view_keeps_to_the_organization_the_transaction_is_scoped_to(
    app: Starlette, account: Account, other_account: Account, database_url: str, app_database_url: str
) -> None:
    ours, theirs = uuid_of(account.organization_id), uuid_of(other_account.organization_id)
    jobs = [
        await defer(app, "test.always_fails", {"organization_id": str(o)}, queue="test-view") for o in (ours, theirs)
    ]
    owner = await owner_connection(database_url)
    try:
        await owner.execute("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = ANY($1::bigint[])", jobs)
    finally:
        await owner.close()
    conn = await asyncpg.connect(app_database_url.replace("+asyncpg", ""))
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(ours))
            # No condition on the organization: the view applies the transaction's own.
            seen = await conn.fetch("SELECT job_id FROM dead_letter_job WHERE job_id = ANY($1::bigint[])", jobs)
        unscoped = await conn.fetch("SELECT job_id FROM dead_letter_job WHERE job_id = ANY($1::bigint[])", jobs)
    finally:
        await conn.close()
    assert [row["job_id"] for row in seen] == [jobs[0]]
    assert unscoped == []


async def test_a_job_a_use_case_defers_in_its_unit_of_work_exists_only_if_the_unit_commits(
    app: Starlette, account: Account, database_url: str
) -> None:
    runtime = app.state.runtime()
    organization, user = uuid_of(account.organization_id), uuid_of(account.user_id)
    marker = uuid.uuid4().hex
    deferred: list[int] = []
    for outcome in ("rolled back", "committed"):
        uow = runtime.unit_of_work(organization, user)
        try:
            async with uow.session(organization, user) as session:
                arguments = {"organization_id": str(organization), "marker": marker, "outcome": outcome}
                deferred.append(await defer_job(session, "test.nothing", arguments, queue="test-unit-of-work"))
            if outcome == "committed":
                await uow.commit()
            else:
                await uow.rollback()
        finally:
            await uow.close()
    rows = await fetch(
        database_url,
        "SELECT id, args->>'outcome' AS outcome FROM procrastinate_jobs WHERE args->>'marker' = $1",
        marker,
    )
    assert [(row["id"], row["outcome"]) for row in rows] == [(deferred[1], "committed")]


async def test_the_periodic_relay_job_publishes_an_event_the_commit_path_left_unpublished(
    app: Starlette, account: Account, job_app: App, resources: JobResources, database_url: str
) -> None:
    runtime = app.state.runtime()

    async def broken(events: Any) -> None:
        raise ConnectionError("Redis is down")

    working, runtime.publisher = runtime.publisher, broken
    try:
        product = await create_product(account)
    finally:
        runtime.publisher = working
    organization = uuid_of(account.organization_id)
    conn = await owner_connection(database_url)
    try:  # older than the relay's grace period, which leaves recent events to the commit path
        await conn.execute(
            "UPDATE event SET occurred_at = occurred_at - interval '1 minute' WHERE organization_id = $1", organization
        )
    finally:
        await conn.close()
    unpublished = "SELECT entity_id FROM event WHERE organization_id = $1 AND published_at IS NULL"
    assert [row["entity_id"] for row in await fetch(database_url, unpublished, organization)] == [
        uuid_of(product["id"])
    ]

    job_id = await defer(app, TASK_NAMES["relay_events"], {"timestamp": int(datetime.now(UTC).timestamp())})

    async def relayed() -> bool:
        return (await job_status(database_url, job_id))["status"] == "succeeded"

    await work_until(job_app, resources, relayed)
    assert await fetch(database_url, unpublished, organization) == []


async def test_the_retention_job_trims_old_events_finished_jobs_and_their_errors(
    app: Starlette, account: Account, job_app: App, resources: JobResources, database_url: str
) -> None:
    await create_product(account)
    organization = uuid_of(account.organization_id)
    old_job = await defer(app, "test.nothing", {"organization_id": str(organization)}, queue="test-old")
    conn = await owner_connection(database_url)
    try:
        await conn.execute(
            "UPDATE event SET occurred_at = occurred_at - interval '40 days' WHERE organization_id = $1", organization
        )
        await conn.execute("UPDATE procrastinate_jobs SET status = 'cancelled' WHERE id = $1", old_job)
        await conn.execute("INSERT INTO job_error VALUES ($1, 1, 'gone long ago', now())", old_job)
        await conn.execute("UPDATE procrastinate_events SET at = at - interval '40 days' WHERE job_id = $1", old_job)
    finally:
        await conn.close()
    assert await fetch(database_url, "SELECT 1 FROM event WHERE organization_id = $1", organization) != []

    job_id = await defer(app, TASK_NAMES["trim_old_records"], {"timestamp": int(datetime.now(UTC).timestamp())})

    async def trimmed() -> bool:
        return (await job_status(database_url, job_id))["status"] == "succeeded"

    await work_until(job_app, resources, trimmed)
    assert await fetch(database_url, "SELECT 1 FROM event WHERE organization_id = $1", organization) == []
    assert await fetch(database_url, "SELECT 1 FROM procrastinate_jobs WHERE id = $1", old_job) == []
    assert await fetch(database_url, "SELECT 1 FROM job_error WHERE job_id = $1", old_job) == []


async def running_sprint(account: Account) -> str:
    """A started sprint of 3 + 2 points, the 2-point story done: scope 5 (2 stories), done 2 (1), remaining 3 (1)."""
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=3)
    small = await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=2)
    started = await account(
        "mutation($i: StartSprintInput!) { startSprint(input: $i) { userErrors { code } } }",
        {"i": {"id": sprint["id"], "version": sprint["version"]}},
    )
    assert started["startSprint"]["userErrors"] == []
    version = small["version"]
    for status in ("IN_PROGRESS", "DONE"):
        moved = await account(
            """mutation($i: TransitionRequirementInput!) {
                 transitionRequirement(input: $i) { requirement { version } userErrors { code } }
               }""",
            {"i": {"id": small["id"], "version": version, "status": status}},
        )
        assert moved["transitionRequirement"]["userErrors"] == [], moved
        version = moved["transitionRequirement"]["requirement"]["version"]
    return sprint["id"]


SNAPSHOTS = """SELECT day, scope_points, done_points, remaining_points, scope_count, done_count, remaining_count
FROM sprint_snapshot WHERE sprint_id = $1"""


def snapshot_arguments(organization: uuid.UUID) -> dict[str, Any]:
    """Today's snapshot: the run due at the next midnight (UTC) records the day that ends then."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)
    return {"timestamp": int(midnight.timestamp()), "organization_id": str(organization)}


async def test_the_nightly_snapshot_records_each_running_sprint_once_a_day_however_often_it_runs(
    app: Starlette,
    account: Account,
    other_account: Account,
    job_app: App,
    resources: JobResources,
    database_url: str,
) -> None:
    sprint_global_id = await running_sprint(account)
    sprint_id = uuid_of(sprint_global_id)
    organization = uuid_of(account.organization_id)
    for _ in range(2):
        job_id = await defer(app, TASK_NAMES["take_sprint_snapshots"], snapshot_arguments(organization))

        async def taken(job_id: int = job_id) -> bool:
            return (await job_status(database_url, job_id))["status"] == "succeeded"

        await work_until(job_app, resources, taken)
    rows = [tuple(row) for row in await fetch(database_url, SNAPSHOTS, sprint_id)]
    assert rows == [(datetime.now(UTC).date(), 5.0, 2.0, 3.0, 2, 1, 1)]
    shown = await account(
        """query($id: ID!) { node(id: $id) { ... on Sprint {
             snapshots { day scopePoints donePoints remainingPoints scopeCount doneCount remainingCount }
             burndown { date scopePoints donePoints remainingPoints } } } }""",
        {"id": sprint_global_id},
    )
    [snapshot] = shown["node"]["snapshots"]
    today = shown["node"]["burndown"][-1]
    assert snapshot == {
        "day": today["date"],
        "scopePoints": today["scopePoints"],
        "donePoints": today["donePoints"],
        "remainingPoints": today["remainingPoints"],
        "scopeCount": 2,
        "doneCount": 1,
        "remainingCount": 1,
    }
    # Another organization finds neither the sprint nor, through it, its snapshots.
    assert (await other_account.run("query($id: ID!) { node(id: $id) { id } }", {"id": sprint_global_id})).codes == [
        "NOT_FOUND"
    ]


def worker_environment(app_database_url: str, home: Path) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if not name.startswith(("PRISM_", "DATABASE_", "REDIS_"))}
    return {
        **keep,
        "DATABASE_URL": app_database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "PRISM_HOME": str(home),
        "PRISM_ENVIRONMENT": "test",
        "PRISM_LOG_FORMAT": "console",
        "PRISM_WORKER_HEARTBEAT_SECONDS": "0.5",
        "PRISM_WORKER_STALLED_SECONDS": "2",
        "PRISM_STALLED_JOB_CHECK_SECONDS": "1",
        "PRISM_EVENT_RELAY_INTERVAL_SECONDS": "3600",
        "PRISM_SPRINT_SNAPSHOT_CRON": "0 0 1 1 *",
        "PRISM_SHUTDOWN_GRACE_SECONDS": "5",
    }


def start_prism(command: str, environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`prism <command>` as a process of its own, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "prism"), command], env=environment, stdout=out, stderr=out
        )


def start_worker(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_prism("worker", environment, log)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.slow
async def test_a_job_of_a_worker_killed_mid_job_runs_again_on_another_worker_which_stops_cleanly_on_sigterm(
    app: Starlette, account: Account, app_database_url: str, database_url: str, tmp_path: Path
) -> None:
    sprint_id = uuid_of(await running_sprint(account))
    organization = uuid_of(account.organization_id)
    environment = worker_environment(app_database_url, tmp_path)
    log = tmp_path / "workers.log"
    # The snapshot job blocks on this lock until the test lets go: the worker is then mid-job, for sure.
    holder = await owner_connection(database_url)
    lock = holder.transaction()
    await lock.start()
    await holder.execute("LOCK TABLE sprint_snapshot IN ACCESS EXCLUSIVE MODE")
    first = start_worker(environment, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        job_id = await defer(app, TASK_NAMES["take_sprint_snapshots"], snapshot_arguments(organization))
        for _ in range(600):
            waiting = await fetch(
                database_url,
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND query LIKE '%sprint_snapshot%' AND pid <> pg_backend_pid()",
            )
            if waiting and (await job_status(database_url, job_id))["status"] == "doing":
                break
            assert first.poll() is None, log.read_text()
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the worker never reached the snapshot: {log.read_text()}")

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        await lock.rollback()
        assert (await job_status(database_url, job_id))["status"] == "doing"  # nobody finished it

        second = start_worker(environment, log)
        for _ in range(1200):
            if (await job_status(database_url, job_id))["status"] == "succeeded":
                break
            assert second.poll() is None, log.read_text()
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the job never ran again: {log.read_text()}")
        started = await fetch(
            database_url, "SELECT 1 FROM procrastinate_events WHERE job_id = $1 AND type = 'started'", job_id
        )
        assert len(started) == 2
        assert (await job_status(database_url, job_id))["attempts"] == 2
        assert len(await fetch(database_url, SNAPSHOTS, sprint_id)) == 1

        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 60) == 0, log.read_text()
        assert "Stopped worker" in log.read_text() or "stop" in log.read_text().lower()
    finally:
        stop(first)
        if second is not None:
            stop(second)
        if not holder.is_closed():
            await holder.close()


@pytest.mark.slow
async def test_prism_scheduler_defers_the_periodic_jobs_it_is_due_and_stops_on_sigterm(
    app_database_url: str, database_url: str, tmp_path: Path
) -> None:
    # The newest deferred run, not how many: procrastinate's defer deletes the older rows of a periodic task as it
    # adds one, so with a row left by an earlier test the count could stay the same while the scheduler worked.
    relay_defers = (
        "SELECT coalesce(max(d.id), 0) AS n FROM procrastinate_periodic_defers d "
        "JOIN procrastinate_jobs j ON j.id = d.job_id WHERE d.task_name = 'prism:relay_events'"
    )
    # A relay run another test deferred and no worker ran still holds the task's queueing lock (one waiting job per
    # periodic task): clear it, or this scheduler could defer nothing.
    await fetch(
        database_url,
        "DELETE FROM procrastinate_jobs WHERE task_name = $1 AND status = 'todo'",
        TASK_NAMES["relay_events"],
    )
    [before] = await fetch(database_url, relay_defers)
    environment = {**worker_environment(app_database_url, tmp_path), "PRISM_EVENT_RELAY_INTERVAL_SECONDS": "1"}
    log = tmp_path / "scheduler.log"
    scheduler = start_prism("scheduler", environment, log)
    try:
        # No worker runs here: a deferred run is recorded in procrastinate_periodic_defers with its job.
        for _ in range(600):
            [now] = await fetch(database_url, relay_defers)
            if now["n"] > before["n"]:
                break
            assert scheduler.poll() is None, log.read_text()
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the scheduler deferred nothing: {log.read_text()}")
        scheduler.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(scheduler.wait, 60) == 0, log.read_text()
    finally:
        stop(scheduler)


def test_a_separate_worker_or_scheduler_needs_a_database_of_its_own_and_the_worker_redis(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in ("worker", "scheduler"):
        result = runner.invoke(main, [command], env={"PRISM_HOME": str(tmp_path), "DATABASE_URL": None})  # type: ignore[dict-item]
        assert result.exit_code == 2
        assert "needs DATABASE_URL" in result.output
    result = runner.invoke(
        main,
        ["worker"],
        env={"PRISM_HOME": str(tmp_path), "DATABASE_URL": "postgresql://prism@127.0.0.1:1/prism", "REDIS_URL": None},  # type: ignore[dict-item]
    )
    assert result.exit_code == 2
    assert "needs REDIS_URL" in result.output


async def test_a_server_with_the_embedded_worker_relays_events_through_its_jobs(
    settings: Settings, database_url: str
) -> None:
    relay_jobs = "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'prism:relay_events'"
    [before] = await fetch(database_url, relay_jobs)
    async with app_with(
        settings, embedded_worker=True, event_relay_interval_seconds=1, event_relay_grace_seconds=0
    ) as http:
        runtime = http._transport.app.state.runtime()  # type: ignore[attr-defined]
        owner = await sign_up(GraphQLClient(http))

        async def broken(events: Any) -> None:
            raise ConnectionError("Redis is down")

        working, runtime.publisher = runtime.publisher, broken
        try:
            await create_product(owner)
        finally:
            runtime.publisher = working
        organization = uuid_of(owner.organization_id)
        unpublished = "SELECT 1 FROM event WHERE organization_id = $1 AND published_at IS NULL"
        assert await fetch(database_url, unpublished, organization) != []
        # The worker inside the server defers `prism:relay_events` every second and runs it (bounded wait).
        for _ in range(400):
            if await fetch(database_url, unpublished, organization) == []:
                break
            await asyncio.sleep(0.05)
        assert await fetch(database_url, unpublished, organization) == []
        [after] = await fetch(database_url, relay_jobs)
        assert after["n"] > before["n"]  # the relay ran as jobs of the server's own worker


def test_a_worker_or_scheduler_on_a_database_without_the_job_queue_says_to_migrate(
    empty_database: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    environment = {"PRISM_HOME": str(tmp_path), "DATABASE_URL": empty_database, "REDIS_URL": TEST_REDIS_URL}
    for command in ("worker", "scheduler"):
        result = runner.invoke(main, [command], env=environment)
        assert result.exit_code == 1, result.output
        assert "no job queue yet (migration 0017): run `prism db upgrade` first" in result.output


async def test_a_worker_that_stops_by_itself_is_started_again_and_cancelling_stops_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prism.jobs import keep_running

    runs: list[str] = []
    blocked = asyncio.Event()

    async def run() -> None:
        runs.append("run")
        if len(runs) == 1:
            return  # as procrastinate's worker does when its heartbeat loop fails: it returns as if asked to stop
        if len(runs) == 2:
            raise OSError("the database went away")
        blocked.set()
        await asyncio.Event().wait()  # the third run keeps working

    task = asyncio.ensure_future(keep_running(run, what="the test worker", first_delay=0.01))
    await asyncio.wait_for(blocked.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs == ["run", "run", "run"]
    messages = [record.getMessage() for record in caplog.records if record.name == "prism.jobs"]
    assert "the test worker stopped by itself" in messages
    assert "the test worker failed" in messages


async def test_one_organizations_failing_snapshot_does_not_cost_the_others_theirs(
    app: Starlette, account: Account, other_account: Account, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prism.jobs import snapshots

    failing = uuid_of(account.organization_id)
    healthy_sprint = uuid_of(await running_sprint(other_account))
    await running_sprint(account)
    original = snapshots._figures

    async def figures(engine: Any, organization: uuid.UUID, sprint_ids: Any, day: Any) -> Any:
        if organization == failing:
            raise OSError("the connection dropped")  # a fault injected for one organization only
        return await original(engine, organization, sprint_ids, day)

    monkeypatch.setattr(snapshots, "_figures", figures)
    with pytest.raises(snapshots.SnapshotsFailedError, match=str(failing)):
        await snapshots.take_snapshots(app.state.runtime().engine, datetime.now(UTC).date())
    assert len(await fetch(database_url, SNAPSHOTS, healthy_sprint)) == 1


@pytest.mark.parametrize("job_id", ["²", "1.5", "-3", "0", "12x", " "])
def test_a_job_id_that_is_not_a_plain_positive_number_is_a_user_error(job_id: str) -> None:
    from prism.errors import ValidationError
    from prism.services.jobs import parse_job_id

    with pytest.raises(ValidationError):
        parse_job_id(job_id)
