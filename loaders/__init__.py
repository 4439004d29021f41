"""Per-request DataLoaders: a container that creates each loader lazily, once per request."""

from functools import cached_property
from uuid import UUID

from loaders.access import MembersByTeamLoader, ProductOverridesByUserLoader, TeamsByUserLoader
from loaders.pagination import CountLoader, PageLoader
from loaders.planning import SprintPointsBySprintLoader, SprintReportBySprintLoader
from loaders.rows import (
    ChildCountByRequirementLoader,
    LabelsByRequirementLoader,
    MembershipsByUserLoader,
    OrganizationByIdLoader,
    ProductByKeyLoader,
    RequirementByIdLoader,
    RequirementByKeyLoader,
    RowByIdLoader,
    UserByIdLoader,
)
from prism.db.access_tables import Invitation
from prism.db.tables import (
    Comment,
    Document,
    DocumentVersion,
    Label,
    Product,
    Release,
    RequirementEvent,
    Roadmap,
    RoadmapItem,
    Sprint,
    Team,
)
from prism.db.unit_of_work import UnitOfWork

__all__ = ["Loaders"]


class Loaders:
    """Every loader a request may use, built on first access and dropped with the request."""

    def __init__(self, reader: UnitOfWork, organization_id: UUID) -> None:
        self.reader = reader
        self.organization_id = organization_id

    def _by_id(self, model: type) -> RowByIdLoader:
        return RowByIdLoader(self.reader, self.organization_id, model.__table__)  # type: ignore[attr-defined]

    @cached_property
    def page(self) -> PageLoader:
        return PageLoader(self.reader, self.organization_id)

    @cached_property
    def count(self) -> CountLoader:
        return CountLoader(self.reader, self.organization_id)

    @cached_property
    def organization_by_id(self) -> OrganizationByIdLoader:
        return OrganizationByIdLoader(self.reader, self.organization_id)

    @cached_property
    def user_by_id(self) -> UserByIdLoader:
        return UserByIdLoader(self.reader, self.organization_id)

    @cached_property
    def memberships_by_user(self) -> MembershipsByUserLoader:
        return MembershipsByUserLoader(self.reader, self.organization_id)

    @cached_property
    def product_by_id(self) -> RowByIdLoader:
        return self._by_id(Product)

    @cached_property
    def product_by_key(self) -> ProductByKeyLoader:
        return ProductByKeyLoader(self.reader, self.organization_id)

    @cached_property
    def requirement_by_id(self) -> RequirementByIdLoader:
        return RequirementByIdLoader(self.reader, self.organization_id)

    @cached_property
    def requirement_by_key(self) -> RequirementByKeyLoader:
        return RequirementByKeyLoader(self.reader, self.organization_id)

    @cached_property
    def sprint_by_id(self) -> RowByIdLoader:
        return self._by_id(Sprint)

    @cached_property
    def release_by_id(self) -> RowByIdLoader:
        return self._by_id(Release)

    @cached_property
    def label_by_id(self) -> RowByIdLoader:
        return self._by_id(Label)

    @cached_property
    def roadmap_by_id(self) -> RowByIdLoader:
        return self._by_id(Roadmap)

    @cached_property
    def roadmap_item_by_id(self) -> RowByIdLoader:
        return self._by_id(RoadmapItem)

    @cached_property
    def document_by_id(self) -> RowByIdLoader:
        return self._by_id(Document)

    @cached_property
    def document_version_by_id(self) -> RowByIdLoader:
        return self._by_id(DocumentVersion)

    @cached_property
    def comment_by_id(self) -> RowByIdLoader:
        return self._by_id(Comment)

    @cached_property
    def requirement_event_by_id(self) -> RowByIdLoader:
        return self._by_id(RequirementEvent)

    @cached_property
    def labels_by_requirement(self) -> LabelsByRequirementLoader:
        return LabelsByRequirementLoader(self.reader, self.organization_id)

    @cached_property
    def child_count_by_requirement(self) -> ChildCountByRequirementLoader:
        return ChildCountByRequirementLoader(self.reader, self.organization_id)

    @cached_property
    def sprint_points_by_sprint(self) -> SprintPointsBySprintLoader:
        return SprintPointsBySprintLoader(self.reader, self.organization_id)

    @cached_property
    def sprint_report_by_sprint(self) -> SprintReportBySprintLoader:
        return SprintReportBySprintLoader(self.reader, self.organization_id)

    @cached_property
    def team_by_id(self) -> RowByIdLoader:
        return self._by_id(Team)

    @cached_property
    def invitation_by_id(self) -> RowByIdLoader:
        return self._by_id(Invitation)

    @cached_property
    def teams_by_user(self) -> TeamsByUserLoader:
        return TeamsByUserLoader(self.reader, self.organization_id)

    @cached_property
    def members_by_team(self) -> MembersByTeamLoader:
        return MembersByTeamLoader(self.reader, self.organization_id)

    @cached_property
    def product_overrides_by_user(self) -> ProductOverridesByUserLoader:
        return ProductOverridesByUserLoader(self.reader, self.organization_id)

    def clear(self) -> None:
        """Forget every cached result (after a mutation, so the payload reads what was written)."""
        for name in [n for n in vars(self) if n not in ("reader", "organization_id")]:
            del self.__dict__[name]
