"""The event log's writing side: changes are captured as the unit of work flushes and written when it commits.

The seam is the session, not the services: a listener on every flush of a unit of work's session turns the rows it
inserted, updated and deleted into entity changes (prism.db.event_catalog says which tables and fields count), so a
service cannot change an entity without its event, and a new mutation needs no event code. Changes of one entity
within one transaction merge into one event (prism.domain.events). When the unit of work commits, the changes are
numbered and inserted into `event` in the same transaction, just before COMMIT, so there is no event for a
rolled-back change and no committed change without its event. Publishing to the broker happens after the commit
(prism/events/); the relay republishes what was not published.

Statements that write rows without the ORM (`UPDATE ... WHERE`) are invisible to the listener; on an event table they
are refused (`BulkWriteRefusedError`), so a service cannot bypass the log by accident. Changes the database makes by
itself (ON DELETE CASCADE, SET NULL) are not events of their own: the removal that caused them is, and subscribers
treat a removed product, label or sprint as gone from everything that pointed at it.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, attributes
from sqlalchemy.orm.util import identity_key
from sqlmodel import SQLModel

from prism.db.base import utcnow
from prism.db.engine import set_tenant
from prism.db.event_catalog import ENTITIES, RELATIONS, EntitySpec, json_name, json_value
from prism.db.event_tables import Event, EventCounter
from prism.db.tenancy import tenant_select
from prism.domain.events import Action, DomainEvent, EntityChange, RelationChange

__all__ = [
    "RECORDER",
    "Actor",
    "BulkWriteRefusedError",
    "ChangeRecorder",
    "mark_published",
    "read_events",
    "sequence_bounds",
    "write_events",
]

RECORDER = "prism.change_recorder"
"""The key of a session's `info` under which its unit of work keeps the recorder."""


class BulkWriteRefusedError(RuntimeError):
    """A statement would change an event table's rows without the ORM, so without their event."""


@dataclass(frozen=True)
class Actor:
    """Who made the changes of a unit of work: a user, an API key (on behalf of its creator), or the system."""

    user_id: UUID | None = None
    api_key_id: UUID | None = None


@dataclass
class ChangeRecorder:
    """The entity changes of one transaction, merged per entity, in the order entities were first touched."""

    changes: dict[tuple[str, UUID], EntityChange] = field(default_factory=dict)
    parents: dict[tuple[str, UUID], tuple[type[SQLModel], UUID]] = field(default_factory=dict)
    """Changes whose product is known only through a parent that was not loaded: looked up when written."""

    def __bool__(self) -> bool:
        return bool(self.changes)

    def add(self, change: EntityChange, parent: tuple[type[SQLModel], UUID] | None = None) -> None:
        key = change.key
        earlier = self.changes.get(key)
        merged = change if earlier is None else earlier.then(change)
        if merged is None:
            del self.changes[key]
            self.parents.pop(key, None)
            return
        self.changes[key] = merged
        if merged.product_id is None and parent is not None:
            self.parents.setdefault(key, parent)

    def drain(self) -> tuple[list[EntityChange], dict[tuple[str, UUID], tuple[type[SQLModel], UUID]]]:
        changes, parents = list(self.changes.values()), self.parents
        self.changes, self.parents = {}, {}
        return changes, parents

    def clear(self) -> None:
        self.changes.clear()
        self.parents.clear()


# Capture -------------------------------------------------------------------------------------------------------


def _loaded(state: Any, attribute: str) -> Any:
    return state.dict.get(attribute)


def _snapshot(spec: EntitySpec, state: Any) -> dict[str, Any]:
    return {json_name(name): json_value(_loaded(state, name)) for name in spec.fields}


def _product(spec: EntitySpec, session: Session, state: Any) -> tuple[UUID | None, tuple[type[SQLModel], UUID] | None]:
    """The entity's product, and when it is known only through a parent not in the session, that parent."""
    if spec.product is not None:
        return _loaded(state, spec.product), None
    for attribute, parent_table in spec.product_via:
        parent_id = _loaded(state, attribute)
        if parent_id is None:
            continue
        parent = session.identity_map.get(_identity(parent_table, parent_id))
        if parent is not None:
            return parent.product_id, None  # type: ignore[attr-defined]
        return None, (parent_table, parent_id)
    return None, None


def _identity(table: type[SQLModel], key: UUID) -> Any:
    return identity_key(table, key)


def _change(spec: EntitySpec, session: Session, obj: Any, action: Action) -> None:
    recorder: ChangeRecorder = session.info[RECORDER]
    state = attributes.instance_state(obj)
    product_id, parent = _product(spec, session, state)
    change = EntityChange(
        type=spec.name,
        action=action,
        entity_id=_loaded(state, "id"),
        organization_id=_loaded(state, spec.organization),
        product_id=product_id,
        version=spec.version,
        data=_snapshot(spec, state),
    )
    if action is Action.UPDATE:
        for name in (*spec.fields, *spec.opaque):
            history = state.attrs[name].history
            if not history.has_changes():
                continue
            before = history.deleted[0] if history.deleted else None
            after = _loaded(state, name)
            if before == after:
                continue
            change.changed.append(json_name(name))
            if name in spec.fields:
                change.updated_from[json_name(name)] = json_value(before)
        if not change.changed:
            return
    recorder.add(change, parent)


def _relation(spec: Any, session: Session, obj: Any, added: bool) -> None:
    recorder: ChangeRecorder = session.info[RECORDER]
    state = attributes.instance_state(obj)
    entity_spec = ENTITIES[spec.entity]
    entity_id = _loaded(state, spec.entity_key)
    value = json_value(_loaded(state, spec.value_key))
    entity = session.identity_map.get(_identity(spec.entity, entity_id))
    product_id, parent = (None, None)
    data: dict[str, Any] = {}
    if entity is not None:
        entity_state = attributes.instance_state(entity)
        product_id, parent = _product(entity_spec, session, entity_state)
        data = _snapshot(entity_spec, entity_state)
    elif entity_spec.product is not None:
        parent = (spec.entity, entity_id)
    relation = RelationChange(added=[value]) if added else RelationChange(removed=[value])
    recorder.add(
        EntityChange(
            type=entity_spec.name,
            action=Action.UPDATE,
            entity_id=entity_id,
            organization_id=_loaded(state, "organization_id"),
            product_id=product_id,
            version=entity_spec.version,
            data=data,
            relations={spec.relation: relation},
        ),
        parent,
    )


@sa_event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if RECORDER not in session.info:
        return
    for obj in session.new:
        if (spec := ENTITIES.get(type(obj))) is not None:
            _change(spec, session, obj, Action.CREATE)
        elif (relation := RELATIONS.get(type(obj))) is not None:
            _relation(relation, session, obj, added=True)
    for obj in session.dirty:
        if (spec := ENTITIES.get(type(obj))) is not None:
            _change(spec, session, obj, Action.UPDATE)
    for obj in session.deleted:
        if (spec := ENTITIES.get(type(obj))) is not None:
            _change(spec, session, obj, Action.REMOVE)
        elif (relation := RELATIONS.get(type(obj))) is not None:
            _relation(relation, session, obj, added=False)


_EVENT_TABLES = frozenset(table.__tablename__ for table in (*ENTITIES, *RELATIONS))  # type: ignore[attr-defined]


@sa_event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    if RECORDER not in state.session.info or not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name in _EVENT_TABLES:
        raise BulkWriteRefusedError(
            f"A bulk write to {name} would change rows without their event: load the rows and change them instead."
        )


# Writing -------------------------------------------------------------------------------------------------------


async def _resolve_products(
    conn: AsyncConnection,
    organization_id: UUID,
    changes: Sequence[EntityChange],
    parents: dict[tuple[str, UUID], tuple[type[SQLModel], UUID]],
) -> None:
    """Fill in the product of changes known only through a parent the session had not loaded (one read per table)."""
    wanted: dict[type[SQLModel], set[UUID]] = {}
    for change in changes:
        if change.product_id is None and (parent := parents.get(change.key)) is not None:
            wanted.setdefault(parent[0], set()).add(parent[1])
    found: dict[UUID, UUID] = {}
    for table, ids in wanted.items():
        columns = table.__table__.c  # type: ignore[attr-defined]
        statement = tenant_select(table.__table__, organization_id, columns.id, columns.product_id)  # type: ignore[attr-defined]
        rows = await conn.execute(statement.where(columns.id.in_(ids)))
        found.update({row.id: row.product_id for row in rows})
    for change in changes:
        if change.product_id is None and (parent := parents.get(change.key)) is not None:
            change.product_id = found.get(parent[1])


async def write_events(
    conn: AsyncConnection,
    recorder: ChangeRecorder,
    actor: Actor,
    scoped_to: tuple[UUID | None, UUID | None] | None = None,
) -> list[DomainEvent]:
    """Number the recorded changes and insert them into the log, in the connection's open transaction.

    `scoped_to` is the scope the transaction is in, so it is not set again. Organizations are written in the order
    of their ids: two transactions that touch the same two organizations take their counters' locks in one order.
    Leaves the transaction scoped to the last organization written: the caller commits right after.
    """
    changes, parents = recorder.drain()
    if not changes:
        return []
    by_organization: dict[UUID, list[EntityChange]] = {}
    for change in changes:
        by_organization.setdefault(change.organization_id, []).append(change)
    occurred_at = utcnow()
    events: list[DomainEvent] = []
    counter = EventCounter.__table__  # type: ignore[attr-defined]
    log = Event.__table__  # type: ignore[attr-defined]
    for organization_id, batch in sorted(by_organization.items(), key=lambda item: item[0]):
        if scoped_to != (organization_id, actor.user_id):
            await set_tenant(conn, organization_id, actor.user_id)
            scoped_to = (organization_id, actor.user_id)
        await _resolve_products(conn, organization_id, batch, parents)
        insert = pg_insert(counter).values(organization_id=organization_id, last_sequence=len(batch))
        last = (
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[counter.c.organization_id],
                    set_={"last_sequence": counter.c.last_sequence + len(batch)},
                ).returning(counter.c.last_sequence)
            )
        ).scalar_one()
        first = last - len(batch) + 1
        numbered = [
            DomainEvent(
                organization_id=organization_id,
                sequence=first + index,
                id=uuid4(),
                type=change.type,
                action=change.action,
                version=change.version,
                entity_id=change.entity_id,
                product_id=change.product_id,
                actor_user_id=actor.user_id,
                actor_api_key_id=actor.api_key_id,
                occurred_at=occurred_at,
                payload=change.payload(),
            )
            for index, change in enumerate(batch)
        ]
        # The columns are the event's fields, by name (the action stored as its value).
        await conn.execute(log.insert(), [{**vars(e), "action": e.action.value} for e in numbered])
        events.extend(numbered)
    return events


async def mark_published(conn: AsyncConnection, organization_id: UUID, sequences: Iterable[int]) -> None:
    """Record that the broker has these events, in the connection's open transaction (scoped to the organization)."""
    log = Event.__table__  # type: ignore[attr-defined]
    await conn.execute(
        log.update()
        .where(
            log.c.organization_id == organization_id,
            log.c.sequence.in_(list(sequences)),
            log.c.published_at.is_(None),
        )
        .values(published_at=sa.func.now())
    )


def event_from_row(row: Any) -> DomainEvent:
    """A log row as the event it records."""
    return DomainEvent(
        organization_id=row.organization_id,
        sequence=row.sequence,
        id=row.id,
        type=row.type,
        action=Action(row.action),
        version=row.version,
        entity_id=row.entity_id,
        product_id=row.product_id,
        actor_user_id=row.actor_user_id,
        actor_api_key_id=row.actor_api_key_id,
        occurred_at=row.occurred_at,
        payload=row.payload,
    )


async def read_events(
    conn: AsyncConnection,
    organization_id: UUID,
    *,
    after: int = 0,
    limit: int = 100,
    product_id: UUID | None = None,
    with_organization_wide: bool = False,
    unpublished_only: bool = False,
    lock: bool = False,
) -> list[DomainEvent]:
    """The organization's events after a sequence number, oldest first, in a transaction scoped to it.

    With `product_id`, that product's events only; `with_organization_wide` adds the events of no product (members,
    API keys, the organization itself: what may change a subscriber's access)."""
    log = Event.__table__  # type: ignore[attr-defined]
    statement = tenant_select(log, organization_id).where(log.c.sequence > after).order_by(log.c.sequence).limit(limit)
    if product_id is not None:
        product = log.c.product_id == product_id
        statement = statement.where(sa.or_(product, log.c.product_id.is_(None)) if with_organization_wide else product)
    if unpublished_only:
        statement = statement.where(log.c.published_at.is_(None))
    if lock:
        # Two relays (replicas) never publish the same rows at once; one skips what the other holds.
        statement = statement.with_for_update(skip_locked=True)
    return [event_from_row(row) for row in await conn.execute(statement)]


async def sequence_bounds(conn: AsyncConnection, organization_id: UUID) -> tuple[int, int]:
    """The organization's last sequence number given out, and the oldest still in the log (last + 1 when empty)."""
    counter = EventCounter.__table__  # type: ignore[attr-defined]
    log = Event.__table__  # type: ignore[attr-defined]
    last = (await conn.execute(tenant_select(counter, organization_id, counter.c.last_sequence))).scalar()
    oldest = (await conn.execute(tenant_select(log, organization_id, sa.func.min(log.c.sequence)))).scalar()
    last = int(last or 0)
    return last, int(oldest) if oldest is not None else last + 1
