"""`GET /dev/mail`: the development mailbox in a browser (never served in production)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from prism.auth.mailbox import read_mailbox

__all__ = ["dev_mail_endpoint"]


def dev_mail_endpoint(directory: Path) -> Callable[[Request], Awaitable[Response]]:
    """The newest messages of the mailbox at `directory`: HTML for browsers, JSON for other clients."""

    async def dev_mail(request: Request) -> Response:
        messages = read_mailbox(directory)
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse(
                {
                    "messages": [
                        {"to": m.to, "subject": m.subject, "body": m.body, "links": m.links, "sentAt": m.sent_at}
                        for m in messages
                    ]
                }
            )
        items = "".join(
            f"<article><h2>{escape(m.subject)}</h2>"
            f"<p>To {escape(m.to)}, {datetime.fromtimestamp(m.sent_at, UTC):%Y-%m-%d %H:%M:%S} UTC</p>"
            f"<pre>{escape(m.body)}</pre></article><hr>"
            for m in messages
        )
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>PRISM mail</title></head><body>"
            "<h1>Development mailbox</h1><p>Mail PRISM would have sent (no SMTP configured), newest first.</p>"
            f"{items or '<p>No mail yet.</p>'}</body></html>"
        )
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    return dev_mail
