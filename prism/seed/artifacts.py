"""What a product's played-out weeks leave behind: its roadmap, its documents and the comments on its work."""

from datetime import date, timedelta
from uuid import UUID

from prism.db.tables import Requirement, RequirementEvent
from prism.domain.enums import DocumentKind, DocumentStatus, RequirementEventKind, RequirementKind, RequirementStatus
from prism.seed.product_run import CLOSED_SPRINTS, ProductRun, at, lower_first

__all__ = ["NEXT_HORIZON", "ROADMAP_LANES", "add_comments", "place_roadmap", "write_documents"]

ROADMAP_LANES = ("Done", "Now", "Next", "Later")
"""Done: finished; Now: spans today; Next: starts within NEXT_HORIZON; Later: starts after that."""
NEXT_HORIZON = timedelta(days=30)

K = RequirementEventKind
S = RequirementStatus


def place_roadmap(run: ProductRun) -> None:
    """One item per epic and feature, spanning the sprints its work ran in, in the lane today puts it."""
    b, today = run.b, run.today
    roadmap = b.roadmap(
        run.product, f"{run.plan.name} roadmap", "What we finished, work on now, next and later.", run.start
    )
    sprint_by_id = {s.id: s for s in run.sprints}
    spans: dict[UUID, tuple[date, date]] = {}
    unplanned_slot = run.sprints[-1].starts_on
    active_end = run.sprints[CLOSED_SPRINTS].ends_on
    assert unplanned_slot is not None
    assert active_end is not None
    for parent, children in run.parents:  # features first, so an epic finds its features' spans
        inner = [spans[c.id] for c in children if c.id in spans]
        for child in children:
            for e in b.history(child):
                if e.kind == K.SPRINT.value and e.to_value:
                    sprint = sprint_by_id[UUID(e.to_value)]
                    assert sprint.starts_on is not None
                    assert sprint.ends_on is not None
                    inner.append((sprint.starts_on, sprint.ends_on))
        if not inner:
            inner = [(unplanned_slot, unplanned_slot + timedelta(days=27))]
            unplanned_slot += timedelta(days=28)
        spans[parent.id] = (min(s for s, _ in inner), max(e for _, e in inner))
    ordered = [p for p, _ in run.parents if p.kind == RequirementKind.EPIC.value] + [
        p for p, _ in run.parents if p.kind == RequirementKind.FEATURE.value
    ]
    for requirement in ordered:
        starts, ends = spans[requirement.id]
        if requirement.status == S.DONE.value:
            assert requirement.completed_at is not None
            lane, ends = "Done", requirement.completed_at.date()
        else:
            ends = max(ends, active_end)  # unfinished work stays on the plan until it is done
            if starts <= today:
                lane = "Now"
            elif starts <= today + NEXT_HORIZON:
                lane = "Next"
            else:
                lane = "Later"
        b.roadmap_item(
            roadmap,
            requirement.title,
            lane=lane,
            starts_on=starts,
            ends_on=ends,
            requirement=requirement,
            at=run.start,
        )


def write_documents(run: ProductRun) -> None:
    """A PRD for the first epic, a spec for a feature in flight and the last closed sprint's retrospective."""
    b, people = run.b, run.people
    epic = next(p for p, _ in run.parents if p.kind == RequirementKind.EPIC.value)
    features = [(p, c) for p, c in run.parents if p.kind == RequirementKind.FEATURE.value and p.parent_id == epic.id]
    goals = "\n".join(f"- {feature.title}" for feature, _ in features)
    first = f"# {epic.title} PRD\n\n## Problem\n{epic.description.splitlines()[0]}\n\n## Goals\n{goals}\n"
    second = first + "\n## Non-goals\n- Anything outside " + f"{run.plan.name}\n\n## Open questions\n- Pricing\n"
    start = run.start
    prd = b.document(
        run.product,
        DocumentKind.PRD,
        f"{epic.title} PRD",
        [(first, start, run.pm.id), (second, start + timedelta(days=3), run.pm.id)],
        DocumentStatus.APPROVED,
    )
    b.comment(
        prd,
        f"The {epic.title} goals read well; can we size them before sprint 1?",
        people[2].id,
        start + timedelta(days=1),
    )
    active = run.sprints[CLOSED_SPRINTS]
    in_flight = b.in_sprint(active)
    feature = next(
        (
            p
            for p, _ in run.parents
            if p.id in {r.parent_id for r in in_flight} and p.kind == RequirementKind.FEATURE.value
        ),
        features[0][0],
    )
    assert active.starts_on is not None
    spec_at = at(active.starts_on - timedelta(days=3), 14)
    items = next(c for p, c in run.parents if p.id == feature.id)
    body = f"# {feature.title} spec\n\n{feature.description.splitlines()[0]}\n\n## Work\n" + "\n".join(
        f"- {run.product.key}-{r.number} {r.title}" for r in items
    )
    spec = b.document(
        run.product,
        DocumentKind.SPEC,
        f"{feature.title} spec",
        [(body, spec_at, people[3].id)],
        DocumentStatus.IN_REVIEW,
    )
    b.comment(spec, f"The {feature.title} spec misses the error states.", run.pm.id, spec_at + timedelta(hours=20))
    closed = run.sprints[CLOSED_SPRINTS - 1]
    assert closed.closed_at is not None
    done = [
        r
        for r in b.all(Requirement)
        if r.completed_at
        and closed.started_at
        and closed.started_at <= r.completed_at <= closed.closed_at
        and r.product_id == run.product.id
    ]
    carried = [
        e.requirement_id
        for e in b.all(RequirementEvent)
        if e.kind == K.SPRINT.value and e.from_value == str(closed.id) and e.created_at == closed.closed_at
    ]
    retro_at = closed.closed_at + timedelta(hours=1)
    retro_body = (
        f"# {closed.name} retrospective\n\nGoal: {closed.goal}\n\n## Finished\n"
        + "\n".join(f"- {r.title}" for r in done)
        + f"\n\n## Carried over\n{len(carried)} item(s) moved to {run.sprints[CLOSED_SPRINTS].name}.\n"
    )
    retro = b.document(
        run.product,
        DocumentKind.NOTE,
        f"{closed.name} retrospective",
        [(retro_body, retro_at, people[4].id)],
        DocumentStatus.APPROVED,
    )
    b.comment(
        retro,
        f"{closed.name}: next time we take fewer items and finish them, rather than carry work over.",
        people[1].id,
        retro_at + timedelta(hours=1),
    )


def add_comments(run: ProductRun) -> None:
    """About half the items carry remarks made right after the change they discuss."""
    b, rng = run.b, run.rng
    said = {
        S.IN_PROGRESS.value: 'Started on "{title}"; first up: {criterion}.',
        S.IN_REVIEW.value: '"{title}" is up for review.',
        S.DONE.value: 'Demoed "{title}" at the sprint review; done.',
    }
    for leaf in run.leaves:
        requirement = leaf.row
        if rng.random() < 0.5:
            continue
        criterion = lower_first(leaf.item.criteria[0]) if leaf.item.criteria else "the happy path"
        if requirement.kind == RequirementKind.BUG.value:
            b.comment(
                requirement,
                f'Reproduced "{requirement.title}" on the latest build.',
                run.people[4].id,
                requirement.created_at + timedelta(hours=2),
            )
        for event in b.history(requirement):
            if event.kind == K.STATUS.value and event.to_value in said:
                author = requirement.assignee_id if event.to_value != S.DONE.value else run.pm.id
                text = said[event.to_value].format(title=requirement.title, criterion=criterion)
                b.comment(requirement, text, author, event.created_at + timedelta(minutes=40))
