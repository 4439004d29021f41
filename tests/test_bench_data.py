"""The benchmark's data set keeps the shape docs/performance.md describes, made by the same builder as the demo."""

from collections import Counter

from bench.seed import build
from prism.db.tables import Label, Product, Requirement, RequirementEvent, Sprint, SprintCommitment, User
from prism.domain.enums import RequirementStatus


def test_the_benchmark_data_set_is_fifty_products_of_twenty_assigned_requirements_with_sprints_and_history() -> None:
    b = build(50, 20, "hash")

    assert len(b.all(User)) == 6
    assert len(b.all(Label)) == 10
    assert [p.key for p in b.all(Product)][:2] == ["B001", "B002"]
    assert len(b.all(Product)) == 50
    requirements = b.all(Requirement)
    assert len(requirements) == 1000
    assert all(r.assignee_id is not None for r in requirements)
    assert all(p.next_number == 21 for p in b.all(Product))
    assert sum(r.sprint_id is not None for r in requirements) > 500  # most are in a sprint
    states = Counter((s.product_id, s.state) for s in b.all(Sprint))
    assert set(states.values()) == {1}  # one closed, one active and one planned sprint per product
    assert len(states) == 150
    closed = {s.id for s in b.all(Sprint) if s.state == "CLOSED"}
    # Closing the first sprint moved its unfinished work on; what it still holds is finished.
    assert all(r.status in ("DONE", "CANCELED") for r in requirements if r.sprint_id in closed)
    assert {c.sprint_id for c in b.all(SprintCommitment)} >= closed
    statuses = Counter(r.status for r in requirements)
    assert set(statuses) == {s.value for s in RequirementStatus}
    assert len(b.all(RequirementEvent)) > 3 * len(requirements)


def test_the_benchmark_data_set_is_the_same_for_the_same_arguments() -> None:
    first, again = build(3, 5, "hash"), build(3, 5, "hash")

    assert [r.model_dump() for r in first.all(Requirement)] == [r.model_dump() for r in again.all(Requirement)]
    assert [r.model_dump() for r in first.all(RequirementEvent)] == [
        r.model_dump() for r in again.all(RequirementEvent)
    ]
