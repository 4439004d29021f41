"""Reports: a sprint or release report as CSV, JSON or PDF, built in the background and downloaded by a link."""

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay

from loaders.pagination import Order
from loaders.rows import ReportByIdLoader
from loaders.sources import REPORTS_BY_ORGANIZATION
from prism.db.report_tables import Report as ReportTable
from prism.domain import reports as domain
from resolvers.common import UserError, decode_id, user_errors_field
from resolvers.connections import connection_field, payload
from resolvers.context import Context
from resolvers.declarations import Read, reads
from resolvers.downloads import download_url as signed_download_url
from resolvers.identity import User
from resolvers.node import LoadedNode, find_node, load_node
from resolvers.permissions import CanRead
from resolvers.releases import Release
from resolvers.sprints import Sprint

__all__ = ["Report", "ReportFormat", "ReportKind", "ReportState", "ReportsMutation", "ReportsQuery"]

Info = strawberry.Info[Context, None]
v = strawberry.enum_value


@strawberry.enum(description="What a report describes.")
class ReportKind(enum.Enum):
    SPRINT = v("SPRINT", description="A started sprint: its report, burndown, the product's velocity, its work.")
    RELEASE = v("RELEASE", description="A release: its requirements by status, and the product's velocity.")


@strawberry.enum(description="The file a report is produced as.")
class ReportFormat(enum.Enum):
    CSV = v("CSV", description="One line per requirement: key, title, status, points, committed, completed, carried.")
    JSON = v(
        "JSON",
        description="Every figure: summary, burndown series, cumulative flow, velocity and items (docs/analytics.md).",
    )
    PDF = v(
        "PDF", description="A printable summary with charts (burndown or points by status, velocity, cumulative flow)."
    )


@strawberry.enum(description="Where a report is.")
class ReportState(enum.Enum):
    QUEUED = v("QUEUED", description="Waiting for a worker (again, after a failed attempt: see `error`).")
    RUNNING = v("RUNNING", description="Being built.")
    READY = v("READY", description="Built and stored: `downloadUrl` gives its file.")
    FAILED = v("FAILED", description="Could not be built; `error` says why. Ask for a new one.")


@reads(
    ReportTable,
    kind=Read("kind", ReportKind),
    format=Read("format", ReportFormat),
    state=Read("state", ReportState),
)
@strawberry.type(description="A sprint or release report asked for with requestReport, and its file once READY.")
class Report(LoadedNode):
    loader = ReportByIdLoader

    id: relay.NodeID[str]
    kind: ReportKind = strawberry.field(description="SPRINT or RELEASE.")
    format: ReportFormat = strawberry.field(description="CSV, JSON or PDF.")
    state: ReportState = strawberry.field(description="QUEUED, RUNNING, READY or FAILED; poll `report(id:)`.")
    file_name: str | None = strawberry.field(description="The name the file downloads under; null until READY.")
    size: int | None = strawberry.field(description="The file's length in bytes; null until READY.")
    sha256: str | None = strawberry.field(description="The SHA-256 of the file, 64 hex digits; null until READY.")
    error: str | None = strawberry.field(
        description="Why the last attempt failed (FAILED, or QUEUED for another attempt); null otherwise."
    )
    attempts: int = strawberry.field(description="How many times a worker started building it.")
    created_at: datetime = strawberry.field(description="When it was asked for.")
    started_at: datetime | None = strawberry.field(description="When a worker last started building it.")
    finished_at: datetime | None = strawberry.field(description="When it became READY or FAILED.")
    subject_id: strawberry.Private[UUID]
    object_key: strawberry.Private[str | None]
    requested_by_id: strawberry.Private[UUID | None]

    @strawberry.field(description="The file's media type (`text/csv`, `application/json`, `application/pdf`).")
    def content_type(self) -> str:
        return domain.ReportFormat(self.format.name).content_type

    @strawberry.field(description="The sprint it describes (SPRINT); null for a release or once the sprint is gone.")
    async def sprint(self, info: Info) -> Sprint | None:
        if self.kind is not ReportKind.SPRINT:
            return None
        return await load_node(info, Sprint, self.subject_id)

    @strawberry.field(description="The release it describes (RELEASE); null for a sprint or once it is gone.")
    async def release(self, info: Info) -> Release | None:
        if self.kind is not ReportKind.RELEASE:
            return None
        return await load_node(info, Release, self.subject_id)

    @strawberry.field(description="Who asked for it; null once they left the organization.")
    async def requested_by(self, info: Info) -> User | None:
        return await load_node(info, User, self.requested_by_id)

    @strawberry.field(
        description=(
            "A URL that downloads the file without credentials for a limited time (PRISM_DOWNLOAD_URL_TTL_SECONDS, "
            "15 minutes by default), as an attachment's: a presigned S3 URL or PRISM's signed `/files/<token>` "
            "route. Null until READY. Ask again for a fresh one; do not share it."
        )
    )
    def download_url(self, info: Info) -> str | None:
        if self.state is not ReportState.READY or self.object_key is None:
            return None
        name = self.file_name or f"report.{self.format.name.lower()}"
        return signed_download_url(info, self.object_key, name, self.content_type())


@strawberry.type
class ReportsQuery:
    @strawberry.field(description="One report by global id; NOT_FOUND when none matches.", permission_classes=[CanRead])
    async def report(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The report's global id.")]
    ) -> Report | None:
        return await find_node(info, Report, id)

    reports = connection_field(
        Report,
        source=REPORTS_BY_ORGANIZATION,
        of_organization=True,
        order=Order(field="CREATED_AT", descending=True),
        description="The organization's reports, the latest asked for first.",
        permission_classes=[CanRead],
    )


@strawberry.input(description="A report to build: of which sprint or release, and as which file.")
class RequestReportInput:
    kind: ReportKind = strawberry.field(description="SPRINT (the sprint must have started) or RELEASE.")
    subject_id: strawberry.ID = strawberry.field(description="The sprint's or the release's global id, as `kind` says.")
    format: ReportFormat = strawberry.field(description="CSV, JSON or PDF.")


@strawberry.type(description="The result of requestReport.")
class RequestReportPayload:
    report: Report | None = strawberry.field(description="The new report, QUEUED; null on failure.")
    user_errors: list[UserError] = user_errors_field()


def _request(info: Info, input: RequestReportInput) -> Any:
    kind = domain.ReportKind(input.kind.name)
    subject = decode_id(input.subject_id, "Sprint" if kind is domain.ReportKind.SPRINT else "Release", "subjectId")
    return info.context.services.reports.request(kind, subject, domain.ReportFormat(input.format.name))


@strawberry.type
class ReportsMutation:
    @strawberry.mutation(
        description=(
            "Ask for a sprint or release report as CSV, JSON or PDF (anyone who may read the organization). It is "
            "built in the background: poll `report(id:)` until READY, then fetch `downloadUrl`. A sprint or release "
            "of another organization is NOT_FOUND; a sprint that has not started is INVALID_STATE."
        ),
        permission_classes=[CanRead],
    )
    async def request_report(self, info: Info, input: RequestReportInput) -> RequestReportPayload:
        return await payload(RequestReportPayload, lambda: _request(info, input), report=Report.from_row)
