"""A sprint's burndown: day by day, its scope, what was done and what remained, and the ideal line.

Built from the same two records as the sprint report (prism.domain.sprint_report): the start snapshot and the
requirements' history. Each day's figures are the sprint report's as of the end of that day (UTC), so the last day
of a closed sprint agrees with its report, and scope added or removed mid-sprint shows as the scope line moving:

- scope: the points of what was in the sprint at the end of the day (completed + canceled + not finished);
- done: the points of what was in it and DONE;
- remaining: the points of what was in it and not finished (neither DONE nor CANCELED);
- ideal: the committed points falling in a straight line to zero on the sprint's last day;
- added, removed: the points of what was added to the sprint after it started, and of what left it while it ran,
  from the start to the end of the day (the sprint report's added and removed as of then), so a moving scope line
  shows why it moved.

The burnup draws the same days the other way up: its scope line is `scope`, its done line `done`, and its ideal line
climbs from zero on the first day to the committed points on the last (`committed - ideal`).

Days run from the day the sprint started to its last day (its end date, else the day it closed), and stop at today
for a running sprint: the future has no figures.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from prism.domain.sprint_report import Change, Histories, sprint_report

__all__ = ["BurndownDay", "burndown"]


@dataclass(frozen=True)
class BurndownDay:
    """One day of a sprint's burndown, as of the end of that day."""

    day: date
    scope: float
    done: float
    remaining: float
    ideal: float
    added: float = 0.0
    removed: float = 0.0
    committed: float = 0.0

    @property
    def ideal_done(self) -> float:
        """The burnup's ideal line: the committed points climbing from zero to all of them on the last day."""
        return self.committed - self.ideal


def burndown(
    sprint_id: UUID,
    started_at: datetime,
    closed_at: datetime | None,
    ends_on: date | None,
    commitments: Mapping[UUID, float | None],
    changes: Iterable[Change] | Histories,
    *,
    now: datetime,
) -> list[BurndownDay]:
    """The daily series of a started sprint (see the module's rules)."""
    history = changes if isinstance(changes, Histories) else Histories(changes)
    first = started_at.astimezone(UTC).date()
    ended = closed_at.astimezone(UTC).date() if closed_at is not None else None
    last = ends_on or ended or now.astimezone(UTC).date()
    last = max(last, first)
    shown_until = min(last, ended or now.astimezone(UTC).date())
    committed = sum((estimate or 0.0) for estimate in commitments.values())
    length = (last - first).days
    days: list[BurndownDay] = []
    day = first
    while day <= shown_until:
        end_of_day = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        moment = min(end_of_day, closed_at or now)
        found = sprint_report(sprint_id, started_at, moment, commitments, history)
        done, canceled, open_ = found.completed.points, found.canceled.points, found.carried_over.points
        elapsed = (day - first).days
        ideal = committed if length == 0 else committed * max(0, length - elapsed) / length
        days.append(
            BurndownDay(
                day=day,
                scope=done + canceled + open_,
                done=done,
                remaining=open_,
                ideal=ideal,
                added=found.added.points,
                removed=found.removed.points,
                committed=committed,
            )
        )
        day += timedelta(days=1)
    return days
