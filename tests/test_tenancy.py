"""`prism.db.tenancy`, the one door to tenant rows and to the rows a person owns, limits every select it builds."""

from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from prism.db.access_tables import AuthSession, RefreshToken, UserToken
from prism.db.tables import Membership, Organization, Requirement, User
from prism.db.tenancy import tenant_select, user_select

REQUIREMENT: sa.Table = Requirement.__table__  # type: ignore[attr-defined]


def _where(statement: Any) -> tuple[str, dict[str, Any]]:
    compiled = statement.compile(dialect=postgresql.dialect())
    return str(compiled).split("WHERE", 1)[1].strip(), compiled.params


def test_a_tenant_select_of_a_model_reads_its_rows_of_one_organization() -> None:
    organization_id = uuid4()

    where, params = _where(tenant_select(Requirement, organization_id))

    assert where.startswith("requirement.organization_id = ")
    assert organization_id in params.values()


def test_a_tenant_select_of_a_core_table_reads_the_columns_asked_for_from_that_table() -> None:
    organization_id = uuid4()
    statement = tenant_select(REQUIREMENT, organization_id, sa.func.max(REQUIREMENT.c.rank))

    compiled = str(statement.compile(dialect=postgresql.dialect()))

    assert compiled.startswith("SELECT max(requirement.rank)")
    assert "FROM requirement" in compiled
    assert _where(statement)[0].startswith("requirement.organization_id = ")


def test_the_organization_itself_is_read_by_its_id() -> None:
    organization_id = uuid4()

    where, params = _where(tenant_select(Organization, organization_id))

    assert where.startswith("organization.id = ")
    assert list(params.values()) == [organization_id]


def test_a_user_select_reads_what_one_person_owns() -> None:
    user_id = uuid4()

    for model in (AuthSession, UserToken, Membership):
        where, params = _where(user_select(model, user_id))
        assert where.startswith(f"{model.__tablename__}.user_id = ")
        assert list(params.values()) == [user_id]
    assert _where(user_select(User, user_id))[0].startswith("app_user.id = ")


def test_a_table_without_the_scoping_column_is_refused() -> None:
    with pytest.raises(TypeError, match="refresh_token has no organization_id"):
        tenant_select(RefreshToken, uuid4())
    with pytest.raises(TypeError, match="refresh_token has no user_id"):
        user_select(RefreshToken, uuid4())
    with pytest.raises(TypeError, match="requirement has no user_id"):
        user_select(Requirement, uuid4())
