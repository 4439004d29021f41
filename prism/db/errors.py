"""Database errors as they may be logged: what failed and where, never the values that were sent with it.

SQLAlchemy puts a statement's parameters into the text of its errors (the engine is built with
`hide_parameters=True`, which stops that), and asyncpg's own messages quote the argument it could not encode
("invalid input for query argument $2: ..."). Those values are user input: tokens, emails, passwords sent to the
wrong field. A logged database error is therefore replaced by a stand-in naming the driver's error, its SQLSTATE
and the statement (placeholders only), with the original frames.
"""

import asyncpg
import sqlalchemy.exc

__all__ = ["LoggedDatabaseError", "loggable"]


class LoggedDatabaseError(Exception):
    """Stands in for a database error in logs."""


def loggable(error: BaseException) -> BaseException:
    """The error itself, or a parameter-free stand-in when it is (or was caused by) a database statement's error,
    SQLAlchemy's or one asyncpg raised itself (the planned executor's driver reads, `UnitOfWork.driver_rows`)."""
    statement_error = _statement_error(error)
    if statement_error is None:
        driver_error = _driver_error(error)
        if driver_error is None:
            return error
        sqlstate = getattr(driver_error, "sqlstate", None)
        where = f" (SQLSTATE {sqlstate})" if sqlstate else ""
        stand_in = LoggedDatabaseError(f"{type(driver_error).__name__}{where} in a statement read by the driver")
        return stand_in.with_traceback(error.__traceback__)
    original = statement_error.orig
    sqlstate = getattr(original, "sqlstate", None)
    # The driver's own exception (asyncpg's), which SQLAlchemy's adapter wraps, says best what went wrong.
    driver = getattr(original, "__cause__", None) or original or statement_error
    kind = type(driver).__name__
    where = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    stand_in = LoggedDatabaseError(f"{kind}{where} in: {statement_error.statement}")
    return stand_in.with_traceback(error.__traceback__)


def _statement_error(error: BaseException) -> sqlalchemy.exc.StatementError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, sqlalchemy.exc.StatementError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _driver_error(error: BaseException) -> BaseException | None:
    """The asyncpg error `error` is or was caused by, whose message may quote a statement's values."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, asyncpg.PostgresError | asyncpg.InterfaceError):
            found: BaseException = current
            return found
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
