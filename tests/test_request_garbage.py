"""A request's rows are freed when its answer is made, not left to the cyclic garbage collector.

The request's context sits in reference cycles (the request, its middleware and its execution refer to each other),
and the cyclic collector is the only thing that frees a cycle. Everything the context's loaders read (rows, their
tuples and UUIDs) hung from it, so a dashboard request left about 5,600 objects for the collector, whose passes
then cost about a fifth of the request's CPU and paused the process for about 16 ms every ten requests. The
request's loaders are dropped once its answer is made (`Context.release`); this counts what is left.
"""

import gc
from collections import Counter

import httpx

from tests.helpers import GraphQLClient, create_product, create_requirement, sign_up

DASHBOARD = """
{ products(first: 10) { nodes { key name requirements(first: 20) { nodes { key title status estimate
  assignee { name } } } } } }
"""


def _left_for_the_collector(before: set[int]) -> Counter[str]:
    """Objects in cyclic garbage made since `before` was taken, by type name."""
    gc.collect()
    return Counter(type(o).__name__ for o in gc.garbage if id(o) not in before)


async def test_a_requests_rows_are_not_left_to_the_cyclic_garbage_collector(http: httpx.AsyncClient) -> None:
    account = await sign_up(GraphQLClient(http))
    for p in range(3):
        product = await create_product(account, key=f"GRB{p}")
        for n in range(5):
            await create_requirement(account, product["id"], f"Item {n}")
    await account(DASHBOARD)  # warm: plans and statements are built once and kept
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        before = {id(o) for o in gc.garbage}
        for _ in range(3):
            data = await account(DASHBOARD)
        left = _left_for_the_collector(before)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert sum(len(product["requirements"]["nodes"]) for product in data["products"]["nodes"]) == 15
    counted = ("Row", "DriverRow", "MappedRow", "UUID", "PageOfRows", "ListKey")
    rows = sum(count for name, count in left.items() if name in counted)
    assert rows == 0, left.most_common(10)
