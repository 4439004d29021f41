"""A closed sprint's figures, stored by its close (prism.domain.sprint_figures): what velocity and carry-over read.

Each test checks the stored row against the replay of the sprint's history with the report's and carry-over's rules
(prism.db.sprint_history, the one reading both use) and against figures worked out by hand.
"""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from starlette.applications import Starlette

from prism.db.sprint_history import load_sprint_inputs
from prism.db.tables import Sprint, SprintFigures
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.domain.sprint_figures import Points, sprint_figures
from prism.domain.sprint_figures import SprintFigures as Figures
from tests.helpers import Account, assert_not_found, create_product, create_requirement, create_sprint, uuid_of
from tests.test_sprints import CLOSE, edit, finish, start

FIGURES = SprintFigures.__table__  # type: ignore[attr-defined]
SPRINTS = Sprint.__table__  # type: ignore[attr-defined]

ANALYTICS = """query($id: ID!) {
  product(id: $id) {
    velocity { sprints { sprint { name } committedPoints completedPoints } meanCompletedPoints
               completedPointsStandardDeviation }
    carryOver {
      sprints { sprint { name } carriedOver { count points } movedTo { name } movedToNextSprint { count points }
                movedToBacklog { count points } carriedIn { count points } }
      carriedOver { count points }
    }
  }
}"""


def stored(row: Any) -> Figures:
    def points(name: str) -> Points:
        return Points(getattr(row, f"{name}_count"), getattr(row, f"{name}_points"))

    return Figures(
        sprint_id=row.sprint_id,
        committed=points("committed"),
        added=points("added"),
        removed=points("removed"),
        completed=points("completed"),
        canceled=points("canceled"),
        carried_over=points("carried_over"),
        moved_to_sprint_id=row.moved_to_sprint_id,
        moved_to_sprint=points("moved_to_sprint"),
        moved_to_backlog=points("moved_to_backlog"),
        carried_in=points("carried_in"),
    )


async def stored_figures(app: Starlette, organization_id: UUID) -> dict[UUID, Figures]:
    """The organization's stored sprint figures, read as the server reads (its role, its organization's scope)."""
    async with UnitOfWork(app.state.runtime().engine, organization_id) as uow:
        return {row.sprint_id: stored(row) for row in await uow.all(tenant_select(FIGURES, organization_id))}


async def replayed(app: Starlette, organization_id: UUID, sprint_id: UUID) -> Figures:
    """A closed sprint's figures replayed from its history now."""
    async with UnitOfWork(app.state.runtime().engine, organization_id) as uow:
        [sprint] = await uow.all(
            tenant_select(SPRINTS, organization_id, SPRINTS.c.started_at, SPRINTS.c.closed_at).where(
                SPRINTS.c.id == sprint_id
            )
        )
        inputs = await load_sprint_inputs(uow, organization_id, [sprint_id])
    commitments, changes = inputs.grouped_of(sprint_id)
    return sprint_figures(sprint_id, sprint.started_at, sprint.closed_at, commitments, changes)


async def two_closed_sprints(account: Account) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Sprint 1 commits A 3, B 5, C 2 and E 4 (14 points); B is re-estimated to 8 and done, A done, C canceled, D (1)
    added and done; its close moves E to Sprint 2, which starts with E and closes with it unfinished (to the
    backlog)."""
    product = await create_product(account)
    first = await create_sprint(account, product["id"], name="Sprint 1")
    second = await create_sprint(account, product["id"], name="Sprint 2")
    a, b, c, _ = [
        await create_requirement(account, product["id"], title=title, sprintId=first["id"], estimate=points)
        for title, points in (("A", 3), ("B", 5), ("C", 2), ("E", 4))
    ]
    first = await start(account, first)
    await finish(account, a)
    b = await edit(account, b, estimate=8)
    await finish(account, b)
    await finish(account, c, "CANCELED")
    d = await create_requirement(account, product["id"], title="D", sprintId=first["id"], estimate=1)
    await finish(account, d)
    closed = await account(
        CLOSE, {"input": {"id": first["id"], "version": first["version"], "moveUnfinishedTo": second["id"]}}
    )
    assert closed["closeSprint"]["userErrors"] == [], closed
    second = await start(account, await _latest_sprint(account, second))
    closed = await account(CLOSE, {"input": {"id": second["id"], "version": second["version"]}})
    assert closed["closeSprint"]["userErrors"] == [], closed
    assert closed["closeSprint"]["movedCount"] == 1  # E
    return product, first, second


async def _latest_sprint(account: Account, sprint: dict[str, Any]) -> dict[str, Any]:
    found = await account("query($id: ID!) { sprint(id: $id) { id version } }", {"id": sprint["id"]})
    return sprint | found["sprint"]  # type: ignore[no-any-return]


async def test_closing_a_sprint_stores_its_figures_as_its_history_replays_them(
    app: Starlette, account: Account
) -> None:
    _, first, second = await two_closed_sprints(account)
    organization_id = uuid_of(account.organization_id)
    one, two = uuid_of(first["id"]), uuid_of(second["id"])
    found = await stored_figures(app, organization_id)
    assert set(found) == {one, two}
    assert found[one] == await replayed(app, organization_id, one)
    assert found[two] == await replayed(app, organization_id, two)
    assert found[one] == Figures(
        sprint_id=one,
        committed=Points(4, 14),
        added=Points(1, 1),
        removed=Points(0, 0),
        completed=Points(3, 12),  # A 3, B at its new 8, D 1
        canceled=Points(1, 2),
        carried_over=Points(1, 4),
        moved_to_sprint_id=two,
        moved_to_sprint=Points(1, 4),
        moved_to_backlog=Points(0, 0),
        carried_in=Points(0, 0),
    )
    assert found[two] == Figures(
        sprint_id=two,
        committed=Points(1, 4),
        added=Points(0, 0),
        removed=Points(0, 0),
        completed=Points(0, 0),
        canceled=Points(0, 0),
        carried_over=Points(1, 4),
        moved_to_sprint_id=None,
        moved_to_sprint=Points(0, 0),
        moved_to_backlog=Points(1, 4),
        carried_in=Points(1, 4),
    )


async def test_a_refused_close_stores_no_figures(app: Starlette, account: Account) -> None:
    product = await create_product(account)
    sprint = await start(account, await create_sprint(account, product["id"]))
    await create_requirement(account, product["id"], sprintId=sprint["id"], estimate=3)
    data = await account(
        CLOSE, {"input": {"id": sprint["id"], "version": sprint["version"], "moveUnfinishedTo": sprint["id"]}}
    )
    assert data["closeSprint"]["sprint"] is None
    assert await stored_figures(app, uuid_of(account.organization_id)) == {}


async def test_another_organization_sees_none_of_a_sprints_figures(
    app: Starlette, account: Account, other_account: Account
) -> None:
    product, _, _ = await two_closed_sprints(account)
    assert len(await stored_figures(app, uuid_of(account.organization_id))) == 2
    # Row-level security: the other organization's scope reads none of them, even naming them.
    assert await stored_figures(app, uuid_of(other_account.organization_id)) == {}
    async with UnitOfWork(app.state.runtime().engine, uuid_of(other_account.organization_id)) as uow:
        assert await uow.scalar(sa.text("SELECT count(*) FROM sprint_figures")) == 0  # unscoped: RLS is the test
    await assert_not_found(other_account, ANALYTICS, {"id": product["id"]}, "product")


async def test_velocity_and_carry_over_read_the_stored_figures_and_replay_a_sprint_without_them(
    app: Starlette, account: Account
) -> None:
    product, _, _ = await two_closed_sprints(account)
    answer = (await account(ANALYTICS, {"id": product["id"]}))["product"]
    assert answer["velocity"] == {
        "sprints": [
            {"sprint": {"name": "Sprint 1"}, "committedPoints": 14, "completedPoints": 12},
            {"sprint": {"name": "Sprint 2"}, "committedPoints": 4, "completedPoints": 0},
        ],
        "meanCompletedPoints": 6,
        "completedPointsStandardDeviation": 6,
    }
    assert [s["movedTo"] for s in answer["carryOver"]["sprints"]] == [{"name": "Sprint 2"}, None]
    assert answer["carryOver"]["carriedOver"] == {"count": 2, "points": 8}
    # Sprints whose figures were never stored (rows written around the services) answer the same, from history.
    organization_id = uuid_of(account.organization_id)
    async with UnitOfWork(app.state.runtime().engine, organization_id) as uow, uow.session(organization_id) as s:
        await s.exec(sa.delete(FIGURES).where(FIGURES.c.organization_id == organization_id))  # type: ignore[call-overload]
    assert await stored_figures(app, organization_id) == {}
    assert (await account(ANALYTICS, {"id": product["id"]}))["product"] == answer
