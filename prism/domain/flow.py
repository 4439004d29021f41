"""Flow of finished work: cycle time, lead time and throughput, from requirements' status history.

The rules, over the STATUS and CREATED events of each requirement, oldest first:

- finished: a requirement whose last status is DONE; it finished at its last move to DONE, so an item reopened after
  DONE and finished again counts once, from its last DONE. A requirement whose last status is CANCELED, or that is
  open again, is not finished.
- lead time: from its creation to when it finished.
- cycle time: from its first move to IN_PROGRESS to when it finished; a requirement that never was IN_PROGRESS has a
  lead time but no cycle time.
- percentiles (p50, p85, p95) by nearest rank: the smallest duration that at least p% of the durations do not
  exceed (of n sorted durations, the one at position ceil(p/100 * n), counting from 1).
- throughput: the number of requirements finished in each ISO week (Monday to Sunday, UTC).
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from prism.domain.enums import RequirementEventKind, RequirementStatus
from prism.domain.sprint_report import Change

__all__ = [
    "Finished",
    "Percentiles",
    "WeekCount",
    "finished_requirements",
    "last_weeks",
    "percentiles",
    "throughput",
    "week_of",
    "weekly",
]

K = RequirementEventKind
DONE = RequirementStatus.DONE.value
IN_PROGRESS = RequirementStatus.IN_PROGRESS.value


@dataclass(frozen=True)
class Finished:
    """A finished requirement: when it was created, first started and last finished."""

    requirement_id: UUID
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime

    @property
    def lead_time(self) -> timedelta | None:
        return None if self.created_at is None else self.finished_at - self.created_at

    @property
    def cycle_time(self) -> timedelta | None:
        return None if self.started_at is None else self.finished_at - self.started_at


@dataclass(frozen=True)
class Percentiles:
    """The p50, p85 and p95 of a set of durations, and how many there were."""

    count: int
    p50: timedelta | None
    p85: timedelta | None
    p95: timedelta | None


@dataclass(frozen=True)
class WeekCount:
    """How many requirements finished in one ISO week, named by its Monday."""

    week_start: date
    count: int


def finished_requirements(changes: Iterable[Change]) -> list[Finished]:
    """The finished requirements among those whose changes are given (oldest first), by when they finished."""
    grouped: dict[UUID, list[Change]] = defaultdict(list)
    for change in changes:
        if change.kind in (K.STATUS, K.CREATED):
            grouped[change.requirement_id].append(change)
    found = []
    for requirement, history in grouped.items():
        if history[-1].to_value != DONE:
            continue
        created = next((c.at for c in history if c.kind is K.CREATED), None)
        started = next((c.at for c in history if c.kind is K.STATUS and c.to_value == IN_PROGRESS), None)
        finished = history[-1].at
        for change in reversed(history):
            if change.to_value != DONE:
                break
            finished = change.at  # repeated DONE records (no reopening between) keep the first of them
        found.append(Finished(requirement, created, started, finished))
    return sorted(found, key=lambda item: (item.finished_at, item.requirement_id))


def _nearest_rank(ordered: Sequence[timedelta], percent: int) -> timedelta:
    return ordered[max(1, math.ceil(percent * len(ordered) / 100)) - 1]


def percentiles(durations: Iterable[timedelta | None]) -> Percentiles:
    """The nearest-rank p50, p85 and p95 of the durations that are known."""
    ordered = sorted(d for d in durations if d is not None)
    if not ordered:
        return Percentiles(count=0, p50=None, p85=None, p95=None)
    return Percentiles(
        count=len(ordered),
        p50=_nearest_rank(ordered, 50),
        p85=_nearest_rank(ordered, 85),
        p95=_nearest_rank(ordered, 95),
    )


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week a moment falls in."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def last_weeks(weeks: int, now: datetime) -> list[date]:
    """The Mondays of the last `weeks` ISO weeks up to the one holding `now`, oldest first."""
    current = week_of(now)
    return [current - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]


def weekly(counts: Mapping[date, int], *, weeks: int, now: datetime) -> list[WeekCount]:
    """Counts by Monday over the last `weeks` weeks up to the current one, oldest first, zero where none."""
    return [WeekCount(week_start=start, count=counts.get(start, 0)) for start in last_weeks(weeks, now)]


def throughput(finished: Iterable[Finished], *, weeks: int, now: datetime) -> list[WeekCount]:
    """Requirements finished per ISO week over the last `weeks` weeks up to the current one, oldest first, with
    zero for weeks without any."""
    counts: dict[date, int] = defaultdict(int)
    for item in finished:
        counts[week_of(item.finished_at)] += 1
    return weekly(counts, weeks=weeks, now=now)
