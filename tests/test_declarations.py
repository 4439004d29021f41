"""GraphQL types declared against their tables: every field is backed, every column exists, from_row follows."""

import dataclasses
import enum
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
import strawberry
from sqlalchemy.engine.result import result_tuple

from prism.db.tables import Label as LabelTable
from resolvers.common import node_class
from resolvers.declarations import Declaration, Read, declaration, reads
from resolvers.node import NODE_TYPES
from resolvers.schema import build_schema
from tests.doubles import CapturingReader

DECLARED = [
    "Comment",
    "Document",
    "DocumentVersion",
    "Invitation",
    "Label",
    "Organization",
    "Product",
    "Release",
    "Requirement",
    "RequirementEvent",
    "Roadmap",
    "RoadmapItem",
    "Sprint",
    "Team",
    "User",
]


def _declared_types() -> dict[str, type]:
    from resolvers.api_keys import ApiKey
    from resolvers.audit import AuditEntry
    from resolvers.deleted_requirements import DeletedRequirement
    from resolvers.identity import Session
    from resolvers.members import Member
    from resolvers.product_roles import ProductRole

    build_schema()
    others = {
        "ApiKey": ApiKey,
        "AuditEntry": AuditEntry,
        "DeletedRequirement": DeletedRequirement,
        "Member": Member,
        "ProductRole": ProductRole,
        "Session": Session,
    }
    return {**{name: NODE_TYPES[name] for name in DECLARED}, **others}


def test_every_declared_column_exists_on_the_declared_table() -> None:
    for name, node_type in _declared_types().items():
        found = declaration(node_type)
        assert isinstance(found.table, sa.Table), name
        for field, read in found.fields.items():
            for column in read.columns:
                assert column in found.table.c, f"{name}.{field} reads {column}, not a column of {found.table}"
        expected = list(dict.fromkeys(column for r in found.fields.values() for column in r.columns))
        assert [column.name for column in found.columns] == expected


def test_every_graphql_field_of_a_declared_type_is_backed_by_a_column_or_a_resolver() -> None:
    for name, node_type in _declared_types().items():
        reads_of = declaration(node_type).fields
        for field in node_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            backed = field.python_name in reads_of or field.base_resolver is not None
            assert backed, f"{name}.{field.name} reads no column and has no resolver"


def _sample(column: sa.Column[Any]) -> Any:
    python_type = column.type.python_type
    if python_type is str:
        return f"{column.name}-value"
    if python_type is int:
        return 7
    if python_type is float:
        return 2.5
    if python_type is datetime:
        return datetime(2027, 1, 31, tzinfo=UTC)
    if python_type is bool:
        return True
    if python_type is list:
        return ["read"]
    if python_type is dict:
        return {"from": "a column"}
    return uuid4()


def test_from_row_builds_every_declared_field_from_its_column() -> None:
    for name, node_type in _declared_types().items():
        found: Declaration = declaration(node_type)
        if any(read.using for read in found.fields.values()):
            continue  # sample values do not make sense together: test_a_conversion_may_use_other_columns_of_the_row
        values = {column.name: _sample(column) for column in found.table.c}
        for read in found.fields.values():
            if read.convert is not None and isinstance(read.convert, type) and issubclass(read.convert, enum.Enum):
                values[read.column] = next(iter(read.convert)).value
        node = node_type.from_row(SimpleNamespace(**values))  # type: ignore[attr-defined]
        for field, read in found.fields.items():
            raw = values[read.column]
            expected = read.convert(raw) if read.convert is not None else raw
            assert getattr(node, field) == expected, f"{name}.{field}"


def test_a_declaration_naming_a_column_the_table_lacks_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="no column `colour`"):

        @reads(LabelTable, color="colour")
        @strawberry.type
        class Label:
            name: str
            color: str


def test_a_field_without_a_column_or_a_default_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="no column `shade`"):

        @reads(LabelTable)
        @strawberry.type
        class Label:
            name: str
            shade: str


def test_a_type_can_fill_in_what_its_row_does_not_hold() -> None:
    @reads(LabelTable, title=Read("name", str.upper))
    @strawberry.type
    class Tag:
        title: str
        note: strawberry.Private[str | None] = None

    tag = Tag.from_row(SimpleNamespace(name="urgent"))  # type: ignore[attr-defined]
    assert tag == Tag(title="URGENT", note=None)
    assert declaration(Tag).fields == {"title": Read("name", str.upper)}


def test_a_conversion_may_use_other_columns_of_the_row() -> None:
    from resolvers.enums import RequirementStatus
    from resolvers.requirement_history import RequirementEvent

    sprint = uuid4()
    row = SimpleNamespace(
        id=uuid4(), kind="STATUS", from_value="TODO", to_value="DONE", actor_id=None, created_at=datetime.now(UTC)
    )
    event = RequirementEvent.from_row(row)  # type: ignore[arg-type]
    assert (event.from_status, event.to_status) == (RequirementStatus.TODO, RequirementStatus.DONE)
    assert (event.from_title, event.from_estimate, event.from_ref, event.to_ref) == (None, None, None, None)
    assert (event.from_value, event.to_value) == ("TODO", "DONE")
    moved = RequirementEvent.from_row(SimpleNamespace(**{**vars(row), "kind": "SPRINT", "to_value": str(sprint)}))  # type: ignore[arg-type]
    assert (moved.from_status, moved.to_status, moved.from_ref, moved.to_ref) == (None, None, None, sprint)
    assert moved.to_value == strawberry.relay.to_base64("Sprint", str(sprint))
    estimated = RequirementEvent.from_row(
        SimpleNamespace(**{**vars(row), "kind": "ESTIMATE", "from_value": None, "to_value": "2.5"})
    )  # type: ignore[arg-type]
    assert (estimated.from_estimate, estimated.to_estimate, estimated.to_status) == (None, 2.5, None)
    assert declaration(RequirementEvent).fields["to_estimate"].columns == ("to_value", "kind")


def test_fields_no_column_backs_may_be_given_to_from_row() -> None:
    @reads(LabelTable)
    @strawberry.type
    class Tag:
        name: str
        note: strawberry.Private[str | None] = None

    assert Tag.from_row(SimpleNamespace(name="urgent"), note="given") == Tag(name="urgent", note="given")  # type: ignore[attr-defined]


def test_the_to_one_relations_of_a_requirement_name_the_column_they_join_on() -> None:
    from resolvers.identity import User
    from resolvers.products import Product
    from resolvers.releases import Release
    from resolvers.requirements import Requirement
    from resolvers.sprints import Sprint

    build_schema()
    expected = {
        "product": ("product_id", Product),
        "parent": ("parent_id", Requirement),
        "assignee": ("assignee_id", User),
        "reporter": ("reporter_id", User),
        "sprint": ("sprint_id", Sprint),
        "release": ("release_id", Release),
    }
    fields = declaration(Requirement).fields
    for name, (attribute, target) in expected.items():
        related = Requirement.related[name]
        assert related.column == attribute
        assert node_class(related.target) is target
        assert fields[attribute].column == attribute, f"{name} joins on a column the type reads"
        assert related.build(None) is None


@pytest.mark.parametrize("parents", [1, 2])
async def test_a_page_of_a_declared_type_reads_only_the_columns_it_declares(parents: int) -> None:
    from loaders.pagination import ListKey, Order, PageLoader, Window
    from loaders.sources import SPRINTS_BY_PRODUCT, StateListFilter
    from resolvers.sprints import Sprint

    build_schema()
    declared = tuple(column.name for column in declaration(Sprint).columns)
    reader = CapturingReader()
    loader = PageLoader(reader, uuid4())  # type: ignore[arg-type]
    keys = [
        ListKey(SPRINTS_BY_PRODUCT, uuid4(), StateListFilter(states=()), Order("STARTS_ON"), Window(), declared)
        for _ in range(parents)
    ]
    await loader.load_many(keys)
    (statement,) = reader.statements
    inner = statement if parents == 1 else statement.get_final_froms()[0].element
    read = {column.name for column in inner.selected_columns} - {"_sort", "_position"}
    assert read == set(declared)
    assert "organization_id" not in read
    assert set(declared) < {column.name for column in declaration(Sprint).table.c}


def test_sprints_releases_documents_and_roadmaps_join_their_product_on_product_id() -> None:
    from resolvers.documents import Document
    from resolvers.products import Product
    from resolvers.releases import Release
    from resolvers.roadmaps import Roadmap
    from resolvers.sprints import Sprint

    build_schema()
    for node_type in (Sprint, Release, Document, Roadmap):
        related = node_type.related["product"]
        assert related.column == "product_id", node_type.__name__
        assert node_class(related.target) is Product
        assert declaration(node_type).fields["product_id"].column == "product_id"


def _rows_for(node_type: type) -> list[Any]:
    found: Declaration = declaration(node_type)
    if any(read.using for read in found.fields.values()):
        return [
            SimpleNamespace(
                id=uuid4(), kind=kind, from_value=before, to_value=after, actor_id=None, created_at=datetime.now(UTC)
            )
            for kind, before, after in (("STATUS", "TODO", "DONE"), ("SPRINT", None, str(uuid4())), ("TITLE", "a", "b"))
        ]
    values = {column.name: _sample(column) for column in found.table.c}
    for read in found.fields.values():
        if read.convert is not None and isinstance(read.convert, type) and issubclass(read.convert, enum.Enum):
            values[read.column] = next(iter(read.convert)).value
    return [
        SimpleNamespace(**values),
        SimpleNamespace(**{k: None if k.endswith("_id") else v for k, v in values.items()}),
    ]


def test_objects_from_rows_are_the_objects_their_dataclass_init_makes() -> None:
    """A declared type's `from_row` gives its object its attributes at once (`_plain_fields`): every field its
    `__init__` would set, with the same values, in the same order, defaults and given fields included."""
    from resolvers.declarations import _from_row

    for name, node_type in _declared_types().items():
        found = declaration(node_type)
        derived = vars(node_type).get("from_columns") or vars(node_type)["from_row"]
        assert "_owner" in derived.__func__.__globals__, f"{name} is made by its __init__"
        by_init = classmethod(_from_row(name, found.fields)).__get__(None, node_type)
        for row in _rows_for(node_type):
            fast, slow = derived.__get__(None, node_type)(row), by_init(row)
            assert fast == slow, name
            assert list(vars(fast).items()) == list(vars(slow).items()), name
            assert type(fast) is node_type


def test_from_row_refuses_what_init_refuses_and_leaves_subclasses_and_factories_to_init() -> None:
    @reads(LabelTable)
    @strawberry.type
    class Tag:
        name: str
        note: strawberry.Private[str | None] = None
        seen: strawberry.Private[int] = dataclasses.field(default=3, init=False)

    row = SimpleNamespace(name="urgent")
    tag = Tag.from_row(row, note="n")  # type: ignore[attr-defined]
    assert list(vars(tag).items()) == list(vars(Tag(name="urgent", note="n")).items())
    for wrong in ({"name": "twice"}, {"colour": "red"}, {"seen": 4}):
        with pytest.raises(TypeError) as ours:
            Tag.from_row(row, **wrong)  # type: ignore[attr-defined]
        with pytest.raises(TypeError) as theirs:
            Tag(name="urgent", **wrong)  # type: ignore[arg-type]
        assert str(ours.value).split("(")[-1] == str(theirs.value).split("(")[-1]

    @strawberry.type
    class Loud(Tag):
        volume: strawberry.Private[int] = 11

        def __post_init__(self) -> None:
            self.name = self.name.upper()

    loud = Loud.from_row(row)  # type: ignore[attr-defined]
    assert (type(loud), loud.name, loud.volume) == (Loud, "URGENT", 11)

    @reads(LabelTable)
    @strawberry.type
    class Listed:
        name: str
        notes: strawberry.Private[list[str]] = dataclasses.field(default_factory=list)

    first, second = Listed.from_row(row), Listed.from_row(row)  # type: ignore[attr-defined]
    assert first.notes == []
    assert first.notes is not second.notes
    assert "_owner" not in vars(Listed)["from_row"].__func__.__globals__


def test_an_init_false_default_is_read_from_the_class_as_init_leaves_it() -> None:
    # dataclasses' __init__ does not set a field with init=False and a plain default: the object reads the class
    # attribute (so a class attribute given later is what every object reads), and its __dict__ has no such key.
    @reads(LabelTable)
    @strawberry.type
    class Tag:
        name: str
        seen: strawberry.Private[int] = dataclasses.field(default=3, init=False)

    row = SimpleNamespace(name="urgent")
    fast, slow = Tag.from_row(row), Tag(name="urgent")  # type: ignore[attr-defined]
    assert list(vars(fast).items()) == list(vars(slow).items()) == [("name", "urgent")]
    Tag.seen = 4  # type: ignore[misc]
    assert (fast.seen, slow.seen) == (4, 4)


class _Trimmed:
    """A data descriptor as a field's default: dataclasses' __init__ sets the field through its __set__."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = f"_{name}"

    def __get__(self, instance: Any, owner: type) -> Any:
        return "" if instance is None else getattr(instance, self.attribute)

    def __set__(self, instance: Any, value: str) -> None:
        setattr(instance, self.attribute, value.strip())


def test_a_field_behind_a_data_descriptor_is_set_through_it_as_init_sets_it() -> None:
    @reads(LabelTable)
    @strawberry.type
    class Tag:
        name: str = _Trimmed()  # type: ignore[assignment]

    row = SimpleNamespace(name="  urgent ")
    fast, slow = Tag.from_row(row), Tag(name="  urgent ")  # type: ignore[attr-defined]
    assert slow.name == "urgent"
    assert fast.name == slow.name
    assert vars(fast) == vars(slow)


def test_a_class_that_makes_its_objects_itself_keeps_init() -> None:
    # `cls(...)` runs the class's `__new__` and its metaclass's `__call__`; the one-dict object skips both.
    made: list[str] = []

    @reads(LabelTable)
    @strawberry.type
    class Counted:
        name: str

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            made.append("new")
            return super().__new__(cls)

    class Registering(type):
        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            made.append("call")
            return super().__call__(*args, **kwargs)

    @reads(LabelTable)
    @strawberry.type
    class Registered(metaclass=Registering):
        name: str

    row = SimpleNamespace(name="urgent")
    assert (Counted.from_row(row).name, Registered.from_row(row).name) == ("urgent", "urgent")  # type: ignore[attr-defined]
    assert made == ["new", "call"]


def test_objects_from_rows_of_some_columns_have_those_fields_and_no_others() -> None:
    """A page read for the fields a query selects holds some of a type's columns: its rows build objects with the
    fields those columns give, the defaults and what is given, and no other field, so that reading one raises
    instead of answering a value the row did not have; rows of every column still build whole objects."""
    from resolvers.common import readable_rows
    from resolvers.declarations import partial_rows

    requirement = NODE_TYPES["Requirement"]
    builders = partial_rows(requirement)
    assert builders is not None
    columns = ("id", "product_id", "number", "title", "status", "estimate", "assignee_id", "_sort")
    values = (uuid4(), uuid4(), 7, "Ship it", "TODO", 3.0, None, "a0")
    row_type = type(readable_rows([result_tuple(columns)(values)], always=True)[0])
    builders.register(row_type, columns)
    (row,) = readable_rows([result_tuple(columns)(values)], always=True)
    node = requirement.from_row(row, product_key="PRISM")  # type: ignore[attr-defined]
    assert type(node) is requirement
    assert vars(node) == {
        "id": str(values[0]),
        "number": 7,
        "title": "Ship it",
        "status": declaration(requirement).fields["status"].convert("TODO"),  # type: ignore[misc]
        "estimate": 3.0,
        "product_id": values[1],
        "assignee_id": None,
        "product_key": "PRISM",
        "prefetched": None,
    }
    for unread in ("description", "created_at", "kind", "sprint_id"):
        with pytest.raises(AttributeError):
            getattr(node, unread)
    # A whole row of the same type is unaffected: its class is not the partial one.
    whole = _rows_for(requirement)[0]
    assert requirement.from_row(whole).description == whole.description  # type: ignore[attr-defined]

    # Another class (a subclass's __init__ may do more) is not built from such a row. Called with a plain class:
    # a subclass of a Node type would join the schema's registry of node types.
    from_columns = vars(requirement)["from_columns"].__func__
    with pytest.raises(TypeError, match="its own objects only"):
        from_columns(type("Special", (), {}), row)
