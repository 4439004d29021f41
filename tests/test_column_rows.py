"""`ColumnRows`: rows held as one list per column (a nested list read as arrays), read by column at C speed and row
by row on demand, with the same answers as the rows it stands for."""

from itertools import compress
from operator import itemgetter

import pytest

from prism.db.statements import ColumnRows, MappedRow, column_values


def _rows() -> tuple[ColumnRows, list[MappedRow]]:
    columns = {"id": [10, 11, 12, 13], "title": ["a", "b", None, "d"], "_found": [True, False, True, True]}
    as_rows = [MappedRow(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    return ColumnRows(columns, 4), as_rows


def test_a_column_is_the_list_itself_and_rows_are_made_on_demand() -> None:
    rows, expected = _rows()
    assert len(rows) == 4
    assert column_values(rows, "title") is rows.columns["title"]
    assert column_values(expected, "title") == ["a", "b", None, "d"]
    assert list(rows) == expected
    assert rows[1] == expected[1]
    assert rows[-1] == expected[-1]
    assert rows[0].title == "a"  # a MappedRow: by name and by attribute, as the rows the planner reads
    with pytest.raises(IndexError):
        rows[4]
    with pytest.raises(IndexError):
        rows[-5]
    with pytest.raises(KeyError):
        column_values(rows, "missing")


def test_slices_compress_and_concat_give_the_rows_a_list_of_rows_would() -> None:
    rows, expected = _rows()
    for part in (slice(None, 2), slice(1, None), slice(None, None, -1), slice(3, 1), slice(0, 10)):
        sliced = rows[part]
        assert isinstance(sliced, ColumnRows)
        assert list(sliced) == expected[part]
        assert len(sliced) == len(expected[part])
    flags = column_values(rows, "_found")
    kept = rows.compress(flags)
    assert list(kept) == list(compress(expected, flags))
    assert len(kept) == 3
    joined = ColumnRows.concat([rows[:1], rows[2:], rows[:0]], list(rows.columns))
    assert list(joined) == [expected[0], *expected[2:]]
    assert column_values(joined, "id") == [10, 12, 13]
    assert list(map(itemgetter("id"), joined)) == [10, 12, 13]


def test_its_lists_are_never_changed_by_what_is_made_of_them() -> None:
    rows, _ = _rows()
    before = {name: list(values) for name, values in rows.columns.items()}
    rows[1:3]
    rows.compress([True, False, False, True])
    ColumnRows.concat([rows, rows], list(rows.columns))
    list(rows)
    assert rows.columns == before


def test_a_list_with_an_array_column_is_not_read_as_arrays_and_others_are() -> None:
    """SQLAlchemy has no array of arrays (and PostgreSQL's `array_agg` of arrays needs them all one size): a list
    whose rows have an array column is read on its own level (`aggregatable` is False), the others as arrays."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from loaders.pagination import ListSource, NestedList, Order, Window, aggregatable
    from loaders.sources import REQUIREMENTS_BY_PRODUCT, RequirementListFilter

    tagged = sa.Table(
        "tagged",
        sa.MetaData(),
        sa.Column("id", sa.Uuid),
        sa.Column("parent_id", sa.Uuid),
        sa.Column("name", sa.String),
        sa.Column("tags", postgresql.ARRAY(sa.String)),
    )
    source = ListSource("tagged", tagged, "parent_id", {"NAME": lambda table: table.c.name}, lambda table, _: [])
    window = Window(first=5)
    assert not aggregatable(NestedList(source, None, Order("NAME"), window, ("name", "tags"), False))
    assert not aggregatable(NestedList(source, None, Order("NAME"), window, (), False))  # every column
    assert aggregatable(NestedList(source, None, Order("NAME"), window, ("name",), False))
    requirements = NestedList(
        REQUIREMENTS_BY_PRODUCT, RequirementListFilter(), Order("RANK"), window, ("title", "status"), True
    )
    assert aggregatable(requirements)
