"""The compared queries: PRISM's document, PostGraphile's equivalent, and the data both must agree on.

PostGraphile derives its schema from the tables, so the same question reads differently there: `allProducts`
ordered by name, `requirementsByProductId` ordered by rank then id (PRISM's page order), the assignee through
`appUserByAssigneeId`, a requirement's `number` where PRISM answers its key (`B001-7`, built from the product's
key), and a product by key through the unique (organization, key) constraint. Each answer is reduced to the same
plain data before comparing, so the check is about the data, not the schema's names.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from bench.operations import Operation

Schema = Literal["prism", "postgraphile"]

__all__ = ["ComparedQuery", "Schema", "compared_queries"]

PRISM_DASHBOARD = (
    "query Dashboard { products(first: 50) { nodes { key name "
    "requirements(first: 20) { nodes { key title status estimate assignee { name } } } } } }"
)
"""The same document as `make bench`'s dashboard (bench/operations.py)."""

POSTGRAPHILE_DASHBOARD = (
    "query Dashboard { allProducts(first: 50, orderBy: NAME_ASC) { nodes { key name "
    "requirementsByProductId(first: 20, orderBy: [RANK_ASC, ROW_ID_ASC]) { nodes { number title status estimate "
    "appUserByAssigneeId { name } } } } } }"
)

PRISM_SMALL = 'query Product {{ product(key: "{key}") {{ key name description }} }}'
POSTGRAPHILE_SMALL = (
    'query Product {{ productByOrganizationIdAndKey(organizationId: "{organization}", key: "{key}") '
    "{{ key name description }} }}"
)


@dataclass(frozen=True)
class ComparedQuery:
    """One question asked of every server: each schema's document, and what its answer reduces to."""

    name: str
    description: str
    prism: Operation
    postgraphile: Operation
    normalize_prism: Callable[[Any], Any]
    normalize_postgraphile: Callable[[Any], Any]

    def operation(self, schema: Schema) -> Operation:
        """The document to send to a server of that schema."""
        return self.prism if schema == "prism" else self.postgraphile

    def normalize(self, schema: Schema, data: Any) -> Any:
        """An answer's `data` as the plain data every server must agree on."""
        return self.normalize_prism(data) if schema == "prism" else self.normalize_postgraphile(data)


def _estimate(value: Any) -> float | None:
    # PRISM answers 3.0 and PostGraphile 3 for the same double precision column.
    return None if value is None else float(value)


def _dashboard_from_prism(data: Any) -> list[dict[str, Any]]:
    return [
        {
            "key": product["key"],
            "name": product["name"],
            "requirements": [
                {
                    "key": requirement["key"],
                    "title": requirement["title"],
                    "status": requirement["status"],
                    "estimate": _estimate(requirement["estimate"]),
                    "assignee": None if requirement["assignee"] is None else requirement["assignee"]["name"],
                }
                for requirement in product["requirements"]["nodes"]
            ],
        }
        for product in data["products"]["nodes"]
    ]


def _dashboard_from_postgraphile(data: Any) -> list[dict[str, Any]]:
    return [
        {
            "key": product["key"],
            "name": product["name"],
            "requirements": [
                {
                    "key": f"{product['key']}-{requirement['number']}",
                    "title": requirement["title"],
                    "status": requirement["status"],
                    "estimate": _estimate(requirement["estimate"]),
                    "assignee": None
                    if requirement["appUserByAssigneeId"] is None
                    else requirement["appUserByAssigneeId"]["name"],
                }
                for requirement in product["requirementsByProductId"]["nodes"]
            ],
        }
        for product in data["allProducts"]["nodes"]
    ]


def _product_from_prism(data: Any) -> dict[str, Any] | None:
    return data["product"]


def _product_from_postgraphile(data: Any) -> dict[str, Any] | None:
    return data["productByOrganizationIdAndKey"]


def compared_queries(organization_id: UUID, product_key: str) -> dict[str, ComparedQuery]:
    """The dashboard and the one-product query, for the seeded organization and one of its products."""
    small = {"key": product_key, "organization": str(organization_id)}
    return {
        "dashboard": ComparedQuery(
            name="dashboard",
            description="50 products x 20 requirements each with their assignee (about 1,000 requirements)",
            prism=Operation("dashboard", "PRISM", PRISM_DASHBOARD),
            postgraphile=Operation("dashboard", "PostGraphile", POSTGRAPHILE_DASHBOARD),
            normalize_prism=_dashboard_from_prism,
            normalize_postgraphile=_dashboard_from_postgraphile,
        ),
        "small": ComparedQuery(
            name="small",
            description=f"one product by key ({product_key}) with three fields",
            prism=Operation("small", "PRISM", PRISM_SMALL.format(**small)),
            postgraphile=Operation("small", "PostGraphile", POSTGRAPHILE_SMALL.format(**small)),
            normalize_prism=_product_from_prism,
            normalize_postgraphile=_product_from_postgraphile,
        ),
    }
