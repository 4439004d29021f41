"""The benchmark's data set keeps the shape docs/performance.md describes, made by the same builder as the demo."""

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.analytics_data import usage_rows
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


def test_the_analytics_benchmark_usage_is_twenty_features_skewed_over_ninety_days_and_the_same_for_a_seed() -> None:
    now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    product = uuid.uuid4()

    features, events = usage_rows(random.Random(11), now, product, 20, 20_000)
    _, again = usage_rows(random.Random(11), now, product, 20, 20_000)

    assert events == again
    assert len(features) == 20
    assert [f[4] for f in features] == [f"feature-{k:02d}" for k in range(1, 21)]
    assert len(events) == 20_000
    assert len({e[4] for e in events}) == 20_000  # event ids are unique
    assert all(e[2] == product and now - timedelta(days=90) <= e[6] < now for e in events)
    by_feature = Counter(e[3] for e in events)
    assert set(by_feature) == {f[0] for f in features}
    assert by_feature.most_common(1)[0][0] == features[0][0]  # the first is the busiest: about 60%
    assert 0.55 < by_feature[features[0][0]] / len(events) < 0.68
    users = {e[5] for e in events}
    assert 8_000 < len(users) <= 10_000  # 20,000 draws from 10,000 ids reach about 86% of them
