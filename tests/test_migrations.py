"""Migrations: a fresh database goes up, all the way down and up again, and ends exactly as the models describe."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

import prism.app  # noqa: F401  (imports every module that defines tables, as the running app does)
from prism.db import migrate
from prism.db.engine import build_engine
from prism.db.job_tables import JOB_QUEUE_TABLES
from prism.db.roles import drop_database, ensure_login_role, url_for_role


@pytest.fixture
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """An empty database of its own on the test server, dropped afterwards."""
    server = make_url(server_url).set(drivername="postgresql")
    name = f"prism_migrations_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await drop_database(server_url, name)


async def inspect(url: str, check: Any) -> Any:
    """Run `check(sync_connection)` against the database."""
    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(check)
    finally:
        await engine.dispose()


def tables(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": migrate.include_object}
    )
    return compare_metadata(context, SQLModel.metadata)  # type: ignore[no-any-return]


async def test_upgrade_downgrade_and_upgrade_again_end_at_the_models(fresh_database: str) -> None:
    head = ScriptDirectory.from_config(migrate.alembic_config(fresh_database)).get_current_head()
    model_tables = set(SQLModel.metadata.tables)

    await asyncio.to_thread(migrate.upgrade, fresh_database, "head")
    assert await asyncio.to_thread(migrate.current_revision, fresh_database) == head
    assert await inspect(fresh_database, tables) == model_tables | {"alembic_version"} | JOB_QUEUE_TABLES

    await asyncio.to_thread(migrate.downgrade, fresh_database, "base")
    assert await asyncio.to_thread(migrate.current_revision, fresh_database) is None
    assert await inspect(fresh_database, tables) <= {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, fresh_database, "head")
    assert await asyncio.to_thread(migrate.current_revision, fresh_database) == head
    found = await inspect(fresh_database, differences)
    assert found == [], (
        "the migrated schema differs from the SQLModel tables; add a migration "
        f"(alembic autogenerate, then read and fix it): {found}"
    )


def test_the_migration_history_is_one_line_of_described_steps() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config("postgresql://unused/unused"))
    assert len(scripts.get_heads()) == 1, f"several heads: {scripts.get_heads()}; merge them"
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].down_revision is None
    for revision in revisions:
        assert revision.doc, f"migration {revision.revision} needs a message saying what it does"


@pytest.fixture
async def database_of_an_unprivileged_owner(server_url: str) -> AsyncIterator[str]:
    """An empty database owned by a login role that is not a superuser (as on a managed PostgreSQL service)."""
    server = make_url(server_url).set(drivername="postgresql")
    suffix = uuid.uuid4().hex[:10]
    name, owner = f"prism_owned_{suffix}", f"prism_owner_{suffix}"
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await conn.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS")
        await conn.execute(f'CREATE DATABASE "{name}" OWNER {owner}')
    finally:
        await conn.close()
    try:
        yield server.set(database=name, username=owner, password=None).render_as_string(hide_password=False)
    finally:
        await drop_database(server_url, name)
        conn = await asyncpg.connect(server.render_as_string(hide_password=False))
        try:
            await conn.execute(f"DROP ROLE IF EXISTS {owner}_api")
            await conn.execute(f"DROP OWNED BY {owner}")
            await conn.execute(f"DROP ROLE {owner}")
        finally:
            await conn.close()


async def test_an_unprivileged_owner_migrates_and_seeds_and_is_itself_bound_by_row_level_security(
    database_of_an_unprivileged_owner: str,
    app_database_url: str,  # creates the server's login role, which the check below connects as
) -> None:
    from prism.seed import DEMO_EMAIL, DEMO_SLUG, seed_demo

    url = database_of_an_unprivileged_owner
    await asyncio.to_thread(migrate.upgrade, url)
    await seed_demo(url)
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        # FORCEd row-level security: the owner, with no organization or user set, sees no tenant or user rows...
        assert await conn.fetchval("SELECT count(*) FROM organization") == 0
        assert await conn.fetchval("SELECT count(*) FROM app_user") == 0
        assert await conn.fetchval("SELECT count(*) FROM requirement") == 0
    finally:
        await conn.close()
    # The server's role finds the demo through the named look-ups and reads it in its scopes; a second seed (as the
    # owner, who cannot search) finds its earlier run by the demo's fixed ids and changes nothing.
    app_role = f"{make_url(url).username}_api"
    await ensure_login_role(url, app_role)
    conn = await asyncpg.connect(url_for_role(url, app_role))
    try:
        user_id = await conn.fetchval("SELECT prism_user_id_by_email($1)", DEMO_EMAIL)
        assert user_id is not None
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.user_id', $1, true)", str(user_id))
            organization_id = await conn.fetchval("SELECT organization_id FROM membership")
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            assert await conn.fetchval("SELECT slug FROM organization") == DEMO_SLUG
            requirements = await conn.fetchval("SELECT count(*) FROM requirement")
        assert requirements > 0
        assert await seed_demo(url) == "The demo organization exists already; nothing changed."
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            assert await conn.fetchval("SELECT count(*) FROM requirement") == requirements
    finally:
        await conn.close()


async def test_text_search_is_served_by_trigram_indexes_where_postgresql_has_pg_trgm(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        available = await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")
        indexes = {
            row["indexname"]
            for row in await conn.fetch("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%\\_trgm'")
        }
        plan = ""
        if available:
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
                rows = await conn.fetch(
                    "EXPLAIN SELECT id FROM requirement "
                    "WHERE title ILIKE '%checkout%' OR description ILIKE '%checkout%'"
                )
                plan = "\n".join(row[0] for row in rows)
    finally:
        await conn.close()
    if available:  # CI's PostgreSQL; the embedded one ships no contrib modules, and search runs unindexed there
        assert indexes == set(migrate.OPTIONAL_INDEXES)
        assert "ix_requirement_title_trgm" in plan, plan
        assert "ix_requirement_description_trgm" in plan, plan
    else:
        assert indexes == set()


async def _insert_history_before_0010(conn: asyncpg.Connection, organization_id: uuid.UUID) -> uuid.UUID:
    """An organization with one story, its history written as PRISM wrote it before migration 0010."""
    product_id, requirement_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO organization (id, name, slug, require_mfa, created_at) VALUES ($1, 'Old', $2, false, now())",
        organization_id,
        f"old-{organization_id.hex[:8]}",
    )
    await conn.execute(
        "INSERT INTO product (id, organization_id, key, name, description, next_number, created_at, updated_at, "
        "version) VALUES ($1, $2, 'OLD', 'Old', '', 2, now(), now(), 1)",
        product_id,
        organization_id,
    )
    await conn.execute(
        "INSERT INTO requirement (id, organization_id, product_id, number, kind, title, description, "
        "acceptance_criteria, status, priority, estimate, rank, created_at, updated_at, version) "
        "VALUES ($1, $2, $3, 1, 'STORY', 'Old story', '', '', 'TODO', 'NONE', 1000, 'a0', now(), now(), 1)",
        requirement_id,
        organization_id,
        product_id,
    )
    for seconds, kind, before, after in (
        (0, "CREATED", None, "BACKLOG"),
        (1, "ESTIMATE", None, "3.0"),
        (2, "ESTIMATE", "3.0", "2.5"),
        (3, "ESTIMATE", "2.5", "1000.0"),
        (4, "STATUS", "BACKLOG", "TODO"),
    ):
        await conn.execute(
            "INSERT INTO requirement_event (id, organization_id, requirement_id, kind, from_value, to_value, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
            uuid.uuid4(),
            organization_id,
            requirement_id,
            kind,
            before,
            after,
            seconds,
        )
    return requirement_id


async def test_upgrading_rewrites_recorded_estimates_as_plain_numbers_even_under_forced_row_security(
    database_of_an_unprivileged_owner: str,
) -> None:
    url = database_of_an_unprivileged_owner
    await asyncio.to_thread(migrate.upgrade, url, "0009")
    organization_id = uuid.uuid4()
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            await _insert_history_before_0010(conn, organization_id)
        await asyncio.to_thread(migrate.upgrade, url, "head")
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            values = await conn.fetch("SELECT kind, from_value, to_value FROM requirement_event ORDER BY created_at")
        assert [tuple(row) for row in values] == [
            ("CREATED", None, "BACKLOG"),
            ("ESTIMATE", None, "3"),
            ("ESTIMATE", "3", "2.5"),
            ("ESTIMATE", "2.5", "1000"),
            ("STATUS", "BACKLOG", "TODO"),
        ]
        # The owner is bound by row-level security again once the migration is done.
        assert await conn.fetchval("SELECT count(*) FROM requirement_event") == 0
        assert await conn.fetchval("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'requirement_event'")
    finally:
        await conn.close()


async def test_upgrading_rebuilds_the_commitments_of_sprints_started_before_from_their_history(
    database_of_an_unprivileged_owner: str,
) -> None:
    url = database_of_an_unprivileged_owner
    await asyncio.to_thread(migrate.upgrade, url, "0010")
    organization_id, sprint_id, planned_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    committed, late, gone_before, at_start, in_planned, estimated_after = (uuid.uuid4() for _ in range(6))
    started = datetime(2026, 3, 2, 9, tzinfo=UTC)
    day = timedelta(days=1)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            await _insert_history_before_0010(conn, organization_id)
            product_id = await conn.fetchval("SELECT id FROM product")
            for sprint, state, began, closed in (
                (sprint_id, "CLOSED", started, started + 10 * day),
                (planned_id, "PLANNED", None, None),
            ):
                await conn.execute(
                    "INSERT INTO sprint (id, organization_id, product_id, name, goal, state, started_at, closed_at, "
                    "created_at, version) VALUES ($1, $2, $3, 'S', '', $4, $5, $6, now(), 1)",
                    sprint,
                    organization_id,
                    product_id,
                    state,
                    began,
                    closed,
                )
            requirements = (committed, late, gone_before, at_start, in_planned, estimated_after)
            for number, requirement in enumerate(requirements, start=2):
                await conn.execute(
                    "INSERT INTO requirement (id, organization_id, product_id, number, kind, title, description, "
                    "acceptance_criteria, status, priority, rank, created_at, updated_at, version) "
                    "VALUES ($1, $2, $3, $4, 'STORY', 'S', '', '', 'TODO', 'NONE', $5, now(), now(), 1)",
                    requirement,
                    organization_id,
                    product_id,
                    number,
                    f"b{number}",
                )
            for requirement, kind, before, after, when in (
                (committed, "ESTIMATE", None, "3", started - 2 * day),
                (committed, "SPRINT", None, sprint_id, started - day),
                (committed, "ESTIMATE", "3", "5", started + day),
                (late, "SPRINT", None, sprint_id, started + day),
                (gone_before, "SPRINT", None, sprint_id, started - 3 * day),
                (gone_before, "SPRINT", sprint_id, None, started - day),
                (at_start, "SPRINT", None, sprint_id, started),
                (in_planned, "SPRINT", None, planned_id, started),
                # Estimated in the planning meeting right after the start (as the demo data once was).
                (estimated_after, "SPRINT", None, sprint_id, started - day),
                (estimated_after, "ESTIMATE", None, "2", started + timedelta(hours=1)),
                (estimated_after, "ESTIMATE", "2", "8", started + 2 * day),
            ):
                await conn.execute(
                    "INSERT INTO requirement_event (id, organization_id, requirement_id, kind, from_value, to_value, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    uuid.uuid4(),
                    organization_id,
                    requirement,
                    kind,
                    None if before is None else str(before),
                    None if after is None else str(after),
                    when,
                )
        await asyncio.to_thread(migrate.upgrade, url, "head")
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            rows = await conn.fetch("SELECT sprint_id, requirement_id, estimate, created_at FROM sprint_commitment")
        assert {tuple(row) for row in rows} == {
            (sprint_id, committed, 3.0, started),
            (sprint_id, at_start, None, started),
            (sprint_id, estimated_after, 2.0, started),
        }
        assert await conn.fetchval("SELECT count(*) FROM sprint_commitment") == 0, "row-level security is forced again"
    finally:
        await conn.close()


async def test_upgrading_gives_the_objects_people_edit_the_last_time_they_changed(
    database_of_an_unprivileged_owner: str,
) -> None:
    url = database_of_an_unprivileged_owner
    await asyncio.to_thread(migrate.upgrade, url, "0011")
    organization_id, sprint_id, release_id, label_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    created = datetime(2026, 3, 1, 9, tzinfo=UTC)
    started, closed, released = created + timedelta(days=1), created + timedelta(days=11), created + timedelta(days=5)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            await _insert_history_before_0010(conn, organization_id)
            product_id = await conn.fetchval("SELECT id FROM product")
            await conn.execute(
                "INSERT INTO sprint (id, organization_id, product_id, name, goal, state, started_at, closed_at, "
                "created_at, version) VALUES ($1, $2, $3, 'S', '', 'CLOSED', $4, $5, $6, 3)",
                sprint_id,
                organization_id,
                product_id,
                started,
                closed,
                created,
            )
            await conn.execute(
                "INSERT INTO release (id, organization_id, product_id, name, description, state, released_at, "
                "created_at, version) VALUES ($1, $2, $3, 'R', '', 'RELEASED', $4, $5, 3)",
                release_id,
                organization_id,
                product_id,
                released,
                created,
            )
            await conn.execute(
                "INSERT INTO label (id, organization_id, name, color, description, created_at) "
                "VALUES ($1, $2, 'l', '#000000', '', $3)",
                label_id,
                organization_id,
                created,
            )
            await conn.execute(
                "INSERT INTO team (id, organization_id, name, description, created_at) VALUES ($1, $2, 't', '', $3)",
                uuid.uuid4(),
                organization_id,
                created,
            )
        await asyncio.to_thread(migrate.upgrade, url, "head")
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            found = await conn.fetchrow(
                "SELECT (SELECT updated_at FROM sprint) AS sprint, (SELECT updated_at FROM release) AS release, "
                "(SELECT updated_at FROM label) AS label, (SELECT updated_at FROM team) AS team"
            )
        assert found is not None
        assert (found["sprint"], found["release"], found["label"], found["team"]) == (
            closed,
            released,
            created,
            created,
        )
        assert await conn.fetchval("SELECT count(*) FROM sprint") == 0, "row-level security is forced again"
    finally:
        await conn.close()


async def test_upgrading_stores_the_figures_of_sprints_closed_before_as_their_close_would_have(
    database_of_an_unprivileged_owner: str,
) -> None:
    from prism.db.tables import SprintFigures
    from prism.domain.enums import RequirementEventKind, RequirementKind, RequirementStatus, Role
    from prism.seed import DataBuilder, write_rows

    url = database_of_an_unprivileged_owner
    await asyncio.to_thread(migrate.upgrade, url, "0024")
    organization_id = uuid.uuid4()
    b = DataBuilder(organization_id=organization_id)
    started = datetime(2026, 3, 2, 9, tzinfo=UTC)
    day = timedelta(days=1)
    b.organization("Before", f"before-{organization_id.hex[:8]}", started - 9 * day)
    me = b.user("Pat", f"pat-{organization_id.hex[:8]}@example.com", None, started - 9 * day)
    b.member(me.id, Role.OWNER, started - 9 * day)
    product = b.product("OLD", "Old", "", started - 8 * day)
    first = b.sprint(product, "Sprint 1", at=started - 8 * day)
    second = b.sprint(product, "Sprint 2", at=started - 8 * day)
    done, open_, late = (
        b.requirement(product, RequirementKind.STORY, title, at=started - 7 * day, reporter_id=me.id, estimate=points)
        for title, points in (("Done", 3), ("Open", 5), ("Late", 2))
    )
    for item in (done, open_):
        b.change(item, RequirementEventKind.SPRINT, first.id, started - day, me.id)
    b.start(first, started)
    b.change(late, RequirementEventKind.SPRINT, first.id, started + day, me.id)  # added mid-sprint
    hours = [timedelta(hours=n) for n in range(4)]  # one step of the workflow an hour
    b.advance(done, RequirementStatus.DONE, [started + 2 * day + h for h in hours], me.id)
    b.advance(late, RequirementStatus.DONE, [started + 3 * day + h for h in hours], me.id)
    b.change(open_, RequirementEventKind.ESTIMATE, 8, started + 4 * day, me.id)
    b.close(first, started + 9 * day, move_to=second, actor_id=me.id)
    b.start(second, started + 10 * day)
    b.close(second, started + 19 * day, move_to=None, actor_id=me.id)
    # What each close stored (the data builder closes as the service does), kept out of the 0024 database.
    expected = {row.sprint_id: row for row in b.rows.pop(SprintFigures)}  # type: ignore[attr-defined]
    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        await write_rows(engine, b)
    finally:
        await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, url, "head")
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            rows = {row["sprint_id"]: dict(row) for row in await conn.fetch("SELECT * FROM sprint_figures")}
        assert await conn.fetchval("SELECT count(*) FROM sprint_figures") == 0, "row-level security is forced"
        forced = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relforcerowsecurity AND relname = ANY($1::text[])",
            ["sprint", "sprint_commitment", "requirement_event", "sprint_figures"],
        )
        assert len(forced) == 4
    finally:
        await conn.close()
    assert set(rows) == set(expected) == {first.id, second.id}
    for sprint_id, row in rows.items():
        want = expected[sprint_id].model_dump()
        assert {k: v for k, v in row.items() if k != "computed_at"} == {
            k: v for k, v in want.items() if k != "computed_at"
        }
    # By hand: Sprint 1 committed Done 3 and Open 5, added Late 2, completed 5, carried Open at its new 8 to Sprint 2;
    # Sprint 2 committed and carried in Open 8, and sent it to the backlog.
    one, two = rows[first.id], rows[second.id]
    assert (one["committed_points"], one["added_points"], one["completed_points"], one["carried_over_points"]) == (
        8,
        2,
        5,
        8,
    )
    assert (one["moved_to_sprint_id"], two["carried_in_points"], two["moved_to_backlog_points"]) == (second.id, 8, 8)


async def test_upgrading_rolls_the_usage_recorded_before_up_by_feature_and_utc_day(
    database_of_an_unprivileged_owner: str,
) -> None:
    from prism.db.adoption_tables import Feature
    from prism.domain.enums import Role
    from prism.seed import DataBuilder, write_rows

    url = database_of_an_unprivileged_owner
    await asyncio.to_thread(migrate.upgrade, url, "0025")
    organization_id = uuid.uuid4()
    b = DataBuilder(organization_id=organization_id)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    b.organization("Used", f"used-{organization_id.hex[:8]}", at)
    me = b.user("Pat", f"pat-{organization_id.hex[:8]}@example.com", None, at)
    b.member(me.id, Role.OWNER, at)
    product = b.product("USE", "Use", "", at)
    features = [
        Feature(id=uuid.uuid4(), organization_id=organization_id, product_id=product.id, key=key, name=key)
        for key in ("board", "export")
    ]
    b.rows[Feature].extend(features)
    engine = build_engine(url, pool_size=1, max_overflow=0)
    try:
        await write_rows(engine, b)
    finally:
        await engine.dispose()
    board, export = (feature.id for feature in features)
    # (feature, user, time): 2 November 23:30 UTC sent as 3 November +01:00 belongs to 2 November.
    used = [
        (board, "u1", "2026-11-02T00:00:00+00:00"),
        (board, "u1", "2026-11-02T18:00:00+00:00"),
        (board, "u2", "2026-11-03T00:30:00+01:00"),
        (board, "u2", "2026-11-03T09:00:00+00:00"),
        (export, "u3", "2026-11-02T09:00:00+00:00"),
    ]
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            await conn.executemany(
                "INSERT INTO usage_event (id, organization_id, product_id, feature_id, event_id, user_key, "
                "occurred_at, received_at, properties) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, '{}')",
                [
                    (uuid.uuid4(), organization_id, product.id, feature, f"e{n}", user, datetime.fromisoformat(when))
                    for n, (feature, user, when) in enumerate(used)
                ],
            )
    finally:
        await conn.close()
    await asyncio.to_thread(migrate.upgrade, url, "head")
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('prism.org_id', $1, true)", str(organization_id))
            numbers = dict(await conn.fetch("SELECT user_key, number FROM usage_user"))
            days = {
                (row["feature_id"], row["day"].isoformat()): (row["events"], row["user_numbers"])
                for row in await conn.fetch("SELECT * FROM usage_day")
            }
        assert await conn.fetchval("SELECT count(*) FROM usage_day") == 0, "row-level security is forced"
        forced = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relforcerowsecurity AND relname = ANY($1::text[])",
            ["usage_event", "usage_user", "usage_day"],
        )
        assert len(forced) == 3
    finally:
        await conn.close()
    u1, u2, u3 = (numbers[key] for key in ("u1", "u2", "u3"))
    assert days == {
        (board, "2026-11-02"): (3, sorted([u1, u2])),
        (board, "2026-11-03"): (1, [u2]),
        (export, "2026-11-02"): (1, [u3]),
    }
