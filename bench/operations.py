"""The GraphQL operations the benchmark sends, and what a correct answer to each looks like."""

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["DASHBOARD", "OPERATIONS", "SMALL", "Operation", "dashboard_shape"]


@dataclass(frozen=True)
class Operation:
    """A named GraphQL document sent as a POST body."""

    name: str
    description: str
    query: str

    def body(self) -> bytes:
        return orjson.dumps({"query": self.query, "operationName": None, "variables": None})


DASHBOARD = Operation(
    name="dashboard",
    description="50 products x 20 requirements each with their assignee (about 1,000 requirements)",
    query=(
        "query Dashboard { products(first: 50) { nodes { key name "
        "requirements(first: 20) { nodes { key title status estimate assignee { name } } } } } }"
    ),
)

SMALL = Operation(
    name="small",
    description="the signed-in user's name",
    query="query Viewer { viewer { user { name } } }",
)

OPERATIONS = {operation.name: operation for operation in (DASHBOARD, SMALL)}


def dashboard_shape(data: Any) -> dict[str, int]:
    """How many products, requirements and assignees a dashboard answer holds."""
    products = data["products"]["nodes"]
    requirements = [r for p in products for r in p["requirements"]["nodes"]]
    return {
        "products": len(products),
        "requirements": len(requirements),
        "with_assignee": sum(1 for r in requirements if r["assignee"] is not None),
    }
