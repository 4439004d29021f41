"""Access checks for what runs longer than a request: a WebSocket connection's subscriptions, before each message."""

from collections.abc import Sequence

import strawberry

from prism.auth.rbac import Permission
from prism.errors import Code, PrismError
from prism.kv import StoreUnavailableError
from prism.services.authentication import ConnectionAccess, recheck_all
from resolvers.context import Context

__all__ = ["ACCESS_LOST_CLOSE_CODE", "TRY_AGAIN_LATER_CLOSE_CODE", "still_allowed", "still_allowed_all"]

Info = strawberry.Info[Context, None]

ACCESS_LOST_CLOSE_CODE = 4403
TRY_AGAIN_LATER_CLOSE_CODE = 1013


async def still_allowed(info: Info) -> bool:
    """Check the connection's access again (cheaply unless an event made it stale); on failure close the socket,
    saying why."""
    context = info.context
    access = context.access
    if access is None:
        return False
    try:
        error = await access.recheck(context.runtime)
    except StoreUnavailableError:
        # A sign-out cannot be ruled out without the shared store: stop, and let the client come back later.
        await _close(context, TRY_AGAIN_LATER_CLOSE_CODE, "Try again later: the server cannot check your session now.")
        return False
    return await _settle(context, access, error)


async def still_allowed_all(contexts: Sequence[Context]) -> list[tuple[int, str] | None]:
    """`still_allowed` for the connections of one delivery round, in order, with one read of the revoked sessions
    for all of them (not a wake-up per subscription): None for each that may go on, else the close code and reason
    its socket must be closed with (the caller closes it, behind what it sent before)."""
    accesses = [context.access for context in contexts]
    checked = [access for access in accesses if access is not None]
    lost = (ACCESS_LOST_CLOSE_CODE, "Forbidden: sign in again.")
    if not checked:
        return [lost] * len(contexts)
    try:
        errors = iter(await recheck_all(contexts[0].runtime, checked))
    except StoreUnavailableError:
        # A sign-out cannot be ruled out without the shared store: stop, and let the clients come back later.
        return [(TRY_AGAIN_LATER_CLOSE_CODE, "Try again later: the server cannot check your session now.")] * len(
            contexts
        )
    verdicts: list[tuple[int, str] | None] = []
    for context, access in zip(contexts, accesses, strict=True):
        if access is None:
            verdicts.append(lost)
            continue
        error = _lost(access, next(errors))
        if error is None:
            context.viewer = access.viewer
            verdicts.append(None)
        else:
            verdicts.append((ACCESS_LOST_CLOSE_CODE, f"Forbidden: {error.message}"[:120]))
    return verdicts


def _lost(access: ConnectionAccess, error: PrismError | None) -> PrismError | None:
    if error is None and not access.viewer.can(Permission.READ):
        return PrismError("You may no longer read this organization's data.", code=Code.FORBIDDEN)
    return error


async def _settle(context: Context, access: ConnectionAccess, error: PrismError | None) -> bool:
    """Close the connection saying why when its access is lost; else take its viewer as just checked."""
    error = _lost(access, error)
    if error is not None:
        await _close(context, ACCESS_LOST_CLOSE_CODE, f"Forbidden: {error.message}")
        return False
    context.viewer = access.viewer
    return True


async def _close(context: Context, code: int, reason: str) -> None:
    close = getattr(context.request, "close", None)
    if close is not None:
        await close(code=code, reason=reason[:120])
