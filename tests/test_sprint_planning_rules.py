"""The sprint plan's selection rules (prism.domain.sprint_planning): exact, deterministic, no database."""

from prism.domain.sprint_planning import Candidate, LeftOut, LeftOutReason, Risk, plan_sprint


def story(name: str, points: float | None, **fields: object) -> Candidate:
    return Candidate(id=name, kind=str(fields.pop("kind", "STORY")), estimate=points, **fields)  # type: ignore[arg-type]


def test_the_ranked_backlog_is_taken_in_order_while_it_fits_and_smaller_items_fill_the_rest() -> None:
    plan = plan_sprint([story("a", 5), story("b", 8), story("c", 3), story("d", 2)], capacity=10)
    assert [item.id for item in plan.items] == ["a", "c", "d"]
    assert plan.planned_points == 10
    assert plan.left_out == (LeftOut("b", LeftOutReason.OVER_CAPACITY),)


def test_items_already_in_the_sprint_use_capacity_first() -> None:
    plan = plan_sprint([story("held", 6, in_sprint=True), story("a", 5), story("b", 4)], capacity=10)
    assert plan.already_planned == 6
    assert [item.id for item in plan.items] == ["b"]
    assert [out.id for out in plan.left_out] == ["a"]


def test_an_epic_is_never_planned_as_work_but_its_stories_are() -> None:
    plan = plan_sprint(
        [story("epic", 40, kind="EPIC", children=("s1", "s2")), story("s1", 3), story("s2", 5)], capacity=20
    )
    assert [item.id for item in plan.items] == ["s1", "s2"]
    assert plan.left_out == (LeftOut("epic", LeftOutReason.CONTAINER),)


def test_a_parent_comes_after_its_children_and_only_with_all_of_them() -> None:
    # The story is ranked above its tasks: they are pulled in before it.
    plan = plan_sprint([story("story", 2, children=("t1", "t2")), story("t1", 1), story("t2", 1)], capacity=10)
    assert [(item.id, item.pulled_in_by) for item in plan.items] == [("t1", "story"), ("t2", "story"), ("story", None)]
    # Not all of it fits: none of the group is planned, and its children alone still may be.
    tight = plan_sprint([story("story", 5, children=("t1",)), story("t1", 4)], capacity=6)
    assert [item.id for item in tight.items] == ["t1"]
    assert tight.left_out == (LeftOut("story", LeftOutReason.OVER_CAPACITY),)


def test_a_child_in_another_sprint_keeps_its_parent_waiting() -> None:
    plan = plan_sprint([story("story", 2, children=("elsewhere",)), story("b", 1)], capacity=10)
    assert [item.id for item in plan.items] == ["b"]
    assert plan.left_out == (LeftOut("story", LeftOutReason.WAITING, "elsewhere"),)


def test_a_blocked_item_is_planned_after_its_blocker_and_flagged() -> None:
    plan = plan_sprint([story("blocked", 3, blocked_by=("blocker",)), story("x", 2), story("blocker", 2)], capacity=7)
    assert [item.id for item in plan.items] == ["blocker", "blocked", "x"]
    risks = {item.id: item.risks for item in plan.items}
    assert risks == {"blocker": (), "blocked": (Risk.BLOCKED,), "x": ()}
    # A blocker that cannot be planned (in another sprint) leaves the blocked item out; a cycle too.
    waiting = plan_sprint([story("blocked", 3, blocked_by=("gone",))], capacity=7)
    assert waiting.items == ()
    assert waiting.left_out == (LeftOut("blocked", LeftOutReason.WAITING, "gone"),)
    cycle = plan_sprint([story("a", 1, blocked_by=("b",)), story("b", 1, blocked_by=("a",))], capacity=7)
    assert cycle.items == ()
    assert [out.reason for out in cycle.left_out] == [LeftOutReason.WAITING, LeftOutReason.WAITING]


def test_unestimated_and_oversized_items_are_flagged() -> None:
    plan = plan_sprint([story("big", 6), story("unknown", None), story("small", 5)], capacity=11)
    assert [(item.id, item.points, item.risks) for item in plan.items] == [
        ("big", 6, (Risk.OVER_HALF_CAPACITY,)),
        ("unknown", 0, (Risk.UNESTIMATED,)),
        ("small", 5, ()),
    ]


def test_the_same_backlog_gives_the_same_plan() -> None:
    backlog = [story(f"s{i}", (i * 7) % 5 + 1) for i in range(30)]
    assert plan_sprint(backlog, 20) == plan_sprint(list(backlog), 20)
    assert plan_sprint(backlog, 20).planned_points <= 20
