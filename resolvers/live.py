"""Access checks for what runs longer than a request: a WebSocket connection's subscriptions, before each message."""

import strawberry

from prism.auth.rbac import Permission
from prism.errors import Code, PrismError
from prism.kv import StoreUnavailableError
from resolvers.context import Context

__all__ = ["ACCESS_LOST_CLOSE_CODE", "TRY_AGAIN_LATER_CLOSE_CODE", "still_allowed"]

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
    if error is None and not access.viewer.can(Permission.READ):
        error = PrismError("You may no longer read this organization's data.", code=Code.FORBIDDEN)
    if error is not None:
        await _close(context, ACCESS_LOST_CLOSE_CODE, f"Forbidden: {error.message}")
        return False
    context.viewer = access.viewer
    return True


async def _close(context: Context, code: int, reason: str) -> None:
    close = getattr(context.request, "close", None)
    if close is not None:
        await close(code=code, reason=reason[:120])
