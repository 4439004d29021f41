"""The event log: every committed change is an event written in its transaction, none for a change undone.

Events are read back from PostgreSQL itself (as the tables' owner) and from the broker a subscriber listens to, so
what is checked is what a subscriber or an integration would get.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel
from starlette.applications import Starlette

from prism.db.base import utcnow
from prism.db.event_catalog import ENTITIES, NOT_EVENTS, RELATIONS
from prism.db.outbox import BulkWriteRefusedError
from prism.db.tables import Requirement
from prism.db.unit_of_work import UnitOfWork
from prism.domain.events import DomainEvent
from prism.events.broker import EVENTS_TOPIC, InProcessBroker
from prism.events.hub import CursorExpiredError
from prism.events.publisher import EventPublisher
from prism.events.relay import OutboxRelay
from tests.helpers import (
    Account,
    GraphQLClient,
    add_comment,
    add_roadmap_item,
    app_with,
    create_document,
    create_label,
    create_product,
    create_requirement,
    create_roadmap,
    create_sprint,
    sign_up,
    uuid_of,
)

UPDATE = """mutation($input: UpdateRequirementInput!) {
  updateRequirement(input: $input) { requirement { id version } userErrors { field code } }
}"""


async def events_of(database_url: str, organization_id: str, after: int = 0) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT * FROM event WHERE organization_id = $1 AND sequence > $2 ORDER BY sequence",
            uuid_of(organization_id),
            after,
        )
    finally:
        await conn.close()


async def last_sequence(database_url: str, organization_id: str) -> int:
    rows = await events_of(database_url, organization_id)
    return rows[-1]["sequence"] if rows else 0


def test_every_table_is_an_entity_a_relation_or_named_as_no_event() -> None:
    tables = {mapper.class_ for mapper in SQLModel._sa_registry.mappers}  # type: ignore[attr-defined]
    unclassified = {t.__name__ for t in tables} - {t.__name__ for t in (*ENTITIES, *RELATIONS, *NOT_EVENTS)}
    assert unclassified == set(), f"say whether changes to {unclassified} are events (prism/db/event_catalog.py)"
    for spec in ENTITIES.values():
        columns = set(spec.table.__table__.columns.keys())  # type: ignore[attr-defined]
        assert {*spec.fields, *spec.opaque, "id", spec.organization} <= columns, spec.name
        assert not set(spec.fields) & set(spec.opaque), spec.name
    for relation in RELATIONS.values():
        columns = set(relation.table.__table__.columns.keys())  # type: ignore[attr-defined]
        assert {relation.entity_key, relation.value_key, "organization_id"} <= columns
        assert relation.entity in ENTITIES


async def test_a_mutation_writes_its_event_in_its_transaction(account: Account, database_url: str) -> None:
    product = await create_product(account, name="Events")
    before = await last_sequence(database_url, account.organization_id)
    requirement = await create_requirement(account, product["id"], title="Export to CSV", estimate=3)

    [event] = await events_of(database_url, account.organization_id, before)
    assert (event["type"], event["action"], event["version"]) == ("Requirement", "create", 1)
    assert event["entity_id"] == uuid_of(requirement["id"])
    assert event["product_id"] == uuid_of(product["id"])
    assert event["actor_user_id"] == uuid_of(account.user_id)
    assert event["sequence"] == before + 1
    data = DomainEvent.from_message(_message(event)).payload["data"]
    assert data["title"] == "Export to CSV"
    assert data["estimate"] == 3.0  # a number, not "3.0"
    assert data["status"] == "BACKLOG"
    assert "description" not in data  # long texts are named when they change, never copied


def _message(row: asyncpg.Record) -> bytes:
    import orjson

    return orjson.dumps(
        {
            "organizationId": str(row["organization_id"]),
            "sequence": row["sequence"],
            "id": str(row["id"]),
            "type": row["type"],
            "action": row["action"],
            "version": row["version"],
            "entityId": str(row["entity_id"]),
            "productId": str(row["product_id"]) if row["product_id"] else None,
            "actorUserId": str(row["actor_user_id"]) if row["actor_user_id"] else None,
            "actorApiKeyId": None,
            "occurredAt": row["occurred_at"].isoformat(),
            "payload": orjson.loads(row["payload"]),
        }
    )


async def test_an_update_is_one_event_with_what_changed_and_what_it_was(account: Account, database_url: str) -> None:
    product = await create_product(account)
    label = await create_label(account)
    requirement = await create_requirement(account, product["id"], title="Old title")
    before = await last_sequence(database_url, account.organization_id)

    result = await account.run(
        UPDATE,
        {
            "input": {
                "id": requirement["id"],
                "version": requirement["version"],
                "title": "New title",
                "description": "A longer story",
                "labelIds": [label["id"]],
            }
        },
    )
    assert result.data["updateRequirement"]["userErrors"] == []

    [event] = await events_of(database_url, account.organization_id, before)
    payload = DomainEvent.from_message(_message(event)).payload
    assert (event["type"], event["action"]) == ("Requirement", "update")
    assert payload["changed"] == ["title", "description"]
    assert payload["updatedFrom"] == {"title": "Old title"}
    assert payload["data"]["title"] == "New title"
    assert payload["relations"] == {"labelIds": {"added": [str(uuid_of(label["id"]))], "removed": []}}


async def test_a_mutation_answering_user_errors_writes_no_event(account: Account, database_url: str) -> None:
    product = await create_product(account)
    requirement = await create_requirement(account, product["id"])
    before = await last_sequence(database_url, account.organization_id)
    stale = await account.run(UPDATE, {"input": {"id": requirement["id"], "version": 99, "title": "Lost"}})
    assert stale.data["updateRequirement"]["userErrors"] != []
    assert await events_of(database_url, account.organization_id, before) == []


@asynccontextmanager
async def event_fault(database_url: str, title: str) -> AsyncIterator[None]:
    """PostgreSQL refuses the event of a requirement titled `title`: the write of the log fails, not the change."""
    conn = await asyncpg.connect(database_url)
    name = f"prism_test_event_fault_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.payload -> 'data' ->> 'title' = '{title}' THEN RAISE EXCEPTION 'injected fault'; END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER {name} BEFORE INSERT ON event FOR EACH ROW EXECUTE FUNCTION {name}();
            """
        )
        yield
    finally:
        await conn.execute(f"DROP TRIGGER IF EXISTS {name} ON event; DROP FUNCTION IF EXISTS {name}()")
        await conn.close()


async def test_no_committed_change_without_its_event(account: Account, database_url: str) -> None:
    product = await create_product(account)
    title = f"fault-{uuid.uuid4().hex[:8]}"
    async with event_fault(database_url, title):
        result = await account.run(
            """mutation($input: CreateRequirementInput!) { createRequirement(input: $input) { requirement { id } } }""",
            {"input": {"productId": product["id"], "title": title, "kind": "STORY"}},
        )
    assert [error["extensions"]["code"] for error in result.errors] == ["INTERNAL_SERVER_ERROR"]
    conn = await asyncpg.connect(database_url)
    try:
        kept = await conn.fetchval("SELECT count(*) FROM requirement WHERE title = $1", title)
    finally:
        await conn.close()
    assert kept == 0
    # The product's numbering was not consumed either: the next requirement is number 1.
    assert (await create_requirement(account, product["id"]))["key"].endswith("-1")


async def test_sequences_have_no_gaps_and_follow_commit_order_under_concurrency(
    account: Account, database_url: str
) -> None:
    product = await create_product(account)
    before = await last_sequence(database_url, account.organization_id)
    await asyncio.gather(*(create_requirement(account, product["id"], title=f"Story {i}") for i in range(24)))
    events = await events_of(database_url, account.organization_id, before)
    assert [e["sequence"] for e in events] == list(range(before + 1, before + 25))
    # Numbers follow commit order: a later number never has an earlier requirement number in its product (the
    # product's counter row is locked by the same transactions in the same order).
    numbers = [DomainEvent.from_message(_message(e)).payload["data"]["number"] for e in events]
    assert numbers == sorted(numbers)


async def test_closing_a_sprint_is_an_event_for_the_sprint_and_each_requirement_it_moves(
    account: Account, database_url: str
) -> None:
    product = await create_product(account)
    sprint = await create_sprint(account, product["id"])
    stories = [await create_requirement(account, product["id"], sprintId=sprint["id"]) for _ in range(3)]
    started = await account(
        "mutation($i: StartSprintInput!) { startSprint(input: $i) { sprint { version } userErrors { code } } }",
        {"i": {"id": sprint["id"], "version": sprint["version"]}},
    )
    before = await last_sequence(database_url, account.organization_id)
    closed = await account(
        "mutation($i: CloseSprintInput!) { closeSprint(input: $i) { userErrors { code } } }",
        {"i": {"id": sprint["id"], "version": started["startSprint"]["sprint"]["version"]}},
    )
    assert closed["closeSprint"]["userErrors"] == []
    events = [
        DomainEvent.from_message(_message(e)) for e in await events_of(database_url, account.organization_id, before)
    ]
    by_type = sorted((e.type, e.action.value, str(e.entity_id)) for e in events)
    expected = sorted(
        [("Sprint", "update", str(uuid_of(sprint["id"])))]
        + [("Requirement", "update", str(uuid_of(s["id"]))) for s in stories]
    )
    assert by_type == expected
    for event in events:
        if event.type == "Requirement":
            assert event.payload["updatedFrom"] == {"sprintId": str(uuid_of(sprint["id"]))}
            assert event.payload["data"]["sprintId"] is None
        else:
            assert event.payload["data"]["state"] == "CLOSED"


async def test_a_bulk_write_to_an_event_table_is_refused(app: Starlette, account: Account) -> None:
    organization_id = uuid_of(account.organization_id)
    uow = UnitOfWork(app.state.runtime().engine, organization_id)
    try:
        with pytest.raises(BulkWriteRefusedError):
            async with uow.session(organization_id) as session:
                await session.exec(sa.update(Requirement).values(title="everything"))  # type: ignore[call-overload]
    finally:
        await uow.close()


async def test_committed_events_reach_the_broker_after_the_commit(app: Starlette, account: Account) -> None:
    runtime = app.state.runtime()
    product = await create_product(account)
    async with runtime.broker.subscribe(EVENTS_TOPIC) as messages:
        requirement = await create_requirement(account, product["id"], title="Live")
        received = await asyncio.wait_for(_next_of(messages, account.organization_id), timeout=10)
    assert (received.type, received.action.value, received.entity_id) == (
        "Requirement",
        "create",
        uuid_of(requirement["id"]),
    )


async def _next_of(messages: AsyncIterator[bytes], organization_id: str) -> DomainEvent:
    async for message in messages:
        event = DomainEvent.from_message(message)
        if event.organization_id == uuid_of(organization_id):
            return event
    raise AssertionError("the subscription ended")


class BrokenPublisher:
    async def __call__(self, events: Any) -> None:
        raise ConnectionError("Redis is down")


async def test_the_relay_publishes_what_a_broker_outage_left_behind(
    app: Starlette, account: Account, database_url: str
) -> None:
    runtime = app.state.runtime()
    product = await create_product(account)
    before = await last_sequence(database_url, account.organization_id)
    working, runtime.publisher = runtime.publisher, BrokenPublisher()
    try:
        # The broker is down: the change is kept and answered as usual, its events wait in the log.
        created = [await create_requirement(account, product["id"], title=f"During outage {i}") for i in range(3)]
    finally:
        runtime.publisher = working
    waiting = await events_of(database_url, account.organization_id, before)
    assert [e["published_at"] for e in waiting] == [None, None, None]

    broker = InProcessBroker()
    relay = OutboxRelay(runtime.engine, EventPublisher(broker), grace=timedelta(0))
    async with broker.subscribe(EVENTS_TOPIC) as messages:
        assert await relay.run_once(now=utcnow() + timedelta(seconds=1)) >= 3
        relayed = [await asyncio.wait_for(_next_of(messages, account.organization_id), 10) for _ in range(3)]
    assert [e.entity_id for e in relayed] == [uuid_of(r["id"]) for r in created]
    assert [e.sequence for e in relayed] == [before + 1, before + 2, before + 3]
    published = await events_of(database_url, account.organization_id, before)
    assert all(e["published_at"] is not None for e in published)
    assert await relay.run_once(now=utcnow() + timedelta(seconds=1)) == 0


async def test_the_relay_leaves_recent_events_to_the_commit_path(app: Starlette, account: Account) -> None:
    runtime = app.state.runtime()
    product = await create_product(account)
    working, runtime.publisher = runtime.publisher, BrokenPublisher()
    try:
        await create_requirement(account, product["id"])
    finally:
        runtime.publisher = working
    relay = OutboxRelay(runtime.engine, EventPublisher(InProcessBroker()), grace=timedelta(hours=1))
    organizations = await relay.backlog(utcnow() - timedelta(hours=1))
    assert uuid_of(account.organization_id) not in organizations


async def test_the_backlog_look_up_tells_organizations_and_nothing_else(app_database_url: str) -> None:
    conn = await asyncpg.connect(app_database_url)
    try:
        columns = await conn.fetch("SELECT * FROM prism_event_backlog(now() + interval '1 hour', 5)")
        # The server's role sees no event of any organization outside a scoped transaction.
        assert await conn.fetchval("SELECT count(*) FROM event") == 0
    finally:
        await conn.close()
    assert all(set(row.keys()) == {"prism_event_backlog"} and isinstance(row[0], uuid.UUID) for row in columns)


async def test_the_server_runs_the_relay_until_it_stops(settings: Any, database_url: str) -> None:
    async with app_with(settings, event_relay_interval_seconds=0.05, event_relay_grace_seconds=0) as http:
        runtime = http._transport.app.state.runtime()  # type: ignore[attr-defined]
        owner = await sign_up(GraphQLClient(http))
        working, runtime.publisher = runtime.publisher, BrokenPublisher()
        try:
            await create_product(owner)
        finally:
            runtime.publisher = working
        # The server's own relay task publishes it on one of its next passes (bounded wait, not a timing assertion).
        for _ in range(200):
            rows = await events_of(database_url, owner.organization_id)
            if rows and all(row["published_at"] is not None for row in rows):
                break
            await asyncio.sleep(0.05)
        assert rows
        assert all(row["published_at"] is not None for row in rows)


async def test_rows_a_delete_would_cascade_get_events_of_their_own(account: Account, database_url: str) -> None:
    product = await create_product(account)
    epic = await create_requirement(account, product["id"], title="Epic", kind="EPIC")
    roadmap = await create_roadmap(account, product["id"])
    item = await add_roadmap_item(account, roadmap["id"], requirementId=epic["id"])
    comment = await add_comment(account, requirementId=epic["id"])
    team = (await account('mutation { createTeam(input: {name: "Crew"}) { team { id } } }'))["createTeam"]["team"]
    role = await account(
        "mutation($i: SetProductRoleInput!) { setProductRole(input: $i) { productRole { id } userErrors { code } } }",
        {"i": {"productId": product["id"], "teamId": team["id"], "role": "VIEWER"}},
    )
    assert role["setProductRole"]["userErrors"] == []
    before = await last_sequence(database_url, account.organization_id)

    await account(
        "mutation($i: DeleteTeamInput!) { deleteTeam(input: $i) { deletedTeamId } }", {"i": {"id": team["id"]}}
    )
    await account(
        "mutation($i: DeleteRequirementInput!) { deleteRequirement(input: $i) { userErrors { code } } }",
        {"i": {"id": epic["id"], "version": epic["version"]}},
    )
    events = [
        DomainEvent.from_message(_message(e)) for e in await events_of(database_url, account.organization_id, before)
    ]
    seen = {(e.type, e.action.value, e.entity_id) for e in events}
    role_id = role["setProductRole"]["productRole"]["id"]  # not a Node: its id is the row's own
    assert ("ProductRole", "remove", uuid.UUID(role_id)) in seen
    assert ("Team", "remove", uuid_of(team["id"])) in seen
    assert ("Comment", "remove", uuid_of(comment["id"])) in seen
    assert ("RoadmapItem", "update", uuid_of(item["id"])) in seen
    assert ("Requirement", "remove", uuid_of(epic["id"])) in seen
    [detached] = [e for e in events if e.type == "RoadmapItem"]
    assert detached.payload["updatedFrom"] == {"requirementId": str(uuid_of(epic["id"]))}
    assert detached.product_id == uuid_of(product["id"])


async def test_deleting_a_roadmap_or_a_document_removes_its_items_and_comments_with_events(
    account: Account, database_url: str
) -> None:
    product = await create_product(account)
    roadmap = await create_roadmap(account, product["id"])
    item = await add_roadmap_item(account, roadmap["id"])
    document = await create_document(account, product["id"])
    comment = await add_comment(account, documentId=document["id"])
    before = await last_sequence(database_url, account.organization_id)
    await account(
        "mutation($i: DeleteRoadmapInput!) { deleteRoadmap(input: $i) { userErrors { code } } }",
        {"i": {"id": roadmap["id"], "version": roadmap["version"]}},
    )
    await account(
        "mutation($i: DeleteDocumentInput!) { deleteDocument(input: $i) { userErrors { code } } }",
        {"i": {"id": document["id"], "version": document["version"]}},
    )
    seen = {
        (e["type"], e["action"], e["entity_id"]) for e in await events_of(database_url, account.organization_id, before)
    }
    assert seen == {
        ("RoadmapItem", "remove", uuid_of(item["id"])),
        ("Roadmap", "remove", uuid_of(roadmap["id"])),
        ("Comment", "remove", uuid_of(comment["id"])),
        ("Document", "remove", uuid_of(document["id"])),
    }


async def test_the_log_is_trimmed_past_its_retention_but_never_of_unpublished_events(
    app: Starlette, account: Account, database_url: str
) -> None:
    runtime = app.state.runtime()
    product = await create_product(account)
    await create_requirement(account, product["id"])
    working, runtime.publisher = runtime.publisher, BrokenPublisher()
    try:
        waiting = await create_requirement(account, product["id"], title="Still owed to the broker")
    finally:
        runtime.publisher = working
    organization = uuid_of(account.organization_id)
    conn = await asyncpg.connect(database_url)
    try:  # this organization's events are ten days old; everyone else's are recent
        await conn.execute(
            "UPDATE event SET occurred_at = occurred_at - interval '10 days' WHERE organization_id = $1", organization
        )
    finally:
        await conn.close()
    relay = OutboxRelay(runtime.engine, EventPublisher(InProcessBroker()), retention=timedelta(days=1))
    assert await relay.trim(batch=2) >= 3  # in batches of 2, until none is left
    left = await events_of(database_url, account.organization_id)
    assert [(e["entity_id"], e["published_at"]) for e in left] == [(uuid_of(waiting["id"]), None)]
    with pytest.raises(CursorExpiredError, match="no longer kept"):
        async with runtime.hub.subscribe(organization, since=0):
            pass
