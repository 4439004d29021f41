"""Delivery analytics' rules (prism.domain.velocity, prism.domain.flow) on constructed histories, with figures
computed by hand."""

import uuid
from datetime import UTC, date, datetime, timedelta

from prism.domain.enums import RequirementEventKind as K
from prism.domain.flow import finished_requirements, percentiles, throughput
from prism.domain.sprint_report import Change, sprint_report
from prism.domain.velocity import velocity

FIRST, SECOND = uuid.uuid4(), uuid.uuid4()
START = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday
CLOSE = START + timedelta(days=13)
SECOND_START = CLOSE + timedelta(hours=1)
SECOND_CLOSE = SECOND_START + timedelta(days=13)


def at(days: float, start: datetime = START) -> datetime:
    return start + timedelta(days=days)


def status(requirement: uuid.UUID, before: str, after: str, when: datetime) -> Change:
    return Change(requirement, K.STATUS, before, after, when)


def planned(requirement: uuid.UUID, points: float, sprint: uuid.UUID = FIRST) -> list[Change]:
    before = START - timedelta(days=1)
    return [
        Change(requirement, K.CREATED, None, "TODO", before),
        Change(requirement, K.ESTIMATE, None, str(points), before),
        Change(requirement, K.SPRINT, None, str(sprint), before),
    ]


def two_sprints() -> tuple[list[Change], dict[uuid.UUID, float | None], dict[uuid.UUID, float | None]]:
    """Sprint one commits a, b, d, e, f (18 points) and adds c; sprint two starts with e and f carried over."""
    a, b, c, d, e, f = (uuid.uuid4() for _ in range(6))
    changes = [*planned(a, 3), *planned(b, 5), *planned(d, 3), *planned(e, 5), *planned(f, 2)]
    changes += [status(a, "TODO", "DONE", at(2))]
    changes += [Change(b, K.ESTIMATE, "5", "8", at(3)), status(b, "TODO", "DONE", at(5))]  # estimate changed
    changes += [  # scope added mid-sprint and finished
        Change(c, K.CREATED, None, "TODO", at(4)),
        Change(c, K.ESTIMATE, None, "2", at(4)),
        Change(c, K.SPRINT, None, str(FIRST), at(4)),
        status(c, "TODO", "DONE", at(6)),
    ]
    changes += [status(d, "TODO", "CANCELED", at(7))]  # canceled
    changes += [status(e, "TODO", "IN_PROGRESS", at(1))]  # unfinished: carried over
    changes += [status(f, "TODO", "DONE", at(1)), status(f, "DONE", "IN_PROGRESS", at(8))]  # reopened after DONE
    changes += [
        Change(e, K.SPRINT, str(FIRST), str(SECOND), CLOSE),
        Change(f, K.SPRINT, str(FIRST), str(SECOND), CLOSE),
    ]
    changes += [
        status(f, "IN_PROGRESS", "DONE", at(2, SECOND_START)),
        status(e, "IN_PROGRESS", "DONE", at(3, SECOND_START)),
    ]
    changes.sort(key=lambda change: change.at)
    return changes, {a: 3, b: 5, d: 3, e: 5, f: 2}, {e: 5, f: 2}


def test_velocity_counts_committed_and_completed_points_as_the_sprint_reports_do() -> None:
    changes, first_commitments, second_commitments = two_sprints()
    first = sprint_report(FIRST, START, CLOSE, first_commitments, changes)
    second = sprint_report(SECOND, SECOND_START, SECOND_CLOSE, second_commitments, changes)
    found = velocity([(FIRST, first), (SECOND, second)])
    # First: committed 3+5+3+5+2 = 18; completed a (3) + b at its new estimate (8) + c added mid-sprint (2) = 13.
    # The reopened f and the unfinished e are carried over; the canceled d counts in neither.
    # Second: committed e and f (7), both completed (7).
    assert [(s.sprint_id, s.committed, s.completed) for s in found.sprints] == [(FIRST, 18, 13), (SECOND, 7, 7)]
    assert found.mean_completed == 10
    assert found.standard_deviation == 3


def test_velocity_of_no_sprints_has_no_mean() -> None:
    found = velocity([])
    assert (found.sprints, found.mean_completed, found.standard_deviation) == ((), None, None)


def test_an_item_reopened_after_done_counts_from_its_last_done_and_a_canceled_one_not_at_all() -> None:
    reopened, canceled, straight = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    changes = [
        Change(reopened, K.CREATED, None, "TODO", at(0)),
        status(reopened, "TODO", "IN_PROGRESS", at(1)),
        status(reopened, "IN_PROGRESS", "DONE", at(2)),
        status(reopened, "DONE", "IN_PROGRESS", at(3)),
        status(reopened, "IN_PROGRESS", "DONE", at(5)),
        Change(canceled, K.CREATED, None, "TODO", at(0)),
        status(canceled, "TODO", "IN_PROGRESS", at(1)),
        status(canceled, "IN_PROGRESS", "CANCELED", at(2)),
        Change(straight, K.CREATED, None, "TODO", at(0)),
        status(straight, "TODO", "DONE", at(4)),  # never IN_PROGRESS: a lead time, no cycle time
    ]
    found = finished_requirements(changes)
    assert [item.requirement_id for item in found] == [straight, reopened]
    by_id = {item.requirement_id: item for item in found}
    assert by_id[reopened].cycle_time == timedelta(days=4)
    assert by_id[reopened].lead_time == timedelta(days=5)
    assert by_id[straight].cycle_time is None
    assert by_id[straight].lead_time == timedelta(days=4)


def test_percentiles_take_the_nearest_rank() -> None:
    hours = [timedelta(hours=h) for h in range(20, 0, -1)]
    found = percentiles([*hours, None])
    # Of 20 sorted durations: p50 is the 10th, p85 the 17th, p95 the 19th.
    assert (found.count, found.p50, found.p85, found.p95) == (
        20,
        timedelta(hours=10),
        timedelta(hours=17),
        timedelta(hours=19),
    )
    assert percentiles([timedelta(hours=3)]).p95 == timedelta(hours=3)
    assert percentiles([]).p50 is None


def test_throughput_counts_finished_items_per_iso_week_with_empty_weeks() -> None:
    changes, _, _ = two_sprints()
    found = throughput(finished_requirements(changes), weeks=5, now=datetime(2026, 3, 30, 12, tzinfo=UTC))
    # a (Mar 4), b (Mar 7), c (Mar 8) in the week of Mar 2; f (Mar 17), e (Mar 18) in the week of Mar 16.
    assert [(w.week_start, w.count) for w in found] == [
        (date(2026, 3, 2), 3),
        (date(2026, 3, 9), 0),
        (date(2026, 3, 16), 2),
        (date(2026, 3, 23), 0),
        (date(2026, 3, 30), 0),
    ]
