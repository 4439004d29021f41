"""Who the client is: X-Forwarded-For is believed only from PRISM_TRUSTED_PROXIES, and the server names no
software in its answers."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from pydantic import ValidationError
from starlette.applications import Starlette

from prism import cli
from prism.app import build_app
from prism.config import Settings
from tests.helpers import LOG_IN, GraphQLClient, sign_up

SESSIONS = "{ viewer { sessions { ip current } } }"
CLIENT = "203.0.113.50"


async def address_recorded(http: httpx.AsyncClient, accounts: GraphQLClient | None = None) -> str:
    """The client address PRISM recorded for a session opened through `http`, which claims to forward CLIENT.

    The account is made through `accounts` (an in-process app, whose mail the sign-up helper reads), else `http`.
    """
    gql = GraphQLClient(http)
    account = await sign_up(accounts or gql)
    http.headers["x-forwarded-for"] = CLIENT
    logged_in = await gql(LOG_IN, {"input": {"email": account.email, "password": account.password}})
    sessions = (await gql(SESSIONS, token=logged_in["logIn"]["accessToken"]))["viewer"]["sessions"]
    (current,) = [session for session in sessions if session["current"]]
    return str(current["ip"])


@asynccontextmanager
async def app_for(settings: Settings, **overrides: object) -> AsyncIterator[Starlette]:
    app = build_app(settings.model_copy(update=overrides))
    async with LifespanManager(app):
        yield app


@asynccontextmanager
async def client_at(app: Starlette, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://prism.test") as http:
        yield http


async def test_by_default_no_proxy_is_believed_not_even_one_on_loopback(settings: Settings) -> None:
    async with app_for(settings) as app:
        async with client_at(app, "127.0.0.1") as local:
            from_loopback = await address_recorded(local)
        async with client_at(app, "10.0.0.2") as private:
            from_private = await address_recorded(private)

    assert (from_loopback, from_private) == ("127.0.0.1", "10.0.0.2")


async def test_x_forwarded_for_is_believed_from_a_trusted_proxy_only(settings: Settings) -> None:
    async with app_for(settings, trusted_proxies="10.0.0.0/8, 192.0.2.1") as app:
        async with client_at(app, "10.0.0.2") as balancer:
            via_network = await address_recorded(balancer)
        async with client_at(app, "192.0.2.1") as named:
            via_address = await address_recorded(named)
        async with client_at(app, "198.51.100.9") as stranger:
            from_stranger = await address_recorded(stranger)

    assert (via_network, via_address) == (CLIENT, CLIENT)
    assert from_stranger == "198.51.100.9", "an untrusted sender cannot choose the address it is counted under"


def test_trusted_proxies_must_be_addresses_or_networks_and_keep_their_former_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.300")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.2.3,fd00::/8")
    assert Settings().trusted_proxy_list == ["10.1.2.3", "fd00::/8"]
    monkeypatch.setenv("PRISM_TRUSTED_PROXIES", "*")
    assert Settings().trusted_proxy_list == ["*"]
    assert Settings(trusted_proxies="").trusted_proxy_list == []


@asynccontextmanager
async def served_by_uvicorn(settings: Settings) -> AsyncIterator[str]:
    """The app behind a real uvicorn with the options `prism serve` uses, on a loopback port; yields its base URL."""
    app = build_app(settings)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, **cli.server_options(settings)))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # start-up failed: raise why
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def test_prism_serve_names_no_server_and_uvicorn_believes_no_local_proxy(
    settings: Settings, gql: GraphQLClient
) -> None:
    async with served_by_uvicorn(settings) as url, httpx.AsyncClient(base_url=url) as http:
        health = await http.get("/healthz")
        recorded = await address_recorded(http, gql)

    assert health.status_code == 200
    assert "server" not in health.headers
    assert recorded == "127.0.0.1", "a request from loopback claiming to forward another client is not believed"
