"""The dates analytics arguments accept: far enough from the ends of the calendar that what is computed from them
(a history before, ten years of forecast after, the points of a cumulative flow) stays within it."""

from datetime import date

from prism.errors import ValidationError

__all__ = ["EARLIEST_DATE", "LATEST_DATE", "check_date"]

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(9000, 12, 31)


def check_date(value: date | None, field: str) -> None:
    """Refuse (BAD_USER_INPUT, naming `field`) a date outside EARLIEST_DATE..LATEST_DATE; None passes."""
    if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValidationError(
            f"{field} must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}.", field=field
        )
