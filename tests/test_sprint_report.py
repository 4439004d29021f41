"""The sprint report's rules on their own (prism.domain.sprint_report), for cases the API cannot easily stage."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from prism.domain.enums import RequirementEventKind
from prism.domain.sprint_report import Change, Figure, sprint_report

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
CLOSE = START + timedelta(days=13)
SPRINT = uuid4()


def at(days: float) -> datetime:
    return START + timedelta(days=days)


def move(requirement: UUID, before: UUID | None, after: UUID | None, when: datetime) -> Change:
    return Change(
        requirement,
        RequirementEventKind.SPRINT,
        None if before is None else str(before),
        None if after is None else str(after),
        when,
    )


def estimate(requirement: UUID, before: str | None, after: str | None, when: datetime) -> Change:
    return Change(requirement, RequirementEventKind.ESTIMATE, before, after, when)


def status(requirement: UUID, before: str, after: str, when: datetime) -> Change:
    return Change(requirement, RequirementEventKind.STATUS, before, after, when)


def test_a_removed_requirement_counts_the_points_it_had_when_it_left() -> None:
    story = uuid4()
    changes = [
        estimate(story, None, "3", at(-2)),
        move(story, None, SPRINT, at(-1)),
        estimate(story, "3", "5", at(2)),
        move(story, SPRINT, None, at(3)),
        estimate(story, "5", "8", at(4)),
    ]
    report = sprint_report(SPRINT, START, CLOSE, {story: 3.0}, changes)
    assert report.committed == Figure((story,), 3.0)
    assert report.removed == Figure((story,), 5.0)
    assert report.carried_over == Figure()


def test_work_finished_at_the_very_moment_of_the_close_is_completed_and_the_close_s_moves_do_not_remove() -> None:
    done, open_story = uuid4(), uuid4()
    changes = [
        move(done, None, SPRINT, at(-1)),
        move(open_story, None, SPRINT, at(-1)),
        status(done, "IN_REVIEW", "DONE", CLOSE),
        move(open_story, SPRINT, None, CLOSE),  # the close carries it to the backlog
    ]
    report = sprint_report(SPRINT, START, CLOSE, {done: None, open_story: None}, changes)
    assert report.completed.requirement_ids == (done,)
    assert report.carried_over.requirement_ids == (open_story,)
    assert report.removed == Figure()
    assert report.as_of == CLOSE


def test_a_committed_requirement_without_recorded_moves_stays_in_the_sprint() -> None:
    story = uuid4()
    report = sprint_report(SPRINT, START, None, {story: 2.0}, [])
    assert report.committed == Figure((story,), 2.0)
    assert report.carried_over.requirement_ids == (story,)
    assert report.as_of is None


def test_other_sprints_moves_do_not_count() -> None:
    elsewhere, other_sprint = uuid4(), uuid4()
    changes = [move(elsewhere, None, other_sprint, at(1)), move(elsewhere, other_sprint, None, at(2))]
    report = sprint_report(SPRINT, START, CLOSE, {}, changes)
    assert (report.added, report.removed, report.carried_over) == (Figure(), Figure(), Figure())
