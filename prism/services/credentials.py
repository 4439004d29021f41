"""What an email address and a new password must look like, for every way of signing up and signing in."""

import re

from prism.errors import Code, ValidationError
from prism.services.validation import clean_text

__all__ = ["PASSWORD_MAX", "PASSWORD_MIN", "check_password", "normalise_email"]

PASSWORD_MIN = 10
PASSWORD_MAX = 256
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively and stored in lower case."""
    cleaned = clean_text(email, "email", max_length=254).lower()
    if not _EMAIL.match(cleaned):
        raise ValidationError("email is not a valid address.", field="email")
    return cleaned


def check_password(password: str, field: str = "password") -> None:
    """Refuse a new password outside the allowed length."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationError(
            f"{field} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long.", field=field, code=Code.OUT_OF_RANGE
        )
