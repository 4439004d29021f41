"""GraphiQL served from PRISM itself (replaced by the offline bundle)."""

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

__all__ = ["graphiql_page", "graphiql_routes"]


async def graphiql_page(request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>PRISM</title><p>GraphiQL is being wired.</p>")


def graphiql_routes() -> list[BaseRoute]:
    return []
