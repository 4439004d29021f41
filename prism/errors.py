"""Domain errors and their stable codes: one tree, mapped to GraphQL once in `resolvers.errors`."""

import enum

__all__ = [
    "AiBudgetExhaustedError",
    "AiUnavailableError",
    "Code",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "PrismError",
    "UnauthenticatedError",
    "ValidationError",
]


class Code(enum.StrEnum):
    """Stable error codes clients may branch on."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    HIERARCHY_CYCLE = "HIERARCHY_CYCLE"
    INVALID_PARENT = "INVALID_PARENT"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_STATE = "INVALID_STATE"
    LAST_OWNER = "LAST_OWNER"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 - an error code, not a secret
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"  # noqa: S105 - an error code, not a secret
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    INVALID_MFA_CODE = "INVALID_MFA_CODE"
    MFA_ENROLLMENT_REQUIRED = "MFA_ENROLLMENT_REQUIRED"
    REAUTHENTICATION_REQUIRED = "REAUTHENTICATION_REQUIRED"
    SUBSCRIPTION_CLOSED = "SUBSCRIPTION_CLOSED"
    AI_BUDGET_EXHAUSTED = "AI_BUDGET_EXHAUSTED"
    AI_UNAVAILABLE = "AI_UNAVAILABLE"
    LIKELY_DUPLICATE = "LIKELY_DUPLICATE"
    INSUFFICIENT_HISTORY = "INSUFFICIENT_HISTORY"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class PrismError(Exception):
    """Base of every error PRISM raises on purpose. `field` names the input field concerned, if any."""

    code: Code = Code.BAD_USER_INPUT

    def __init__(self, message: str, *, field: str | None = None, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class AiBudgetExhaustedError(PrismError):
    """The organization has spent its AI budget for the month (PRISM_AI_MONTHLY_BUDGET_USD or _TOKEN_BUDGET)."""

    code = Code.AI_BUDGET_EXHAUSTED


class AiUnavailableError(PrismError):
    """No configured model answered usable output (after retries, fallbacks and one repair)."""

    code = Code.AI_UNAVAILABLE


class ValidationError(PrismError):
    """Input that breaks a rule: reported as a user error in the mutation's payload."""


class ConflictError(PrismError):
    """The client's view is stale (optimistic concurrency) or the change clashes with existing data."""

    code = Code.CONFLICT


class NotFoundError(PrismError):
    """The thing does not exist, or belongs to another organization (the two are indistinguishable on purpose)."""

    code = Code.NOT_FOUND


class UnauthenticatedError(PrismError):
    """No valid credentials were presented."""

    code = Code.UNAUTHENTICATED


class ForbiddenError(PrismError):
    """The viewer is known but their role does not allow this."""

    code = Code.FORBIDDEN
