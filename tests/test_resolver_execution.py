"""The resolver path's executor against graphql-core's own: the same answers, errors included, for less work.

`resolvers/execution.py` answers plain columns inline, resolves fields without arguments without `execute_field`,
and `resolve_directly` calls plain resolvers without Strawberry's wrapper. The reference is the same schema run by
Strawberry's executor as it comes: every query below must give byte-identical JSON (data, errors, their messages,
paths and locations) on both.
"""

import asyncio
import enum
import sys
from collections import Counter
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import orjson
import pytest
import sqlalchemy as sa
import strawberry
from strawberry.extensions import ParserCache
from strawberry.types.field import StrawberryField
from strawberry.types.fields.resolver import StrawberryResolver
from strawberry.types.nodes import SelectedField

from resolvers.common import _list_fields, node_fields, readable_rows
from resolvers.declarations import _Members
from resolvers.execution import metered_executor, resolve_directly
from resolvers.list_bounds import max_items

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Broken:
    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        raise ValueError("cannot read this column")


@strawberry.input
class Range:
    low: int = 0
    high: int | None = None
    colours: list[Colour] | None = None


@strawberry.type
class Item:
    name: str
    colour: Colour
    weight: float | None
    required: str
    count: int
    flaky: str = strawberry.field(default="never read")
    extra: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field
    def label(self, info: strawberry.Info) -> str:
        return f"{self.name}:{info.field_name}"

    @strawberry.field
    def twin(self) -> "Item | None":
        return (
            None
            if self.name == "b"
            else Item(name=f"{self.name}2", colour=Colour.GREEN, weight=None, required="r", count=1)
        )

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name.upper()

    @strawberry.field
    def sized(self, size: int = 2) -> str:
        return self.name * size

    @strawberry.field
    def failing(self) -> str:
        raise RuntimeError("resolver failed")

    @strawberry.field
    async def window(
        self,
        range_: Annotated[Range | None, strawberry.argument(name="range")] = None,
        order_by: Colour | None = None,
        tags: list[str] | None = None,
        maybe: strawberry.Maybe[int | None] = None,
        id: strawberry.relay.GlobalID | None = None,
    ) -> str:
        await asyncio.sleep(0)
        return f"{self.name}:{range_}:{order_by}:{tags}:{maybe}:{id}"

    @strawberry.field
    def picky(self, info: strawberry.Info, at_least: int) -> int:
        if at_least > self.count:
            raise ValueError(f"{info.field_name}: fewer than {at_least}")
        return self.count


class BrokenItem(Item):
    flaky = Broken()  # type: ignore[assignment]


def items() -> list[Item]:
    rows: list[Item] = [
        Item(name="a", colour=Colour.RED, weight=1.5, required="x", count=3),
        Item(name="b", colour=Colour.GREEN, weight=None, required="y", count=0),
    ]
    bad = BrokenItem(name="c", colour=Colour.RED, weight=2.0, required=None, count=7)  # type: ignore[arg-type]
    bad.colour = "green"  # type: ignore[assignment] # a plain value the enum type converts by itself
    return [*rows, bad]


@strawberry.type
class Edge:
    node: Item
    cursor: str


@strawberry.type
class Page:
    nodes: list[Item]
    edges: list[Edge]


SEEN: list[tuple[list[str], list[str], list[str], list[str]]] = []
"""What each `page` resolver saw: the names read from the syntax tree and from Strawberry's `selected_fields`."""


def strawberry_names(info: strawberry.Info, *, plain_list: bool) -> list[str]:
    """The names as `resolvers.common` computed them from `info.selected_fields` before it read the syntax tree."""

    def fields(selections: list[Any]) -> list[Any]:
        found = []
        for selection in selections:
            if isinstance(selection, SelectedField):
                found.append(selection)
            else:
                found.extend(fields(selection.selections))
        return found

    names: dict[str, None] = {}
    for field in info.selected_fields:
        for sub in fields(field.selections):
            if plain_list:
                names[sub.name] = None
            elif sub.name == "nodes":
                names.update((f.name, None) for f in fields(sub.selections))
            elif sub.name == "edges":
                for edge_field in fields(sub.selections):
                    if edge_field.name == "node":
                        names.update((f.name, None) for f in fields(edge_field.selections))
    return list(names)


@strawberry.type
class Query:
    @strawberry.field
    def page(self, info: strawberry.Info, tag: int = 0) -> Page:
        SEEN.append(
            (
                node_fields(info),
                strawberry_names(info, plain_list=False),
                _list_fields(info),
                strawberry_names(info, plain_list=True),
            )
        )
        found = items()[:2]
        return Page(nodes=found, edges=[Edge(node=item, cursor=item.name) for item in found])

    @strawberry.field
    def items(self) -> list[Item]:
        return items()

    @strawberry.field
    def item(self) -> Item:
        return items()[0]

    @strawberry.field
    def broken(self) -> list[Item]:
        return items()[2:]

    @strawberry.field(metadata=max_items(300))
    def many(self) -> list[Item]:
        return [Item(name=str(i), colour=Colour.RED, weight=float(i), required="r", count=i) for i in range(300)]


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    reference = strawberry.Schema(query=Query)
    ours = strawberry.Schema(query=Query, execution_context_class=metered_executor(100_000))
    resolve_directly(ours)
    return reference, ours


def answer(schema: strawberry.Schema, query: str) -> bytes:
    result = asyncio.run(schema.execute(query))
    errors = [error.formatted for error in result.errors or []]
    return orjson.dumps({"data": result.data, "errors": errors})


QUERIES = [
    "{ items { name colour weight count label twin { name weight colour } later sized(size: 3) } }",
    "{ items { name required } }",
    "{ items { name failing } }",
    "{ broken { flaky name } }",
    "{ broken { name colour } }",
    "{ item { a: name b: name ...F } } fragment F on Item { colour weight __typename }",
    "{ items { twin { twin { name } label } } }",
    "{ items { sized(size: 3) s: sized window picky(atLeast: 1) } }",
    '{ items { window(range: {low: 1, colours: [RED, GREEN]}, orderBy: GREEN, tags: ["a", "b"], maybe: null) } }',
    '{ items { w: window(maybe: 3, range: {high: 2}) v: window(id: "SXRlbToy") } }',
    '{ items { name window(id: "not a global id") } }',
]


@pytest.mark.parametrize("query", QUERIES)
def test_same_answer_as_graphql_core(query: str) -> None:
    reference, ours = schemas()
    assert answer(ours, query) == answer(reference, query)


def test_nulls_and_errors_are_located_as_graphql_core_locates_them() -> None:
    _, ours = schemas()
    body = orjson.loads(answer(ours, "{ items { name required } }"))
    assert body["data"] is None
    assert [e["path"] for e in body["errors"]] == [["items", 2, "required"]]
    assert "Cannot return null for non-nullable field Item.required." in body["errors"][0]["message"]


def _calls(schema: strawberry.Schema, query: str) -> int:
    counted: Counter[str] = Counter()

    def count(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            counted["calls"] += 1

    sys.setprofile(count)
    try:
        asyncio.run(schema.execute(query))
    finally:
        sys.setprofile(None)
    return counted["calls"]


def test_plain_fields_cost_a_fraction_of_the_python_calls() -> None:
    reference, ours = schemas()
    query = "{ many { name colour weight count required label } }"
    assert answer(ours, query) == answer(reference, query)
    # The same answer, 1,800 fields, for less than a third of the Python function calls.
    assert _calls(ours, query) * 3 < _calls(reference, query)


def test_only_plain_resolvers_are_called_directly() -> None:
    _, ours = schemas()
    item = ours._schema.type_map["Item"].fields  # type: ignore[attr-defined]
    direct = {name for name, field in item.items() if field.resolve.__module__ == "resolvers.execution"}
    # Not `later` (async, no arguments), nor the plain columns (no resolver to call).
    assert direct == {"label", "twin", "failing", "sized", "window", "picky"}


def test_arguments_are_converted_without_strawberrys_wrapper() -> None:
    reference, ours = schemas()
    query = "{ many { sized(size: 2) picky(atLeast: 0) } }"
    assert answer(ours, query) == answer(reference, query)
    # 600 fields with arguments: Strawberry's wrapper converts each argument's name and value on every call, in a
    # chain of calls (about 29 per field more than here). With the wrapper, ours made 91% of the reference's calls.
    assert _calls(ours, query) * 5 < _calls(reference, query) * 3


def test_readable_rows_read_as_core_rows() -> None:
    engine = sa.create_engine("sqlite://")
    statement = sa.select(
        sa.literal("t").label("title"), sa.literal(3).label("number"), sa.literal("k").label("_product_key")
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).all() * 3
        counted = connection.execute(sa.select(sa.literal(1).label("count"), sa.literal(2).label("n"))).all() * 2
    readable = readable_rows(rows)
    assert [(r.title, r.number, r._product_key) for r in readable] == [
        (r.title, r.number, r._product_key) for r in rows
    ]
    assert getattr(readable[0], "missing", None) is None
    # A column named like a Row method reads differently on a Row: those rows stay as they are.
    assert readable_rows(counted) is counted


def test_enum_columns_convert_as_the_enum_does() -> None:
    members = _Members(Colour)
    assert members["red"] is Colour("red") is Colour.RED
    assert members[Colour.GREEN] is Colour(Colour.GREEN)
    with pytest.raises(ValueError, match="is not a valid Colour"):
        members["blue"]


SELECTIONS = [
    "{ page { nodes { name colour } } }",
    "{ page { edges { cursor node { name twin { name } } } nodes { weight } } }",
    "{ page { ...P } } fragment P on Page { nodes { ...I ... on Item { count } } } fragment I on Item { name label }",
    "query Q($no: Boolean!) { page { nodes { name @skip(if: $no) weight @include(if: $no) } } }",
    "{ a: page(tag: 1) { nodes { name } } b: page(tag: 2) { edges { node { colour } } } }",
    "{ page { nodes { name } } again: page { nodes { name } } }",
]


@pytest.mark.parametrize("query", SELECTIONS)
def test_selected_names_are_strawberrys(query: str) -> None:
    # The parsed document is kept, so the second time answers from the names kept for the same nodes.
    ours = strawberry.Schema(
        query=Query, execution_context_class=metered_executor(100_000), extensions=[lambda: ParserCache(maxsize=10)]
    )
    SEEN.clear()
    for _ in range(2):
        result = asyncio.run(ours.execute(query, variable_values={"no": True}))
        assert result.errors is None
    assert SEEN
    for from_tree, from_strawberry, list_from_tree, list_from_strawberry in SEEN:
        assert from_tree == from_strawberry
        assert list_from_tree == list_from_strawberry
    assert len(SEEN) % 2 == 0
    assert SEEN[: len(SEEN) // 2] == SEEN[len(SEEN) // 2 :]


READS: Counter[str] = Counter()
"""How often each attribute of a `ReadingRow` was read."""


@strawberry.type
class Reading:
    first_read_fails: int
    missing: str
    refused: int


class ReadingRow:
    """What a `Reading` is read from (as a node from a row): attributes whose reads are counted."""

    @property
    def first_read_fails(self) -> int:
        READS["first_read_fails"] += 1
        if READS["first_read_fails"] == 1:
            raise RuntimeError("the first read fails")
        return 1

    @property
    def missing(self) -> None:
        READS["missing"] += 1
        return None  # null on a non-null field

    @property
    def refused(self) -> str:
        READS["refused"] += 1
        return "not a number"  # a value Int refuses


@strawberry.type
class ReadingQuery:
    @strawberry.field
    def readings(self) -> list[Reading | None]:
        return [ReadingRow()]  # type: ignore[list-item]


@pytest.mark.parametrize("column", ["firstReadFails", "missing", "refused"])
def test_a_column_is_read_once_as_graphql_core_reads_it(column: str) -> None:
    # Review finding: a plain column whose inline read was not plain (an exception, null on a non-null field, a value
    # the type refuses) was read a second time on graphql-core's path: every such read twice (a lazy load, a
    # property's work), and a read that fails once answered the second read's value without graphql-core's error.
    reference = strawberry.Schema(query=ReadingQuery)
    ours = strawberry.Schema(query=ReadingQuery, execution_context_class=metered_executor(100_000))
    resolve_directly(ours)
    answers, reads = [], []
    for schema in (reference, ours):
        READS.clear()
        answers.append(answer(schema, f"{{ readings {{ {column} }} }}"))
        reads.append(sum(READS.values()))
    assert answers[1] == answers[0]
    assert reads == [1, 1]


def test_no_guarded_field_of_prisms_schema_is_answered_without_its_guard() -> None:
    # Review (no finding): a field with permission classes or field extensions keeps Strawberry's wrapper, which runs
    # them, and is never a plain column; this keeps it so as fields are added.
    from graphql import FieldNode, GraphQLObjectType, NameNode
    from graphql.execution.collect_fields import FieldDetails

    from resolvers.execution import STRAWBERRY_FIELD, plain_leaf
    from resolvers.schema import build_schema

    guarded = []
    for graphql_type in build_schema()._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for name, field_def in graphql_type.fields.items():
            strawberry_field = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
            if strawberry_field is None or not (strawberry_field.permission_classes or strawberry_field.extensions):
                continue
            guarded.append(f"{graphql_type.name}.{name}")
            assert field_def.resolve.__module__ != "resolvers.execution", guarded[-1]
            node = FieldNode(name=NameNode(value=name), arguments=(), directives=())
            assert plain_leaf(graphql_type, [FieldDetails(node, None)]) is None, guarded[-1]
    assert "Organization.members" in guarded
    assert len(guarded) > 50


# Lists of objects completed in one loop (`complete_object_list`), object fields completed without `complete_value`,
# built-in scalars and enum members answered without their coercion: each case below goes through one of those
# paths and must answer what graphql-core answers, errors, their paths and the nulls they leave included.


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Thing(Named):
    size: int
    ratio: float
    tag: strawberry.ID
    colour: Colour

    @strawberry.field
    def other(self) -> "Thing | None":
        if self.name == "wrong":
            return Item(name="i", colour=Colour.RED, weight=None, required="r", count=0)  # type: ignore[return-value]
        if self.name == "raises":
            raise RuntimeError("other failed")
        if self.name == "later":
            return asyncio.sleep(0, result=thing("later-other"))  # type: ignore[return-value]
        return None if self.name.endswith("-other") else thing(f"{self.name}-other")


def thing(name: str, **values: Any) -> Thing:
    given: dict[str, Any] = {"size": 1, "ratio": 0.5, "tag": "t", "colour": Colour.GREEN, **values}
    return Thing(name=name, **given)


async def later_thing(name: str) -> Thing:
    await asyncio.sleep(0)
    if name == "fails":
        raise RuntimeError("awaited item failed")
    return thing(name)


class SubThing(Thing):
    """Not a Strawberry type of its own: a Thing by its class."""


@strawberry.type
class ListQuery:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [thing("a"), thing("wrong"), thing("raises"), thing("later"), thing("b", colour=Colour.RED)]

    @strawberry.field
    def with_error(self) -> list[Thing] | None:
        return [thing("a"), ValueError("item failed"), thing("b")]  # type: ignore[list-item]

    @strawberry.field
    def with_null(self) -> list[Thing] | None:
        return [thing("a"), None]  # type: ignore[list-item]

    @strawberry.field
    def strict(self) -> list[Thing]:
        return [None]  # type: ignore[list-item]

    @strawberry.field
    def nullable_items(self) -> list[Thing | None]:
        return [None, thing("a"), None, ValueError("nullable item failed")]  # type: ignore[list-item]

    @strawberry.field
    def all_nulls(self) -> list[Thing | None]:
        return [None, None]

    @strawberry.field
    def wrong_type(self) -> list[Thing | None]:
        return [thing("a"), Item(name="i", colour=Colour.RED, weight=None, required="r", count=0)]  # type: ignore[list-item]

    @strawberry.field
    def awaited(self) -> list[Thing | None]:
        return [later_thing("x"), thing("y"), later_thing("fails")]  # type: ignore[list-item]

    @strawberry.field
    def named(self) -> list[Named]:
        return [thing("a"), thing("b")]

    @strawberry.field
    def cast(self) -> list[Thing | None]:
        # The same class accepted, then refused by a cast the object carries, then accepted through a subclass and
        # through a cast to the interface; graphql-core asks `is_type_of` of each.
        return [
            thing("a"),
            strawberry.cast(Item, thing("cast to Item")),
            SubThing(name="sub", size=2, ratio=1.0, tag="s", colour=Colour.RED),
            strawberry.cast(Named, thing("cast to Named")),
            thing("b"),
        ]

    @strawberry.field
    def odd_values(self) -> list[Thing | None]:
        return [
            thing("big", size=2**31),
            thing("small", size=-(2**31)),
            thing("bool", size=True, ratio=True),
            thing("infinite", ratio=float("inf")),
            thing("int ratio", ratio=3, tag=5),
            thing("plain colour", colour="red"),
            thing("bad colour", colour="blue"),
            thing("str size", size="12"),
        ]


LIST_QUERIES = [
    "{ things { a: name b: size ...F } } fragment F on Thing { ratio tag colour c: colour }",
    "{ things { name other { name other { name } } } }",
    "{ withError { name } }",
    "{ withNull { name size } }",
    "{ strict { name } }",
    "{ nullableItems { name size } }",
    "{ allNulls { name } }",
    "{ wrongType { name } }",
    "{ awaited { name other { name } } }",
    "{ named { name ... on Thing { size } __typename } }",
    "{ cast { name other { name } } }",
    "{ things { other { name } } cast { name } things2: things { name } }",
    "{ oddValues { name size } }",
    "{ oddValues { name ratio } }",
    "{ oddValues { name tag colour } }",
    "{ oddValues { ...on Thing { name colour } } }",
]


def list_schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    reference = strawberry.Schema(query=ListQuery, types=[Thing])
    ours = strawberry.Schema(query=ListQuery, types=[Thing], execution_context_class=metered_executor(100_000))
    resolve_directly(ours)
    return reference, ours


@pytest.mark.parametrize("query", LIST_QUERIES)
def test_lists_of_objects_and_object_fields_answer_as_graphql_core(query: str) -> None:
    reference, ours = list_schemas()
    expected = answer(reference, query)
    assert answer(ours, query) == expected
    assert b'"errors":[]' not in expected or query.startswith(("{ things { a:", "{ named", "{ allNulls"))


def test_the_meter_counts_every_object_of_a_list_and_of_an_object_field() -> None:
    meters = []

    class Recording(metered_executor(100_000)):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            meters.append(self.meter)

    schema = strawberry.Schema(query=Query, execution_context_class=Recording)
    resolve_directly(schema)
    result = asyncio.run(schema.execute("{ many { name count twin { name weight } } }"))
    assert result.errors is None
    # The root's one field, three for each of the 300 items, two for each one's twin.
    assert [meter.work for meter in meters] == [1 + 300 * 3 + 300 * 2]


def test_a_list_of_objects_is_completed_without_graphql_cores_steps_per_item_and_field() -> None:
    # 300 items, each with an object field (twin) and five columns: graphql-core's completion steps per item, the
    # subfields' collection per object, the resolve info's constructor per resolved field and the scalars' and the
    # enum's coercion per column are gone: each runs a few times for the root field (or to learn its result), not
    # 300 or 1,500 times.
    _, ours = schemas()
    counted: Counter[str] = Counter()

    def count(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            counted[frame.f_code.co_name] += 1

    sys.setprofile(count)
    try:
        result = asyncio.run(ours.execute("{ many { name colour weight count twin { name } } }"))
    finally:
        sys.setprofile(None)
    assert result.errors is None
    assert len(result.data["many"]) == 300  # type: ignore[index]
    assert counted["complete_object_value"] == 300  # the twins
    steps = [
        "complete_list_item_value",
        "complete_value",
        "collect_and_execute_subfields",
        "collect_subfields",
        "build_resolve_info",
        "__new__",
        "serialize_string",
        "serialize_float",
        "serialize_int",
        "coerce_member",
        "charge",
    ]
    assert {step: counted[step] for step in steps if counted[step] > 5} == {}


INCREMENTAL_QUERIES = [
    "{ things { name ... @defer { size other { name } } } }",
    "{ things @stream(initialCount: 2) { name colour } }",
    "{ nullableItems @stream(initialCount: 1) { name } withError { ... @defer { name } } }",
    '{ awaited { name ... @defer(label: "o") { other { name } } } }',
]


async def _incremental(schema: strawberry.Schema, query: str) -> list[Any]:
    result: Any = await schema.execute(query)
    if not hasattr(result, "initial_result"):
        return [orjson.loads(answer_of(result))]
    parts = [result.initial_result.formatted]
    async for part in result.subsequent_results:
        parts.append(part.formatted)
    return parts


def answer_of(result: Any) -> bytes:
    return orjson.dumps({"data": result.data, "errors": [error.formatted for error in result.errors or []]})


@pytest.mark.parametrize("query", INCREMENTAL_QUERIES)
def test_deferred_and_streamed_lists_keep_graphql_cores_path(query: str) -> None:
    # A deferred fragment or a streamed list must not take the one-loop completion: graphql-core's incremental
    # delivery answers them, the same payloads in the same order.
    from strawberry.schema.config import StrawberryConfig

    config = StrawberryConfig(enable_experimental_incremental_execution=True)
    reference = strawberry.Schema(query=ListQuery, types=[Thing], config=config)
    ours = strawberry.Schema(
        query=ListQuery, types=[Thing], config=config, execution_context_class=metered_executor(100_000)
    )
    resolve_directly(ours)
    expected = asyncio.run(_incremental(reference, query))
    assert len(expected) > 1
    assert orjson.dumps(asyncio.run(_incremental(ours, query))) == orjson.dumps(expected)


@strawberry.type
class Spelled:
    word: str

    @strawberry.field
    async def letters(self, limit: int = 2) -> AsyncGenerator[list[str], None]:
        # An async generator: Strawberry's wrapper returns it unawaited (`await_maybe`), graphql-core completes the
        # list from it; the direct call must not `await` it.
        for letter in self.word[:limit]:
            yield letter


@strawberry.type
class SpelledQuery:
    @strawberry.field
    def spelled(self) -> Spelled:
        return Spelled(word="abc")


def test_an_async_generator_resolver_with_arguments_answers_as_strawberrys_wrapper() -> None:
    reference = strawberry.Schema(query=SpelledQuery)
    ours = strawberry.Schema(query=SpelledQuery, execution_context_class=metered_executor(100_000))
    resolve_directly(ours)
    query = "{ spelled { letters(limit: 3) } }"
    assert orjson.loads(answer(reference, query)) == {"data": {"spelled": {"letters": ["a", "b", "c"]}}, "errors": []}
    assert answer(ours, query) == answer(reference, query)


class Doubled(StrawberryField):
    """A field class of its own: Strawberry's wrapper calls its `get_result`."""

    def get_result(self, source: Any, info: Any, args: list[Any], kwargs: Any) -> Any:
        return 2 * super().get_result(source, info, args, kwargs)


class Halved(StrawberryResolver[int]):
    """A resolver class of its own: `get_result` calls it, not the function it wraps."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **kwargs) // 2


def scaled(self: Any, by: int = 1) -> int:
    return 10 * by


def unscaled(self: Any) -> int:
    return 10


@strawberry.type
class Gauge:
    doubled: int = Doubled(base_resolver=StrawberryResolver(scaled))
    halved: int = strawberry.field(resolver=Halved(scaled))
    plain_doubled: int = Doubled(base_resolver=StrawberryResolver(unscaled))
    plain_halved: int = strawberry.field(resolver=Halved(unscaled))


@strawberry.type
class GaugeQuery:
    @strawberry.field
    def gauge(self) -> Gauge:
        return Gauge()


def test_a_field_or_resolver_class_of_its_own_keeps_strawberrys_wrapper() -> None:
    reference = strawberry.Schema(query=GaugeQuery)
    ours = strawberry.Schema(query=GaugeQuery, execution_context_class=metered_executor(100_000))
    resolve_directly(ours)
    query = "{ gauge { doubled(by: 2) halved(by: 2) plainDoubled plainHalved } }"
    expected = {"gauge": {"doubled": 40, "halved": 10, "plainDoubled": 20, "plainHalved": 5}}
    assert orjson.loads(answer(reference, query)) == {"data": expected, "errors": []}
    assert answer(ours, query) == answer(reference, query)
