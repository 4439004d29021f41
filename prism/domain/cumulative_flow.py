"""A product's cumulative flow: how many of its requirements were in each status at the end of each day.

Built from the CREATED and STATUS events of its requirements: a creation puts a requirement in its first status, a
change of status moves it from one status to the next. So the count of a status at the end of a day is the number of
moves into it minus the number out of it up to then. The rules:

- a day ends at midnight UTC; the figures of a day hold after every change of that day;
- a requirement counts from the day it was created, in the status its history gives it then; one deleted since is
  left out of every day (its history goes with it);
- DONE and CANCELED are statuses like the others: a requirement reopened after DONE leaves DONE that day, one
  canceled stays in CANCELED (the bands of a cumulative flow diagram never lose finished work otherwise);
- points are every `interval` days from `since`, up to and including `until` when it falls on one.

It counts backwards from now: the counts at the start of `since` are the requirements' statuses now (kept equal to
their history's last status by the one place that changes a status) minus every move made since; then each day adds
its moves. So only the history from `since` on is read, not the product's whole history.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from prism.domain.enums import RequirementStatus

__all__ = ["FlowDay", "StatusMove", "cumulative_flow"]


@dataclass(frozen=True)
class StatusMove:
    """How many requirements moved from one status to another (None: created) on one day."""

    day: date
    from_status: str | None
    to_status: str | None
    count: int


@dataclass(frozen=True)
class FlowDay:
    """The number of requirements in each status at the end of one day, in workflow order."""

    day: date
    counts: tuple[tuple[RequirementStatus, int], ...]

    def count(self, status: RequirementStatus) -> int:
        return dict(self.counts)[status]


def cumulative_flow(
    now: Mapping[str, int], moves: Iterable[StatusMove], *, since: date, until: date, interval: int
) -> list[FlowDay]:
    """The counts per status at the end of `since`, `since + interval` days, ... up to `until`, from the counts per
    status now and the moves of every day from `since` to now (see the rules)."""
    delta: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    running: dict[str, int] = defaultdict(int, now)
    for move in moves:
        if move.day < since:
            continue
        if move.to_status is not None:
            delta[move.day][move.to_status] += move.count
            running[move.to_status] -= move.count
        if move.from_status is not None:
            delta[move.day][move.from_status] -= move.count
            running[move.from_status] += move.count
    days: list[FlowDay] = []
    pending = sorted(delta)
    index = 0
    # Each point from `since` (never one past `until`, which may be the calendar's last day).
    for number in range(max(0, (until - since).days // interval + 1)):
        point = since + timedelta(days=number * interval)
        while index < len(pending) and pending[index] <= point:
            for status, change in delta[pending[index]].items():
                running[status] += change
            index += 1
        days.append(FlowDay(day=point, counts=tuple((s, running[s.value]) for s in RequirementStatus)))
    return days
