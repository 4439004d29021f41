"""Access checks for what runs longer than a request: a WebSocket connection's subscriptions, before each message."""

import strawberry

from prism.auth.rbac import Permission
from prism.errors import Code, PrismError
from resolvers.context import Context

__all__ = ["ACCESS_LOST_CLOSE_CODE", "still_allowed"]

Info = strawberry.Info[Context, None]

ACCESS_LOST_CLOSE_CODE = 4403


async def still_allowed(info: Info) -> bool:
    """Check the connection's access again (cheaply unless an event made it stale); on failure close the socket,
    saying why."""
    context = info.context
    access = context.access
    if access is None:
        return False
    error = await access.recheck(context.runtime)
    if error is None and not access.viewer.can(Permission.READ):
        error = PrismError("You may no longer read this organization's data.", code=Code.FORBIDDEN)
    if error is not None:
        close = getattr(context.request, "close", None)
        if close is not None:
            await close(code=ACCESS_LOST_CLOSE_CODE, reason=f"Forbidden: {error.message}"[:120])
        return False
    context.viewer = access.viewer
    return True
