"""The demo a product manager believes: its rules, stated over the seeded database, and the builder's invariants."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from prism.config import Settings
from prism.db.tables import Sprint
from prism.domain.enums import RequirementEventKind, RequirementKind, RequirementStatus, Role
from prism.domain.workflow import can_transition, rolled_up_status
from prism.seed import DEMO_SLUG, DataBuilder, InvariantError, build_demo, demo_id, seed_demo
from prism.seed.artifacts import NEXT_HORIZON
from prism.seed.catalogue import labels_for

ORGANIZATION = demo_id(DEMO_SLUG)
S = RequirementStatus


class Demo:
    """A demo organization's rows by table, the day it is dated from, and the moment it is looked at."""

    def __init__(self, tables: dict[str, list[dict[str, Any]]], today: date, now: datetime) -> None:
        self.tables = tables
        self.today = today
        self.now = now
        self.requirements = {r["id"]: r for r in tables["requirement"]}

    def __getitem__(self, table: str) -> list[dict[str, Any]]:
        return self.tables[table]

    def children(self, parent_id: Any) -> list[dict[str, Any]]:
        return [r for r in self["requirement"] if r["parent_id"] == parent_id]

    def events(self, requirement_id: Any, kind: str | None = None) -> list[dict[str, Any]]:
        found = [e for e in self["requirement_event"] if e["requirement_id"] == requirement_id]
        return sorted(
            (e for e in found if kind is None or e["kind"] == kind),
            key=lambda e: (e["created_at"], e["kind"] != "CREATED"),
        )


TABLES = (
    "membership",
    "team",
    "product",
    "requirement",
    "requirement_event",
    "requirement_label",
    "label",
    "sprint",
    "sprint_commitment",
    "release",
    "roadmap",
    "roadmap_item",
    "document",
    "document_version",
    "comment",
    "feature",
    "usage_event",
)


_SELECT = "SELECT * FROM {table} WHERE organization_id = $1"


async def _seeded(settings: Settings) -> Demo:
    """The demo `prism seed --demo` wrote to the test database, read as the database's owner."""
    assert settings.database_admin_url is not None
    await seed_demo(settings.database_admin_url)  # or finds the one an earlier test seeded
    conn = await asyncpg.connect(settings.database_admin_url)
    try:
        tables = {
            table: [dict(row) for row in await conn.fetch(_SELECT.format(table=table), ORGANIZATION)]
            for table in TABLES
        }
        joined = await conn.fetchval("SELECT created_at FROM organization WHERE id = $1", ORGANIZATION)
    finally:
        await conn.close()
    # The demo is dated from the moment it was seeded: the organization was founded 75 days before that day.
    return Demo(tables, joined.date() + timedelta(days=75), datetime.now(UTC))


def _built(now: datetime, seed: int) -> Demo:
    """The demo as the builder makes it for another moment and seed, before any database."""
    builder = build_demo(now, "hash", seed)
    tables = {table.__tablename__: [row.model_dump() for row in rows] for table, rows in builder.rows.items()}  # type: ignore[attr-defined]
    return Demo(tables, now.date(), now)


@pytest.fixture(
    scope="module",
    params=["seeded today", "built on 29 February 2028 from seed 7", "built on 1 January 2027 from seed 1"],
)
async def demo(request: pytest.FixtureRequest, settings: Settings) -> Demo:
    """The same rules hold for the seeded demo and for the demo of other days and seeds."""
    if request.param == "seeded today":
        return await _seeded(settings)
    if request.param.endswith("seed 7"):
        return _built(datetime(2028, 2, 29, 8, 5, tzinfo=UTC), 7)
    return _built(datetime(2027, 1, 1, 23, 59, tzinfo=UTC), 1)


def test_the_demo_has_three_products_with_their_work(demo: Demo) -> None:
    assert sorted(p["key"] for p in demo["product"]) == ["BILLING", "MOBILE", "PRISM"]
    kinds: dict[str, int] = defaultdict(int)
    for requirement in demo["requirement"]:
        kinds[requirement["kind"]] += 1
    assert kinds == {"EPIC": 6, "FEATURE": 11, "STORY": 25, "TASK": 4, "BUG": 4}


def test_the_released_release_holds_only_done_work_finished_before_its_date(demo: Demo) -> None:
    released = [r for r in demo["release"] if r["state"] == "RELEASED"]
    assert len(released) == 3
    for release in released:
        contents = [r for r in demo["requirement"] if r["release_id"] == release["id"]]
        assert len(contents) >= 2, release["name"]
        for requirement in contents:
            assert requirement["status"] == "DONE", requirement["title"]
            assert requirement["completed_at"] < release["released_at"], requirement["title"]
            assert requirement["completed_at"].date() <= release["target_date"]
        assert release["released_at"].date() < demo.today
    for release in demo["release"]:
        if release["state"] != "RELEASED":
            assert release["target_date"] > demo.today
            assert release["released_at"] is None


def test_epics_and_features_show_the_state_their_children_roll_up_to(demo: Demo) -> None:
    parents = [r for r in demo["requirement"] if r["kind"] in ("EPIC", "FEATURE")]
    assert parents
    for parent in parents:
        children = demo.children(parent["id"])
        assert children, parent["title"]
        assert parent["status"] == rolled_up_status(S(c["status"]) for c in children), parent["title"]
        if parent["status"] == "DONE":
            assert parent["completed_at"] == max(c["completed_at"] for c in children)
    assert {p["status"] for p in parents} >= {"DONE", "IN_PROGRESS", "BACKLOG"}


def test_every_product_runs_exactly_one_active_sprint_with_work_in_progress(demo: Demo) -> None:
    for product in demo["product"]:
        sprints = [s for s in demo["sprint"] if s["product_id"] == product["id"]]
        active = [s for s in sprints if s["state"] == "ACTIVE"]
        assert len(active) == 1, product["key"]
        sprint = active[0]
        assert sprint["starts_on"] <= demo.today <= sprint["ends_on"]
        holding = [r for r in demo["requirement"] if r["sprint_id"] == sprint["id"]]
        assert any(r["status"] == "IN_PROGRESS" for r in holding), product["key"]
        closed = [s for s in sprints if s["state"] == "CLOSED"]
        assert len(closed) == 3
        for done in closed:
            assert done["ends_on"] < demo.today
            # Closing moved the unfinished work on: what a closed sprint still holds is finished.
            assert all(r["status"] in ("DONE", "CANCELED") for r in demo["requirement"] if r["sprint_id"] == done["id"])
            assert any(c["sprint_id"] == done["id"] for c in demo["sprint_commitment"])
        assert all(s["started_at"] is None for s in sprints if s["state"] == "PLANNED")


def test_each_active_sprint_burns_down_over_several_days_until_yesterday(demo: Demo) -> None:
    for sprint in (s for s in demo["sprint"] if s["state"] == "ACTIVE"):
        committed = [c for c in demo["sprint_commitment"] if c["sprint_id"] == sprint["id"]]
        assert committed, sprint["name"]
        assert all(c["created_at"] == sprint["started_at"] for c in committed)
        moved = {
            e["created_at"].date()
            for c in committed
            for e in demo.events(c["requirement_id"], "STATUS")
            if e["created_at"] >= sprint["started_at"]
        }
        assert len(moved) >= 2, sprint
        assert max(moved) < demo.today


def test_history_replays_to_every_requirement_as_it_is_now_and_nothing_is_dated_in_the_future(demo: Demo) -> None:
    now = demo.now
    for requirement in demo["requirement"]:
        events = demo.events(requirement["id"])
        assert events[0]["kind"] == "CREATED"
        status = S.BACKLOG
        for event in demo.events(requirement["id"], "STATUS"):
            assert event["from_value"] == status.value
            assert can_transition(status, S(event["to_value"])), requirement["title"]
            status = S(event["to_value"])
        assert status.value == requirement["status"]
        sprints = demo.events(requirement["id"], "SPRINT")
        assert (sprints[-1]["to_value"] if sprints else None) == (
            str(requirement["sprint_id"]) if requirement["sprint_id"] else None
        )
        assert all(e["created_at"] < now for e in events)
        assert requirement["updated_at"] == events[-1]["created_at"]
    for product in demo["product"]:
        numbers = [r["number"] for r in demo["requirement"] if r["product_id"] == product["id"]]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
        assert product["next_number"] == len(numbers) + 1  # the next requirement created through the API fits


def test_nothing_in_the_demo_is_dated_after_the_moment_it_describes(demo: Demo) -> None:
    for table, rows in demo.tables.items():
        for row in rows:
            for column in ("created_at", "updated_at", "started_at", "completed_at", "closed_at", "released_at"):
                value = row.get(column)
                assert value is None or value < demo.now, (table, column, row)
            if "updated_at" in row:
                assert row["updated_at"] >= row["created_at"], (table, row)


def test_the_roadmap_lanes_match_today(demo: Demo) -> None:
    assert len(demo["roadmap"]) == 3
    lanes: dict[str, int] = defaultdict(int)
    for item in demo["roadmap_item"]:
        requirement = demo.requirements[item["requirement_id"]]
        lane, starts, ends = item["lane"], item["starts_on"], item["ends_on"]
        lanes[lane] += 1
        assert starts <= ends
        if lane == "Done":
            assert requirement["status"] == "DONE"
            assert ends < demo.today
        else:
            assert requirement["status"] != "DONE", requirement["title"]
        if lane == "Now":
            assert starts <= demo.today <= ends, requirement["title"]
        if lane == "Next":
            assert demo.today < starts <= demo.today + NEXT_HORIZON
        if lane == "Later":
            assert starts > demo.today + NEXT_HORIZON
    assert lanes["Done"] > 0
    assert lanes["Now"] > 0
    assert lanes["Next"] > 0


def test_every_product_has_several_documents_with_their_versions(demo: Demo) -> None:
    for product in demo["product"]:
        documents = [d for d in demo["document"] if d["product_id"] == product["id"]]
        assert sorted(d["kind"] for d in documents) == ["NOTE", "PRD", "SPEC"]
        for document in documents:
            versions = sorted(
                (v for v in demo["document_version"] if v["document_id"] == document["id"]), key=lambda v: v["number"]
            )
            assert [v["number"] for v in versions] == list(range(1, document["version"] + 1))
            assert versions[-1]["body"] == document["body"]
            assert document["body"].startswith(f"# {document['title']}")
            assert document["created_at"].date() < demo.today
    assert any(d["version"] >= 2 for d in demo["document"])


def test_labels_descriptions_and_acceptance_criteria_fit_their_items(demo: Demo) -> None:
    label_names = {label["id"]: label["name"] for label in demo["label"]}
    labels = defaultdict(set)
    for link in demo["requirement_label"]:
        labels[link["requirement_id"]].add(label_names[link["label_id"]])
    for requirement in demo["requirement"]:
        title = requirement["title"]
        # Each item carries exactly the labels whose words its title uses.
        assert labels[requirement["id"]] == {label.name for label in labels_for(title)}, title
        kind = requirement["kind"]
        if kind == "STORY":
            assert f"I want to {title[0].lower()}{title[1:]} so that" in requirement["description"]
            assert requirement["acceptance_criteria"].startswith("- [ ] ")
        if kind == "BUG":
            assert requirement["description"].startswith("Steps to reproduce: ")
            assert requirement["priority"] == "HIGH"
        if kind in ("STORY", "TASK", "BUG"):
            parent = demo.requirements[requirement["parent_id"]]
            assert parent["title"] in requirement["description"]
            assert requirement["estimate"] is not None
            assert requirement["assignee_id"] is not None
    assert sum(1 for r in demo["requirement"] if labels[r["id"]]) >= 25


def test_comments_follow_the_work_they_discuss(demo: Demo) -> None:
    now = demo.now
    on_requirements = [c for c in demo["comment"] if c["requirement_id"] is not None]
    assert len(on_requirements) >= 15
    for comment in on_requirements:
        requirement = demo.requirements[comment["requirement_id"]]
        assert f'"{requirement["title"]}"' in comment["body"]
        assert requirement["created_at"] < comment["created_at"] < now
        if comment["body"].startswith("Demoed"):
            assert requirement["completed_at"] is not None
            assert requirement["completed_at"] < comment["created_at"]
        if comment["body"].startswith("Started on"):
            assert requirement["started_at"] < comment["created_at"]
    documents = {d["id"]: d for d in demo["document"]}
    on_documents = [c for c in demo["comment"] if c["document_id"] is not None]
    assert len(on_documents) == 9
    for comment in on_documents:
        document = documents[comment["document_id"]]
        subject = document["title"].removesuffix(" PRD").removesuffix(" spec").removesuffix(" retrospective")
        assert subject in comment["body"]
        assert document["created_at"] < comment["created_at"] < now


def _rows(builder: DataBuilder) -> list[tuple[str, dict[str, Any]]]:
    return [(table.__name__, row.model_dump()) for table, rows in builder.rows.items() for row in rows]


def test_every_product_has_features_shipped_by_done_work_and_used_only_since_their_launch(demo: Demo) -> None:
    products = {p["id"]: p for p in demo["product"]}
    features = {f["id"]: f for f in demo["feature"]}
    assert {f["product_id"] for f in features.values()} == set(products)
    shipped = [f for f in features.values() if f["requirement_id"] is not None]
    assert shipped, "some feature names the requirement that shipped it"
    for feature in shipped:
        requirement = demo.requirements[feature["requirement_id"]]
        assert (requirement["product_id"], requirement["kind"], requirement["status"]) == (
            feature["product_id"],
            "FEATURE",
            "DONE",
        )
        assert feature["created_at"] == requirement["completed_at"]
    events = demo["usage_event"]
    assert len({e["event_id"] for e in events}) == len(events)
    used = defaultdict(set)
    for event in events:
        feature = features[event["feature_id"]]
        assert event["product_id"] == feature["product_id"]
        assert feature["created_at"] <= event["occurred_at"] < demo.now
        used[event["feature_id"]].add(event["user_key"])
    # The board is nearly everyone's; shipped features are used by some of their product's 40 users (one shipped
    # in the last days may not be used yet).
    assert all(len(used[f["id"]]) >= 20 for f in features.values() if f["key"] == "board")
    assert all(len(used[f["id"]]) <= 40 for f in features.values())
    assert any(used[f["id"]] for f in shipped)


def test_the_demo_is_the_same_for_the_same_seed_and_moment_and_moves_with_the_clock() -> None:
    moment = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
    first, again = build_demo(moment, "hash"), build_demo(moment, "hash")
    assert _rows(first) == _rows(again)
    assert _rows(build_demo(moment, "hash", seed=7)) != _rows(first)

    later = build_demo(moment + timedelta(days=10), "hash")
    before = [(s.name, s.state, s.starts_on) for s in first.all(Sprint)]
    after = [(s.name, s.state, s.starts_on) for s in later.all(Sprint)]
    assert [(n, st, d + timedelta(days=10) if d else d) for n, st, d in before] == after


def test_the_builder_refuses_what_the_services_refuse() -> None:
    from uuid import uuid4

    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    b = DataBuilder(organization_id=uuid4())
    user = b.user("Ada", "ada@example.com", None, at)
    b.member(user.id, Role.OWNER, at)
    product = b.product("P", "Product", "", at)
    story = b.requirement(product, RequirementKind.STORY, "A story", at=at, reporter_id=user.id)
    with pytest.raises(InvariantError):
        b.requirement(product, RequirementKind.EPIC, "An epic under a story", at=at, reporter_id=user.id, parent=story)
    with pytest.raises(InvariantError):
        b.transition(story, S.DONE, at, user.id)  # work is started before it is done
    first, second = b.sprint(product, "One", at=at), b.sprint(product, "Two", at=at)
    b.change(story, RequirementEventKind.SPRINT, first.id, at, user.id)
    assert [c.requirement_id for c in b.start(first, at)] == [story.id]
    with pytest.raises(InvariantError):
        b.start(second, at)  # one active sprint per product
    assert b.close(first, at + timedelta(days=14), move_to=second, actor_id=user.id) == [story]
    assert story.sprint_id == second.id
    assert product.next_number == 2
