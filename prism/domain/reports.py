"""Reports of a sprint or a release, produced in the background: what is asked for, and where each one stands."""

import enum

__all__ = ["ReportFormat", "ReportKind", "ReportState"]


class ReportKind(enum.StrEnum):
    """What a report describes."""

    SPRINT = "SPRINT"
    RELEASE = "RELEASE"


class ReportFormat(enum.StrEnum):
    """The file a report is produced as."""

    CSV = "CSV"
    JSON = "JSON"
    PDF = "PDF"

    @property
    def content_type(self) -> str:
        return {"CSV": "text/csv", "JSON": "application/json", "PDF": "application/pdf"}[self.value]

    @property
    def extension(self) -> str:
        return self.value.lower()


class ReportState(enum.StrEnum):
    """Where a report is: waiting for a worker, being built, ready to download, or failed for good."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    READY = "READY"
    FAILED = "FAILED"
