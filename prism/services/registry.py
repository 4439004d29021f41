"""The services a request may call, built lazily around its viewer."""

from functools import cached_property

from prism.auth.rbac import Viewer
from prism.db.unit_of_work import UnitOfWork
from prism.errors import UnauthenticatedError
from prism.runtime import Runtime
from prism.services.ai_prompts import PromptService
from prism.services.api_keys import ApiKeyService
from prism.services.attachments import AttachmentLimits, AttachmentService
from prism.services.audit import RequestMeta
from prism.services.comments import CommentService
from prism.services.documents import DocumentService
from prism.services.features import FeatureService
from prism.services.identity import IdentityService
from prism.services.invitations import InvitationService
from prism.services.jobs import JobService
from prism.services.labels import LabelService
from prism.services.members import MemberService
from prism.services.prd_generation import PrdGenerationService
from prism.services.priorities import PriorityService
from prism.services.products import ProductService
from prism.services.releases import ReleaseService
from prism.services.reports import ReportService
from prism.services.requirement_analysis import AnalysisService
from prism.services.requirements import RequirementService
from prism.services.roadmaps import RoadmapService
from prism.services.sprint_planning import SprintPlanningService
from prism.services.sprints import SprintService
from prism.services.story_generation import StoryGenerationService
from prism.services.teams import TeamService
from prism.services.usage import UsageLimits, UsageService

__all__ = ["Services"]


class Services:
    """Use cases bound to one request's viewer and unit of work; those that need a viewer refuse anonymous callers."""

    def __init__(
        self, runtime: Runtime, uow: UnitOfWork, viewer: Viewer | None, meta: RequestMeta | None = None
    ) -> None:
        self._runtime = runtime
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def viewer(self) -> Viewer:
        if self._viewer is None:
            raise UnauthenticatedError("Sign in to do this.")
        return self._viewer

    @cached_property
    def identity(self) -> IdentityService:
        return IdentityService(self._runtime, self._uow, self._meta, self._viewer)

    @cached_property
    def api_keys(self) -> ApiKeyService:
        return ApiKeyService(self._uow, self.viewer, self._meta, self._runtime.settings.reauthentication_window_seconds)

    @cached_property
    def jobs(self) -> JobService:
        return JobService(self._uow, self.viewer, self._meta)

    @cached_property
    def ai_prompts(self) -> PromptService:
        return PromptService(self._uow, self.viewer, self._meta)

    @cached_property
    def analysis(self) -> AnalysisService:
        return AnalysisService(self._runtime, self._uow, self.viewer)

    @cached_property
    def priorities(self) -> PriorityService:
        return PriorityService(self._runtime, self._uow, self.viewer)

    @cached_property
    def prd_generation(self) -> PrdGenerationService:
        return PrdGenerationService(self._runtime, self._uow, self.viewer, self._meta)

    @cached_property
    def products(self) -> ProductService:
        return ProductService(self._uow, self.viewer, self._meta)

    @cached_property
    def requirements(self) -> RequirementService:
        return RequirementService(self._uow, self.viewer, self._meta, storage=self._runtime.object_store)

    @cached_property
    def story_generation(self) -> StoryGenerationService:
        return StoryGenerationService(self._runtime, self._uow, self.viewer, self.requirements)

    @cached_property
    def sprints(self) -> SprintService:
        return SprintService(self._uow, self.viewer, self._meta)

    @cached_property
    def sprint_planning(self) -> SprintPlanningService:
        return SprintPlanningService(self._runtime, self._uow, self.viewer, self._meta)

    @cached_property
    def releases(self) -> ReleaseService:
        return ReleaseService(self._uow, self.viewer, self._meta)

    @cached_property
    def roadmaps(self) -> RoadmapService:
        return RoadmapService(self._uow, self.viewer, self._meta)

    @cached_property
    def documents(self) -> DocumentService:
        return DocumentService(self._uow, self.viewer, self._meta, storage=self._runtime.object_store)

    @cached_property
    def attachments(self) -> AttachmentService:
        settings = self._runtime.settings
        limits = AttachmentLimits(settings.attachment_max_bytes, tuple(settings.attachment_content_type_list))
        return AttachmentService(self._uow, self.viewer, self._runtime.object_store, limits, self._meta)

    @cached_property
    def reports(self) -> ReportService:
        return ReportService(self._uow, self.viewer, self._meta)

    @cached_property
    def features(self) -> FeatureService:
        return FeatureService(self._uow, self.viewer, self._meta)

    @cached_property
    def usage(self) -> UsageService:
        settings = self._runtime.settings
        limits = UsageLimits(settings.usage_events_max_batch, settings.usage_event_max_properties_bytes)
        return UsageService(self._uow, self.viewer, limits)

    @cached_property
    def comments(self) -> CommentService:
        return CommentService(self._uow, self.viewer, self._meta, storage=self._runtime.object_store)

    @cached_property
    def labels(self) -> LabelService:
        return LabelService(self._uow, self.viewer, self._meta)

    @cached_property
    def members(self) -> MemberService:
        return MemberService(self._uow, self.viewer, self._meta)

    @cached_property
    def teams(self) -> TeamService:
        return TeamService(self._uow, self.viewer, self._meta)

    @cached_property
    def invitations(self) -> InvitationService:
        return InvitationService(self._uow, self.viewer, self._runtime.mailer, self.identity, self._meta)
