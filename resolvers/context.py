"""The per-request context: viewer, organization, unit of work, loaders and services.

Over HTTP one context serves one request. Over WebSocket one context serves the connection, and each event a
subscription delivers is resolved in a scope of its own (`event_scope`): a fresh unit of work (its own short
transaction, scoped to the viewer) and fresh loaders, so an event never reads what an earlier one cached and no
connection is held between events. The scope is a context variable, so the subscriptions of one connection, each
running in a task of its own, never see each other's.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from uuid import UUID

from starlette.requests import HTTPConnection, Request

from loaders import Loaders
from prism.auth.rbac import Viewer
from prism.db.unit_of_work import UnitOfWork
from prism.errors import PrismError, UnauthenticatedError
from prism.runtime import Runtime
from prism.services.audit import RequestMeta
from prism.services.authentication import ConnectionAccess
from prism.services.registry import Services

__all__ = ["Context", "EventScope", "release_event_connection"]


@dataclass
class EventScope:
    """One subscription event's unit of work and loaders."""

    uow: UnitOfWork
    loaders: Loaders | None = None


_EVENT_SCOPE: ContextVar[EventScope | None] = ContextVar("prism_event_scope", default=None)


async def release_event_connection() -> None:
    """Give back the current subscription event's connection once its result is computed, before it is sent.

    Sending waits for the client (a slow or stalled one for long): no pooled connection may wait with it.
    """
    scope = _EVENT_SCOPE.get()
    if scope is not None:
        await scope.uow.close()


@dataclass
class Context:
    """What every resolver of one request (or one subscription event) shares."""

    request: Request | HTTPConnection | None
    request_id: str
    runtime: Runtime
    viewer: Viewer | None
    request_uow: UnitOfWork
    auth_error: PrismError | None = None
    _loaders: Loaders | None = field(default=None, repr=False)
    connection_params: dict[str, Any] | None = None
    """What a WebSocket client sent in `connection_init` (its credentials)."""
    access: ConnectionAccess | None = field(default=None, repr=False)
    """A WebSocket connection's credential, checked again before each event its subscriptions deliver."""
    executor: str = "resolvers"
    """Which executor answered the request's operation: "planned" (resolvers/planner) or "resolvers"."""

    @property
    def uow(self) -> UnitOfWork:
        """The request's unit of work, or the current subscription event's."""
        scope = _EVENT_SCOPE.get()
        return scope.uow if scope is not None else self.request_uow

    @property
    def organization_id(self) -> UUID | None:
        return self.viewer.organization_id if self.viewer else None

    @property
    def member(self) -> Viewer:
        """The viewer of a request that permission classes already required to be signed in."""
        if self.viewer is None:
            raise self.auth_error or UnauthenticatedError("Sign in to use this field.")
        return self.viewer

    @property
    def loaders(self) -> Loaders:
        assert self.viewer is not None, "loaders serve signed-in requests only"
        scope = _EVENT_SCOPE.get()
        if scope is not None:
            if scope.loaders is None:
                scope.loaders = Loaders(scope.uow, self.viewer.organization_id)
            return scope.loaders
        if self._loaders is None:
            self._loaders = Loaders(self.uow, self.viewer.organization_id)
        return self._loaders

    @asynccontextmanager
    async def event_scope(self) -> AsyncIterator[EventScope]:
        """A fresh unit of work and loaders for resolving one subscription event, closed at the end of the block."""
        assert self.viewer is not None, "subscriptions serve signed-in connections only"
        viewer = self.viewer
        scope = EventScope(
            self.runtime.unit_of_work(viewer.organization_id, viewer.user_id, api_key_id=viewer.api_key_id)
        )
        token = _EVENT_SCOPE.set(scope)
        try:
            yield scope
        finally:
            # A subscription abandoned mid-event is finalized outside its task; its own context goes with it.
            with suppress(ValueError):
                _EVENT_SCOPE.reset(token)
            await scope.uow.close()

    @cached_property
    def services(self) -> Services:
        return Services(self.runtime, self.uow, self.viewer, self.meta)

    @cached_property
    def meta(self) -> RequestMeta:
        """Where the request came from (client address behind the proxy, user agent)."""
        if self.request is None:
            return RequestMeta()
        client = self.request.client
        return RequestMeta(ip=client.host if client else None, user_agent=self.request.headers.get("user-agent"))

    def after_write(self) -> None:
        """Drop cached reads so a mutation's payload shows what was just written."""
        if self._loaders is not None:
            self._loaders.clear()

    def release(self) -> None:
        """Drop the request's loaders and what they read, once its answer is made.

        The context sits in reference cycles (the request, its middleware and its execution refer to each other),
        which only the cyclic garbage collector frees; without this, everything the loaders read (a dashboard's
        thousand rows, their tuples and UUIDs: about 5,600 objects) would wait for it too, and the collections it
        triggers cost about a fifth of a dashboard request's CPU. Dropped here, they are freed at once.
        """
        loaders, self._loaders = self._loaders, None
        if loaders is not None:
            loaders.clear()
