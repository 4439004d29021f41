"""Domain events: what changed, as the event log keeps it and the broker carries it.

An event says that one entity was created, updated or removed, in the shape of Linear's webhooks: `data` holds the
entity's public fields after the change (before it, for a removal) and `updatedFrom` the previous values of the
fields an update changed. `changed` names every changed field, including long texts whose values the log does not
copy (a description, a document's body), and `relations` lists the ids added to and removed from a to-many relation
(a requirement's labels, a team's members). Values are JSON: ids and times as strings, numbers as numbers.

A use case that touches an entity several times (creates a requirement, then sets its labels) yields one event for
it, merged here: what a subscriber sees is the net change of the transaction, never an intermediate state.
"""

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

__all__ = ["Action", "DomainEvent", "EntityChange", "Json", "RelationChange"]

Json = Any
"""A JSON value (None, bool, int, float, str, list or dict of JSON values)."""


class Action(enum.StrEnum):
    """What happened to the entity."""

    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"


@dataclass
class RelationChange:
    """Ids added to and removed from one to-many relation, in the order they were."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def then(self, later: "RelationChange") -> "RelationChange":
        """The net change of this one followed by `later` (an id added then removed was never added)."""
        return RelationChange(
            added=[i for i in self.added if i not in later.removed] + [i for i in later.added if i not in self.removed],
            removed=[i for i in self.removed if i not in later.added]
            + [i for i in later.removed if i not in self.added],
        )

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


@dataclass
class EntityChange:
    """One entity's change within a transaction, before the event log numbers it."""

    type: str
    action: Action
    entity_id: UUID
    organization_id: UUID
    product_id: UUID | None
    version: int
    data: dict[str, Json] = field(default_factory=dict)
    updated_from: dict[str, Json] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    relations: dict[str, RelationChange] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, UUID]:
        return (self.type, self.entity_id)

    def then(self, later: "EntityChange") -> "EntityChange | None":
        """The net change of this one followed by `later`, on the same entity; None when nothing is left."""
        if later.action is Action.REMOVE:
            # Created and removed in one transaction: nobody outside ever saw it.
            return (
                None if self.action is Action.CREATE else replace(later, product_id=later.product_id or self.product_id)
            )
        relations = dict(self.relations)
        for name, change in later.relations.items():
            relations[name] = relations[name].then(change) if name in relations else change
        relations = {name: change for name, change in relations.items() if change}
        if self.action is Action.CREATE or later.action is Action.CREATE:
            return replace(self, action=Action.CREATE, data={**self.data, **later.data}, relations=relations)
        updated_from = {**later.updated_from, **self.updated_from}
        data = {**self.data, **later.data}
        changed = list(dict.fromkeys([*self.changed, *later.changed]))
        # A value changed and changed back is no change.
        for name in [n for n in changed if n in updated_from and n in data and updated_from[n] == data[n]]:
            changed.remove(name)
            del updated_from[name]
        if not changed and not relations:
            return None
        return replace(
            self,
            data=data,
            updated_from=updated_from,
            changed=changed,
            relations=relations,
            product_id=later.product_id or self.product_id,
        )

    def payload(self) -> dict[str, Json]:
        """What the log stores and subscribers read besides the envelope."""
        payload: dict[str, Json] = {"data": self.data}
        if self.action is Action.UPDATE:
            payload["updatedFrom"] = self.updated_from
            payload["changed"] = self.changed
        if self.relations:
            payload["relations"] = {
                name: {"added": change.added, "removed": change.removed} for name, change in self.relations.items()
            }
        return payload


@dataclass(frozen=True)
class DomainEvent:
    """A committed change as the event log keeps it: numbered within its organization, with who and when."""

    organization_id: UUID
    sequence: int
    id: UUID
    type: str
    action: Action
    version: int
    entity_id: UUID
    product_id: UUID | None
    actor_user_id: UUID | None
    actor_api_key_id: UUID | None
    occurred_at: datetime
    payload: dict[str, Json]

    def to_message(self) -> bytes:
        """The event as the broker carries it (JSON)."""
        return orjson.dumps(
            {
                "organizationId": str(self.organization_id),
                "sequence": self.sequence,
                "id": str(self.id),
                "type": self.type,
                "action": self.action.value,
                "version": self.version,
                "entityId": str(self.entity_id),
                "productId": None if self.product_id is None else str(self.product_id),
                "actorUserId": None if self.actor_user_id is None else str(self.actor_user_id),
                "actorApiKeyId": None if self.actor_api_key_id is None else str(self.actor_api_key_id),
                "occurredAt": self.occurred_at.isoformat(),
                "payload": self.payload,
            }
        )

    @classmethod
    def from_message(cls, message: bytes | str) -> "DomainEvent":
        """Read an event the broker carried; raises ValueError (or KeyError) on anything else."""
        raw = orjson.loads(message)

        def uuid_or_none(value: str | None) -> UUID | None:
            return None if value is None else UUID(value)

        return cls(
            organization_id=UUID(raw["organizationId"]),
            sequence=int(raw["sequence"]),
            id=UUID(raw["id"]),
            type=str(raw["type"]),
            action=Action(raw["action"]),
            version=int(raw["version"]),
            entity_id=UUID(raw["entityId"]),
            product_id=uuid_or_none(raw["productId"]),
            actor_user_id=uuid_or_none(raw["actorUserId"]),
            actor_api_key_id=uuid_or_none(raw["actorApiKeyId"]),
            occurred_at=datetime.fromisoformat(raw["occurredAt"]),
            payload=dict(raw["payload"]),
        )
