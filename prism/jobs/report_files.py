"""A report's file in each format: CSV (one line per requirement), JSON (every figure) and PDF (with charts).

matplotlib (its Agg backend, without pyplot's global state) draws the charts to PNG and fpdf2 lays out the PDF. Both
take about a second to import, so they are imported inside `pdf_file`, which only the report job calls; nothing
else in PRISM loads them.
"""

import csv
import io
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from prism.domain.enums import RequirementStatus
from prism.domain.reports import ReportFormat, ReportKind
from prism.jobs.report_data import ReportContent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CSV_COLUMNS", "PDF_MAX_ITEMS", "csv_file", "json_file", "pdf_file", "render"]

PDF_MAX_ITEMS = 300
"""The most requirements a PDF's table lists (laying out a table row costs fpdf2 about 10 ms); the CSV and the JSON
list them all, and the PDF says how many it left out."""

CSV_COLUMNS = ("key", "title", "status", "points", "committed", "completed", "carried")
"""The CSV's header, one line per requirement after it."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_CHARTS = threading.Lock()
"""matplotlib keeps process-wide state (its font cache, rcParams) and is not thread-safe; reports render in worker
threads (prism.jobs.reports), so charts are drawn one at a time."""


def _cell(text: str) -> str:
    # A title a spreadsheet would run as a formula (CSV injection) is kept as text.
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _points(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def csv_file(content: ReportContent) -> bytes:
    """One line per requirement: key, title, status, points (empty when unestimated) and what the report counts it
    as (`true`/`false`): committed, completed, carried over (for a release: in it, DONE, still open)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in content.items:
        writer.writerow(
            [
                item.key,
                _cell(item.title),
                item.status,
                _points(item.points),
                *("true" if flag else "false" for flag in (item.committed, item.completed, item.carried)),
            ]
        )
    return out.getvalue().encode()


def json_file(content: ReportContent) -> bytes:
    """Every figure of the report, named as the GraphQL fields that answer them."""
    return orjson.dumps(content.as_json(), option=orjson.OPT_INDENT_2)


def _png(figure: "Figure") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110)
    return out.getvalue()


def _burndown_chart(content: ReportContent) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.9), layout="constrained")
    axes = figure.add_subplot()
    # matplotlib plots dates on a date axis; its stubs type x values as numbers only.
    days: Any = [day.day for day in content.burndown]
    axes.plot(days, [d.scope for d in content.burndown], label="Scope", color="#888888")
    axes.plot(days, [d.done for d in content.burndown], label="Done", color="#2a9d8f", marker="o", markersize=3)
    axes.plot(
        days, [d.remaining for d in content.burndown], label="Remaining", color="#e76f51", marker="o", markersize=3
    )
    axes.plot(days, [d.ideal for d in content.burndown], label="Ideal", color="#264653", linestyle="--")
    axes.set_title("Burndown")
    axes.set_ylabel("Points")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncols=4, fontsize="small", frameon=False)
    figure.autofmt_xdate()
    return _png(figure)


def _velocity_chart(content: ReportContent) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.9), layout="constrained")
    axes = figure.add_subplot()
    sprints = content.velocity_sprints
    places = list(range(len(sprints)))
    axes.bar([p - 0.2 for p in places], [s.committed for s in sprints], width=0.4, label="Committed", color="#8ab17d")
    axes.bar([p + 0.2 for p in places], [s.completed for s in sprints], width=0.4, label="Completed", color="#2a9d8f")
    if content.velocity.mean_completed is not None:
        axes.axhline(content.velocity.mean_completed, color="#e76f51", linestyle="--", label="Mean completed")
    axes.set_xticks(places, [s.name for s in sprints], fontsize="small")
    axes.set_title("Velocity (last closed sprints)")
    axes.set_ylabel("Points")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, fontsize="small", frameon=False)
    return _png(figure)


def _status_chart(content: ReportContent) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.9), layout="constrained")
    axes = figure.add_subplot()
    statuses = list(content.by_status)
    axes.bar(statuses, [content.by_status[s]["points"] for s in statuses], color="#264653")
    axes.set_title("Points by status")
    axes.set_ylabel("Points")
    return _png(figure)


_FLOW_COLORS = {
    RequirementStatus.BACKLOG: "#d9d9d9",
    RequirementStatus.TODO: "#8ab17d",
    RequirementStatus.IN_PROGRESS: "#e9c46a",
    RequirementStatus.IN_REVIEW: "#f4a261",
    RequirementStatus.DONE: "#2a9d8f",
    RequirementStatus.CANCELED: "#888888",
}


def _cumulative_flow_chart(content: ReportContent) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.9), layout="constrained")
    axes = figure.add_subplot()
    days: Any = [day.day for day in content.cumulative_flow]
    # Stacked bottom to top as work flows: finished bands at the bottom, the backlog on top.
    statuses = [status for status, _ in reversed(content.cumulative_flow[0].counts)]
    axes.stackplot(
        days,
        [[day.count(status) for day in content.cumulative_flow] for status in statuses],
        labels=[status.value.replace("_", " ").capitalize() for status in statuses],
        colors=[_FLOW_COLORS[status] for status in statuses],
    )
    first, last = content.cumulative_flow[0].day, content.cumulative_flow[-1].day
    axes.set_title(f"Cumulative flow of the product ({first:%d %b} to {last:%d %b %Y})")
    axes.set_ylabel("Requirements")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncols=6, fontsize="small", frameon=False)
    figure.autofmt_xdate()
    return _png(figure)


def _charts(content: ReportContent) -> list[tuple[str, Callable[[ReportContent], bytes]]]:
    charts: list[tuple[str, Callable[[ReportContent], bytes]]] = []
    if content.kind is ReportKind.SPRINT and content.burndown:
        charts.append(("Burndown", _burndown_chart))
    if content.kind is ReportKind.RELEASE and content.by_status:
        charts.append(("Points by status", _status_chart))
    if content.velocity_sprints:
        charts.append(("Velocity", _velocity_chart))
    if content.cumulative_flow:
        charts.append(("Cumulative flow", _cumulative_flow_chart))
    return charts


def _font_path() -> str:
    # DejaVu Sans ships with matplotlib: Latin, Greek, Cyrillic, Hebrew and Arabic print as written; scripts it lacks
    # (CJK, Thai) are dropped from the PDF until a fallback font is configured (docs/analytics.md).
    import matplotlib

    return f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans.ttf"


def pdf_file(content: ReportContent) -> bytes:
    """A PDF with the report's summary, its charts (a sprint's burndown, a release's points by status, the
    product's velocity and its cumulative flow) and the table of its requirements."""
    import matplotlib

    matplotlib.use("Agg")
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(content.title)
    pdf.set_creator("PRISM")
    font = _font_path()
    pdf.add_font("DejaVu", "", font)
    pdf.add_font("DejaVu", "B", font.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 8, content.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(0, 6, f"Generated {content.generated_at:%Y-%m-%d %H:%M} UTC", new_x="LMARGIN", new_y="NEXT")
    _subject_lines(pdf, content)
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(0, 7, "Summary", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    with pdf.table(col_widths=(50, 30, 30), width=110, align="LEFT") as table:
        table.row(["", "Requirements", "Points"])
        for name, figure in content.summary.items():
            table.row([_label(name), f"{figure['count']:g}", f"{figure['points']:g}"])
    velocity = content.velocity
    if velocity.mean_completed is not None:
        pdf.ln(1)
        pdf.cell(
            0,
            6,
            f"Velocity: mean {velocity.mean_completed:.1f} points completed per sprint "
            f"(standard deviation {velocity.standard_deviation or 0:.1f}) over {len(velocity.sprints)} sprint(s)",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    for heading, draw in _charts(content):
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        with _CHARTS:
            chart = draw(content)
        pdf.image(io.BytesIO(chart), w=160)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(0, 7, "Requirements", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    with pdf.table(col_widths=(20, 70, 24, 14, 18, 18, 16)) as table:
        table.row(["Key", "Title", "Status", "Points", "Committed", "Completed", "Carried"])
        for item in content.items[:PDF_MAX_ITEMS]:
            table.row(
                [
                    item.key,
                    item.title,
                    item.status,
                    _points(item.points),
                    *("yes" if flag else "" for flag in (item.committed, item.completed, item.carried)),
                ]
            )
    left_out = len(content.items) - PDF_MAX_ITEMS
    if left_out > 0:
        pdf.ln(2)
        pdf.multi_cell(
            0, 5, f"... and {left_out} more requirements: the CSV and JSON reports list them all.", new_x="LMARGIN"
        )
    return bytes(pdf.output())


def _label(name: str) -> str:
    return {"carriedOver": "Carried over", "open": "Still open"}.get(name, name.capitalize())


def _subject_lines(pdf: Any, content: ReportContent) -> None:
    subject = content.subject
    lines = [f"Product: {subject['product']['name']} ({subject['product']['key']})", f"State: {subject['state']}"]
    if content.kind is ReportKind.SPRINT:
        if subject.get("goal"):
            lines.append(f"Goal: {subject['goal']}")
        lines.append(f"Dates: {subject['startsOn'] or '?'} to {subject['endsOn'] or '?'}")
    elif subject.get("targetDate"):
        lines.append(f"Target date: {subject['targetDate']}")
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")


RENDERERS: dict[ReportFormat, Callable[[ReportContent], bytes]] = {
    ReportFormat.CSV: csv_file,
    ReportFormat.JSON: json_file,
    ReportFormat.PDF: pdf_file,
}


def render(content: ReportContent, report_format: ReportFormat) -> bytes:
    """The report's file in `report_format`."""
    return RENDERERS[report_format](content)
