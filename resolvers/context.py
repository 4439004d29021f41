"""The per-request context: viewer, organization, unit of work, loaders and services."""

from dataclasses import dataclass, field
from functools import cached_property
from uuid import UUID

from starlette.requests import Request

from loaders import Loaders
from prism.auth.rbac import Viewer
from prism.db.unit_of_work import UnitOfWork
from prism.errors import PrismError, UnauthenticatedError
from prism.runtime import Runtime
from prism.services.audit import RequestMeta
from prism.services.registry import Services

__all__ = ["Context"]


@dataclass
class Context:
    """What every resolver of one request (or one subscription event) shares."""

    request: Request | None
    request_id: str
    runtime: Runtime
    viewer: Viewer | None
    uow: UnitOfWork
    auth_error: PrismError | None = None
    _loaders: Loaders | None = field(default=None, repr=False)

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
        if self._loaders is None:
            assert self.viewer is not None, "loaders serve signed-in requests only"
            self._loaders = Loaders(self.uow, self.viewer.organization_id)
        return self._loaders

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
