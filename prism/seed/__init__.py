"""Bulk data for PRISM: one builder (`DataBuilder`) used by the demo (`prism seed --demo`), the benchmark and tests."""

from prism.seed.builder import DataBuilder, InvariantError
from prism.seed.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SEED, DEMO_SLUG, build_demo, demo_id, seed_demo
from prism.seed.writer import write_rows

__all__ = [
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_SEED",
    "DEMO_SLUG",
    "DataBuilder",
    "InvariantError",
    "build_demo",
    "demo_id",
    "seed_demo",
    "write_rows",
]
