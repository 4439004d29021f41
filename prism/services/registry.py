"""The services a request may call, built lazily around its viewer."""

from functools import cached_property

from prism.auth.rbac import Viewer
from prism.errors import UnauthenticatedError
from prism.runtime import Runtime
from prism.services.identity import IdentityService
from prism.services.products import ProductService
from prism.services.requirements import RequirementService

__all__ = ["Services"]


class Services:
    """Use cases bound to one request's viewer; a service that needs a viewer refuses anonymous callers."""

    def __init__(self, runtime: Runtime, viewer: Viewer | None) -> None:
        self._runtime = runtime
        self._viewer = viewer

    @property
    def viewer(self) -> Viewer:
        if self._viewer is None:
            raise UnauthenticatedError("Sign in to do this.")
        return self._viewer

    @cached_property
    def identity(self) -> IdentityService:
        return IdentityService(self._runtime.engine, self._runtime.hasher, self._runtime.tokens)

    @cached_property
    def products(self) -> ProductService:
        return ProductService(self._runtime.engine, self.viewer)

    @cached_property
    def requirements(self) -> RequirementService:
        return RequirementService(self._runtime.engine, self.viewer)
