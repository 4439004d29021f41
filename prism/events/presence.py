"""Presence: who is viewing or editing a product, requirement or document right now, on any replica.

A present client holds an entry per (user, connection) on a target, with a mode (VIEWING or EDITING) and an expiry;
it renews the entry with a heartbeat and removes it when it leaves. A client that vanishes (a killed browser, a
crashed replica) just stops renewing: its entry expires after `ttl` seconds. Entries live in Redis when `REDIS_URL`
is set (a sorted set per target scored by expiry, so every replica reads the same set) and in process otherwise; both
honour one contract (tests/test_presence.py).

Changes are announced on the broker's `presence` topic (`{"o": organization, "t": target}`), so the subscribers of a
target on every replica re-read it at once; expiries are not announced (nobody is left to announce them), so
subscribers also re-read on every heartbeat.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

import orjson

from prism.events.broker import Broker, Listener
from prism.kv import redis_client

if TYPE_CHECKING:
    pass

__all__ = ["MODES", "MemoryPresence", "Presence", "PresenceEntry", "PresenceHub", "RedisPresence", "open_presence"]

logger = logging.getLogger("prism.events")

MODES = ("VIEWING", "EDITING")
PRESENCE_TOPIC = "presence"


@dataclass(frozen=True)
class PresenceEntry:
    """One user present on a target through one connection."""

    user_id: UUID
    connection: str
    mode: str
    expires_at: float


class Presence(Protocol):
    """Entries per (organization, target), with expiry."""

    async def touch(
        self, organization_id: UUID, target: str, user_id: UUID, connection: str, mode: str, ttl: float
    ) -> None:
        """Join, or renew: the entry lives `ttl` seconds from now."""
        ...

    async def leave(self, organization_id: UUID, target: str, user_id: UUID, connection: str) -> None: ...

    async def present(self, organization_id: UUID, target: str) -> list[PresenceEntry]:
        """The live entries, expired ones dropped."""
        ...

    async def close(self) -> None: ...


def _member(user_id: UUID, connection: str, mode: str) -> str:
    return f"{user_id}|{connection}|{mode}"


def _entry(member: str, expires_at: float) -> PresenceEntry | None:
    user, connection, mode = [*member.split("|"), "", "", ""][:3]
    try:
        return PresenceEntry(UUID(user), connection, mode, expires_at)
    except ValueError:
        return None


class MemoryPresence:
    """The embedded store: one process."""

    def __init__(self) -> None:
        self._targets: dict[tuple[UUID, str], dict[str, float]] = defaultdict(dict)

    def _live(self, key: tuple[UUID, str]) -> dict[str, float]:
        now = time.time()
        members = self._targets.get(key, {})
        for member in [m for m, expires in members.items() if expires <= now]:
            del members[member]
        if not members:
            self._targets.pop(key, None)
        return members

    async def touch(
        self, organization_id: UUID, target: str, user_id: UUID, connection: str, mode: str, ttl: float
    ) -> None:
        members = self._targets[(organization_id, target)]
        for member in [m for m in members if m.startswith(f"{user_id}|{connection}|")]:
            del members[member]
        members[_member(user_id, connection, mode)] = time.time() + ttl

    async def leave(self, organization_id: UUID, target: str, user_id: UUID, connection: str) -> None:
        members = self._targets.get((organization_id, target), {})
        for member in [m for m in members if m.startswith(f"{user_id}|{connection}|")]:
            del members[member]
        self._live((organization_id, target))

    async def present(self, organization_id: UUID, target: str) -> list[PresenceEntry]:
        members = self._live((organization_id, target))
        return [e for m, expires in members.items() if (e := _entry(m, expires)) is not None]

    async def close(self) -> None:
        self._targets.clear()


class RedisPresence:
    """The shared store: a sorted set per target, members scored by their expiry (seconds since the epoch)."""

    def __init__(self, url: str, prefix: str = "prism:") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix

    def _key(self, organization_id: UUID, target: str) -> str:
        return f"{self._prefix}presence:{organization_id}:{target}"

    async def touch(
        self, organization_id: UUID, target: str, user_id: UUID, connection: str, mode: str, ttl: float
    ) -> None:
        key, now = self._key(organization_id, target), time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            for other in MODES:
                if other != mode:
                    pipe.zrem(key, _member(user_id, connection, other))
            pipe.zadd(key, {_member(user_id, connection, mode): now + ttl})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, max(1, int(ttl * 2)))
            await pipe.execute()

    async def leave(self, organization_id: UUID, target: str, user_id: UUID, connection: str) -> None:
        key = self._key(organization_id, target)
        await self._redis.zrem(key, *(_member(user_id, connection, mode) for mode in MODES))

    async def present(self, organization_id: UUID, target: str) -> list[PresenceEntry]:
        found = await self._redis.zrangebyscore(
            self._key(organization_id, target), time.time(), "+inf", withscores=True
        )
        pairs: list[tuple[str, float]] = list(found)  # type: ignore[arg-type]  # withscores: (member, score) pairs
        return [e for member, score in pairs if (e := _entry(str(member), float(score))) is not None]

    async def close(self) -> None:
        await self._redis.aclose()


def open_presence(redis_url: str | None) -> Presence:
    """Redis when a URL is configured, else the in-process store."""
    return RedisPresence(redis_url) if redis_url else MemoryPresence()


class PresenceHub:
    """This process's listener to presence announcements: wakes the local watchers of a target when it changes."""

    def __init__(self, broker: Broker, store: Presence) -> None:
        self._broker = broker
        self.store = store
        self._watchers: dict[tuple[UUID, str], set[asyncio.Event]] = defaultdict(set)
        self._listener = Listener(broker, PRESENCE_TOPIC, self._wake, name="prism-presence-hub")

    async def announce(self, organization_id: UUID, target: str) -> None:
        """Tell every replica's watchers of the target that it changed (a lost announcement waits a heartbeat)."""
        try:
            await self._broker.publish(PRESENCE_TOPIC, orjson.dumps({"o": str(organization_id), "t": target}))
        except ConnectionError:
            logger.warning("could not announce a presence change; watchers see it at their next heartbeat")

    @contextlib.contextmanager
    def watch(self, organization_id: UUID, target: str) -> Iterator[asyncio.Event]:
        """An event set whenever the target's presence may have changed, for the block's duration."""
        changed = asyncio.Event()
        key = (organization_id, target)
        self._watchers[key].add(changed)
        try:
            yield changed
        finally:
            self._watchers[key].discard(changed)
            if not self._watchers[key]:
                del self._watchers[key]

    async def start(self) -> None:
        """Listen for announcements (returns once subscribed, so none made after the start is missed)."""
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()
        await self.store.close()

    def _wake(self, message: bytes) -> None:
        try:
            raw = orjson.loads(message)
            key = (UUID(raw["o"]), str(raw["t"]))
        except (ValueError, KeyError, TypeError):
            return
        for changed in self._watchers.get(key, ()):
            changed.set()
