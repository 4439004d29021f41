"""Per-request DataLoaders: a container that creates each loader lazily, once per request, by its class."""

from collections.abc import Hashable, Sequence
from typing import Any, Protocol, TypeVar
from uuid import UUID

from loaders.rows import LabelsByRequirementLoader, RowLoader
from prism.db.unit_of_work import UnitOfWork

__all__ = ["Loaders", "RequestLoader"]

LoaderT = TypeVar("LoaderT", bound="RequestLoader")
RowLoaderT = TypeVar("RowLoaderT", bound=RowLoader[Any] | LabelsByRequirementLoader)
"""A loader that reads the columns it is given: by id or key (RowLoader), or a to-many relation's rows."""


class RequestLoader(Protocol):
    """What every loader class is: built from the request's unit of work and organization."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None: ...


class Loaders:
    """Every loader a request uses, built on first use and dropped with the request.

    A resolver names the loader by its class, `info.context.loaders.get(UserByIdLoader)`, and so does a type that
    loads its rows by id (`LoadedNode.loader`) or a relation (`Related.loader`): mypy checks the name and the key and
    value types, and no registry has to list the loaders.
    """

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        self.reader = reader
        self.organization_id = organization_id
        self._built: dict[Hashable, RequestLoader] = {}

    def get(self, loader: type[LoaderT]) -> LoaderT:
        """The request's loader of this class, built on first use."""
        built = self._built.get(loader)
        if built is None:
            built = self._built[loader] = loader(self.reader, self.organization_id)
        return built  # type: ignore[return-value]

    def rows(self, loader: type[RowLoaderT], columns: Sequence[str]) -> RowLoaderT:
        """The request's loader of this class reading `columns` (a type's declared columns; see RowLoader).

        Loads of one type always ask for the same columns, so they share one loader and batch together.
        """
        key = (loader, tuple(columns))
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = loader(self.reader, self.organization_id, columns)
        return built  # type: ignore[return-value]

    def clear(self) -> None:
        """Forget every cached result (after a mutation, so the payload reads what was written)."""
        self._built.clear()
