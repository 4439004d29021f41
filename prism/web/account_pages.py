"""The pages PRISM's emails link to: `/verify-email?token=...` and `/reset-password?token=...`.

Opening a link shows a page with a button (and, for a reset, the new password); only submitting the form acts. Mail
scanners and link previews fetch links with GET, and a GET that consumed the token would spend it before the person
clicks. The pages run no script and load nothing; their policy allows forms to post back to PRISM alone. The token in
the form is the credential, so a forged cross-site post achieves nothing its sender could not do with the token.
"""

from collections.abc import Awaitable, Callable
from html import escape
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from prism.errors import PrismError
from prism.runtime import Runtime
from prism.services.audit import RequestMeta
from prism.services.registry import Services

__all__ = ["account_page_routes"]

PAGE_CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
MAX_FORM_BYTES = 4_096


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} - PRISM</title></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        html, status_code=status, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}
    )


async def _form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    return {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items() if values}


def _meta(request: Request) -> RequestMeta:
    client = request.client
    return RequestMeta(ip=client.host if client else None, user_agent=request.headers.get("user-agent"))


def account_page_routes(runtime: Callable[[], Runtime]) -> list[Route]:
    """GET shows the form, POST acts, each in one unit of work."""

    async def act(request: Request, use_case: Callable[[Services], Awaitable[object]]) -> str | None:
        """Run the use case; the user's error message when it is refused."""
        rt = runtime()
        try:
            async with rt.unit_of_work() as uow:
                await use_case(Services(rt, uow, None, _meta(request)))
        except PrismError as error:
            return error.message
        return None

    async def verify_email(request: Request) -> Response:
        if request.method == "GET":
            token = escape(request.query_params.get("token", ""))
            return _page(
                "Confirm your email address",
                '<form method="post" action="/verify-email">'
                f'<input type="hidden" name="token" value="{token}">'
                "<button type=submit>Confirm</button></form>",
            )
        token = (await _form(request)).get("token", "")
        refused = await act(request, lambda services: services.identity.verify_email(token))
        if refused is not None:
            return _page("This link does not work", f"<p>{escape(refused)}</p>", status=400)
        return _page("Your address is confirmed", "<p>You can log in to PRISM now.</p>")

    async def reset_password(request: Request) -> Response:
        if request.method == "GET":
            token = escape(request.query_params.get("token", ""))
            return _page(
                "Choose a new password",
                '<form method="post" action="/reset-password">'
                f'<input type="hidden" name="token" value="{token}">'
                '<label>New password <input type="password" name="password" minlength="10" maxlength="256" '
                'autocomplete="new-password" required></label> '
                "<button type=submit>Set the password</button></form>",
            )
        form = await _form(request)
        token, password = form.get("token", ""), form.get("password", "")
        refused = await act(request, lambda services: services.identity.accounts.reset_password(token, password))
        if refused is not None:
            return _page("The password was not changed", f"<p>{escape(refused)}</p>", status=400)
        return _page("Your password is changed", "<p>Every session was signed out; log in with the new password.</p>")

    return [
        Route("/verify-email", verify_email, methods=["GET", "POST"]),
        Route("/reset-password", reset_password, methods=["GET", "POST"]),
    ]
