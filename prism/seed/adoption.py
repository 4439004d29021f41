"""The demo's feature adoption: the features each product shipped, and the usage its users reported since.

Each product gets a feature everyone uses from the start (its board), and one feature for each of its first three
FEATURE requirements that are DONE, launched when that requirement was finished. Pseudonymous users (`acme-017`)
adopt a launched feature after a few days, or never, and then use it on some working days, less as weeks pass, so
adoption rates, daily and weekly active users and retention all have something to show. Nothing is dated before its
feature's launch or after the moment the demo describes.
"""

import random
import re
from datetime import datetime, timedelta

from prism.db.adoption_tables import Feature, UsageEvent
from prism.db.tables import Requirement
from prism.domain.enums import RequirementKind, RequirementStatus
from prism.seed.builder import DataBuilder
from prism.seed.product_run import ProductRun, at

__all__ = ["USERS_PER_PRODUCT", "add_usage"]

USERS_PER_PRODUCT = 40
SHIPPED_FEATURES = 3


def _key(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:64] or "feature"


def _feature(b: DataBuilder, run: ProductRun, key: str, name: str, shipped: Requirement | None) -> Feature:
    created = shipped.completed_at if shipped is not None and shipped.completed_at else run.product.created_at
    feature = Feature(
        id=b.new_id("feature"),
        organization_id=b.organization_id,
        product_id=run.product.id,
        requirement_id=shipped.id if shipped is not None else None,
        key=key,
        name=name,
        created_at=created,
        updated_at=created,
    )
    b.rows[Feature].append(feature)
    return feature


def add_usage(b: DataBuilder, run: ProductRun, rng: random.Random, now: datetime) -> None:
    """Features of `run`'s product and their usage events up to `now`."""
    shipped = [
        r
        for r in b.all(Requirement)
        if r.product_id == run.product.id
        and r.kind == RequirementKind.FEATURE.value
        and r.status == RequirementStatus.DONE.value
        and r.completed_at is not None
    ][:SHIPPED_FEATURES]
    board = _feature(b, run, "board", "Board view", None)
    features = [(board, 0.9, 0.6)] + [
        (_feature(b, run, _key(r.title), r.title[:120], r), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.5))
        for r in shipped
    ]
    users = [f"{run.product.key.lower()}-{n:03d}" for n in range(USERS_PER_PRODUCT)]
    for feature, adoption, frequency in features:
        for user in users:
            if rng.random() > adoption:
                continue
            day = feature.created_at.date() + timedelta(days=int(rng.expovariate(1 / 4)))
            weeks_in = 0
            while day <= now.date():
                if day.weekday() < 5 and rng.random() < frequency * 0.85**weeks_in:
                    moment = at(day, rng.randrange(8, 19), rng.randrange(60))
                    if feature.created_at <= moment < now:
                        b.rows[UsageEvent].append(
                            UsageEvent(
                                id=b.new_id("usage_event"),
                                organization_id=b.organization_id,
                                product_id=run.product.id,
                                feature_id=feature.id,
                                event_id=f"demo-{len(b.rows[UsageEvent])}",
                                user_key=user,
                                occurred_at=moment,
                                received_at=moment,
                                properties={"plan": rng.choice(["free", "team", "enterprise"])},
                            )
                        )
                day += timedelta(days=1)
                weeks_in = (day - feature.created_at.date()).days // 7
