"""The dashboard page in a real browser: headless Chromium (the system's, Debian package `chromium`) driven by
playwright, against a real `prism serve`. It signs in through the page's form, draws a product's figures, and redraws
the burndown when a change made through the API arrives over the `sprintDashboard` subscription.

Without Chromium the tests skip, unless services are required (PRISM_TEST_REQUIRE_SERVICES=1, as in
CI): then they fail. PRISM_TEST_SCREENSHOT=<path> saves a screenshot of the page once it has updated.
"""

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from starlette.applications import Starlette

from prism.config import Settings
from prism.domain.enums import RequirementEventKind, RequirementKind, RequirementStatus
from prism.seed import DataBuilder, write_rows
from tests.helpers import (
    Account,
    GraphQLClient,
    create_product,
    create_requirement,
    create_sprint,
    global_id,
    sign_up,
    uuid_of,
)
from tests.processes import ServerProcess, running_servers, server_environment, unavailable
from tests.test_sprints import CLOSE, finish, start

pytestmark = pytest.mark.slow

WAIT_MS = 30_000
LOG_IN = "mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }"


def chromium_path() -> str:
    """The system's Chromium: PRISM never downloads a browser build of its own."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        unavailable("Chromium is needed for the dashboard's browser test (apt-get install chromium)")
    assert found is not None
    return found


@pytest.fixture(scope="module")
async def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    """One `prism serve` on the test database (no Redis: its broker is in process, so changes go through it)."""
    directory = tmp_path_factory.mktemp("dashboard-browser")
    environment = server_environment(settings, None, directory / "home")
    async with running_servers(1, environment, directory) as (process,):
        yield process


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def open_dashboard(
    browser: Browser, server: ServerProcess, account: Account, query: str, token: str | None = None
) -> Page:
    """A fresh page at /dashboard, signed in through its form with the account's email and password (or, given a
    token, with the token pasted into the token form)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("console", lambda message: page_errors(page).append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page_errors(page).append(str(error)))
    await page.goto(f"{server.url}/dashboard{query}")
    if token is not None:
        await page.fill("#token-form input[name=token]", f"Bearer {token}")
        await page.click("#token-form button[type=submit]")
        return page
    await page.fill("#sign-in input[name=email]", account.email)
    await page.fill("#sign-in input[name=password]", account.password)
    await page.click("#sign-in button[type=submit]")
    return page


_ERRORS: dict[int, list[str]] = {}


def page_errors(page: Page) -> list[str]:
    """What the page logged as errors (CSP violations among them) and its uncaught exceptions."""
    return _ERRORS.setdefault(id(page), [])


async def attribute(page: Page, selector: str, name: str) -> str | None:
    return await page.get_attribute(selector, name, timeout=WAIT_MS)


async def closed_sprint(owner: Account, product_id: str, name: str, points: float) -> None:
    """A sprint committing one requirement of `points`, finished and closed: one bar of velocity."""
    sprint = await create_sprint(owner, product_id, name)
    done = await create_requirement(owner, product_id, title=f"Done in {name}", sprintId=sprint["id"], estimate=points)
    started = await start(owner, sprint)
    await finish(owner, done)
    data = await owner(CLOSE, {"input": {"id": sprint["id"], "version": started["version"]}})
    assert data["closeSprint"]["userErrors"] == [], data


async def test_the_dashboard_signs_in_draws_the_product_and_redraws_the_burndown_live(
    account: Account, server: ServerProcess, browser: Browser
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = replace(account, gql=GraphQLClient(http))
        product = await create_product(owner, name="Dashboard product")
        await closed_sprint(owner, product["id"], "Sprint 1", 2)
        today = datetime.now(UTC).date()
        ends = today + timedelta(days=9)
        sprint = await create_sprint(
            owner, product["id"], "Sprint 2", startsOn=today.isoformat(), endsOn=ends.isoformat()
        )
        small = await create_requirement(owner, product["id"], title="Small", sprintId=sprint["id"], estimate=3)
        await create_requirement(owner, product["id"], title="Large", sprintId=sprint["id"], estimate=5)
        await start(owner, sprint)

        page = await open_dashboard(browser, server, account, f"?product={product['key']}")
        await page.wait_for_selector("#live[data-state=live]", timeout=WAIT_MS)
        remaining = "#burndown polyline[data-series=remaining]"
        assert await attribute(page, "#burndown-panel", "data-remaining-points") == "8"
        # Today's figure, then the nine days to the sprint's end, which have none yet.
        assert await attribute(page, remaining, "data-values") == "8" + "," * 9
        assert (await attribute(page, "#burndown svg", "data-labels") or "").split(",")[-1] == ends.isoformat()[5:]
        assert await page.text_content("#sprint-name") == "Sprint 2"
        assert await attribute(page, "#velocity g[data-series=committed]", "data-values") == "2"
        assert await attribute(page, "#velocity g[data-series=completed]", "data-values") == "2"
        done_band = "#flow polygon[data-series=DONE]"
        assert (await attribute(page, done_band, "data-values") or "").split(",")[-1] == "1"
        assert await attribute(page, "#flow svg", "data-total") == "3"
        # One requirement finished this week and none in the full weeks before: nothing to sample from yet.
        assert "Not enough history" in (await page.text_content("#forecast") or "")
        assert await page.input_value("#product") == product["id"]

        await finish(owner, small)  # through the API, on the server the page is subscribed to

        await page.wait_for_selector("#burndown-panel[data-remaining-points='5']", timeout=WAIT_MS)
        assert await attribute(page, remaining, "data-values") == "5" + "," * 9
        assert await attribute(page, "#burndown polyline[data-series=scope]", "data-values") == "8" + "," * 9
        # The product-wide figures are read again after a live change: DONE grows in the cumulative flow.
        # (Polled from Python: the page's CSP refuses the string evaluation wait_for_function would use.)
        await expect(page.locator(done_band)).to_have_attribute("data-values", re.compile(r"(^|,)2$"), timeout=WAIT_MS)
        summary = await page.text_content("#sprint-summary")
        assert summary is not None
        assert summary.startswith("5 of 8 points remaining, 3 done")
        screenshot = os.environ.get("PRISM_TEST_SCREENSHOT")
        if screenshot:
            await page.screenshot(path=screenshot, full_page=True)
        assert page_errors(page) == []
        await page.context.close()


RELEASE_FORECAST = """query($id: ID!) {
  node(id: $id) { ... on Release { forecast { remaining completionDate50 completionDate85 completionDate95 } } }
}"""


async def product_with_history(app: Starlette, account: Account) -> dict[str, Any]:
    """A product that finished 2 requirements in each of the last 3 full weeks, with release 2.0 holding three open
    ones, two of them (3 and 5 points) in the sprint that started two days ago."""
    now = datetime.now(UTC)
    b = DataBuilder(organization_id=uuid_of(account.organization_id))
    me = uuid_of(account.user_id)
    product = b.product(
        "F" + uuid_of(account.organization_id).hex[:6].upper(), "Forecast product", "", now - timedelta(60)
    )
    release = b.release(product, "2.0", "", (now + timedelta(days=28)).date(), now - timedelta(days=60))
    sprint = b.sprint(
        product,
        "Sprint 9",
        starts_on=(now - timedelta(days=2)).date(),
        ends_on=(now + timedelta(days=8)).date(),
        at=now - timedelta(days=30),
    )
    monday = (now - timedelta(days=now.weekday())).replace(hour=12, minute=0, second=0, microsecond=0)
    for week in (1, 2, 3):
        for index in range(2):
            done = b.requirement(
                product, RequirementKind.STORY, f"Done {week}.{index}", at=now - timedelta(50), reporter_id=me
            )
            finished = monday - timedelta(weeks=week) + timedelta(days=index)
            for step in (RequirementStatus.TODO, RequirementStatus.IN_PROGRESS, RequirementStatus.DONE):
                b.transition(done, step, finished - timedelta(hours=1), me)
    open_work = {}
    for title, points in (("Checkout", 3), ("Refunds", 5), ("Invoices", 8)):
        row = b.requirement(
            product, RequirementKind.STORY, title, at=now - timedelta(20), reporter_id=me, estimate=points
        )
        b.change(row, RequirementEventKind.RELEASE, release.id, now - timedelta(days=19), me)
        b.transition(row, RequirementStatus.TODO, now - timedelta(days=19), me)
        open_work[title] = row
    for title in ("Checkout", "Refunds"):
        b.change(open_work[title], RequirementEventKind.SPRINT, sprint.id, now - timedelta(days=10), me)
    b.start(sprint, now - timedelta(days=2))
    await write_rows(app.state.runtime().engine, b)
    return {
        "key": product.key,
        "release": global_id("Release", release.id),
        "checkout": {
            "id": global_id("Requirement", open_work["Checkout"].id),
            "version": open_work["Checkout"].version,
        },
    }


async def test_the_forecast_of_the_next_release_follows_work_finished_in_the_sprint(
    app: Starlette, account: Account, server: ServerProcess, browser: Browser
) -> None:
    built = await product_with_history(app, account)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = replace(account, gql=GraphQLClient(http))
        expected = (await owner(RELEASE_FORECAST, {"id": built["release"]}))["node"]["forecast"]
        assert expected["remaining"] == 3

        page = await open_dashboard(browser, server, account, f"?product={built['key']}")
        await page.wait_for_selector("#live[data-state=live]", timeout=WAIT_MS)
        assert await page.text_content("#forecast-subject") == "release 2.0"
        assert await attribute(page, "#forecast", "data-remaining") == "3"
        assert await attribute(page, "#forecast", "data-completion-date85") == expected["completionDate85"]
        forecast = await page.text_content("#forecast") or ""
        assert f"50% likely by{expected['completionDate50']}" in forecast
        assert "Weekly throughput sampled0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2" in forecast
        # Started two days ago: three days so far, 8 points remaining each.
        remaining = "#burndown polyline[data-series=remaining]"
        assert (await attribute(page, remaining, "data-values") or "").split(",")[:3] == ["8", "8", "8"]

        await finish(owner, built["checkout"])

        await page.wait_for_selector("#burndown-panel[data-remaining-points='5']", timeout=WAIT_MS)
        await expect(page.locator("#forecast")).to_have_attribute("data-remaining", "2", timeout=WAIT_MS)
        assert page_errors(page) == []
        await page.context.close()


async def test_a_sprint_started_while_the_page_is_open_is_followed_from_then_on(
    account: Account, server: ServerProcess, browser: Browser
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = replace(account, gql=GraphQLClient(http))
        product = await create_product(owner)
        sprint = await create_sprint(owner, product["id"], "Next sprint")
        await create_requirement(owner, product["id"], sprintId=sprint["id"], estimate=4)

        page = await open_dashboard(browser, server, account, "")
        await page.wait_for_selector("#live[data-state=idle]", timeout=WAIT_MS)
        assert "No active sprint" in (await page.text_content("#burndown") or "")

        started = await start(owner, sprint)

        await page.wait_for_selector("#burndown-panel[data-remaining-points='4']", timeout=WAIT_MS)
        assert await page.text_content("#sprint-name") == "Next sprint"
        await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)

        closed = await owner(CLOSE, {"input": {"id": sprint["id"], "version": started["version"]}})
        assert closed["closeSprint"]["userErrors"] == []

        await expect(page.locator("#live")).to_have_attribute("data-state", "idle", timeout=WAIT_MS)
        assert "No active sprint" in (await page.text_content("#burndown") or "")
        assert page_errors(page) == []
        await page.context.close()


async def test_the_dashboard_lists_only_the_signed_in_organizations_products(
    account: Account, server: ServerProcess, browser: Browser, gql: GraphQLClient
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = replace(account, gql=GraphQLClient(http))
        theirs = await create_product(owner, name="Not yours")
    stranger = await sign_up(gql, organization="Other Org")
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        mine = await create_product(replace(stranger, gql=GraphQLClient(http)), name="Yours")

    # Asking for the other organization's product by key shows the stranger their own product, and only theirs.
    page = await open_dashboard(browser, server, stranger, f"?product={theirs['key']}")
    await expect(page.locator("#product-picker")).to_be_visible(timeout=WAIT_MS)
    options: list[Any] = await page.eval_on_selector_all(
        "#product option", "options => options.map(o => [o.value, o.textContent])"
    )
    assert options == [[mine["id"], f"Yours ({mine['key']})"]]
    assert await page.input_value("#product") == mine["id"]
    assert await attribute(page, "#live", "data-state") != "live"  # no active sprint to follow

    # Signing out ends the session the page signed in with (sessions lists those still open); the first one stays.
    sessions = "{ viewer { sessions { current } } }"
    assert [s["current"] for s in (await stranger(sessions))["viewer"]["sessions"]] in ([True, False], [False, True])
    await page.click("#sign-out")
    await expect(page.locator("#sign-in-panel")).to_be_visible(timeout=WAIT_MS)
    for _attempt in range(100):
        listed = (await stranger(sessions))["viewer"]["sessions"]
        if len(listed) == 1:
            break
        await asyncio.sleep(0.1)
    assert listed == [{"current": True}]
    assert page_errors(page) == []
    await page.context.close()


async def test_a_wrong_password_keeps_the_page_signed_out_with_the_reason(
    account: Account, server: ServerProcess, browser: Browser
) -> None:
    page = await open_dashboard(browser, server, replace(account, password="not the password"), "")
    await expect(page.locator("#sign-in-error")).not_to_be_empty(timeout=WAIT_MS)
    assert await page.is_visible("#sign-in-panel")
    for signed_in_only in ("#panels", "#product-picker", "#sign-out"):
        assert await page.is_hidden(signed_in_only), signed_in_only
    assert [e for e in page_errors(page) if "401" not in e] == []
    await page.context.close()


async def test_a_pasted_token_that_is_signed_out_signs_the_page_out_at_the_next_change(
    account: Account, server: ServerProcess, browser: Browser
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = replace(account, gql=GraphQLClient(http))
        product = await create_product(owner)
        sprint = await create_sprint(owner, product["id"])
        story = await create_requirement(owner, product["id"], sprintId=sprint["id"], estimate=2)
        await start(owner, sprint)
        credentials = {"input": {"email": account.email, "password": account.password}}
        session = (await owner.gql(LOG_IN, credentials))["logIn"]

        page = await open_dashboard(browser, server, account, "", token=session["accessToken"])
        await page.wait_for_selector("#live[data-state=live]", timeout=WAIT_MS)
        assert await attribute(page, "#burndown-panel", "data-remaining-points") == "2"

        signed_out = await owner.gql("mutation { logOut { ok } }", token=session["accessToken"])
        assert signed_out == {"logOut": {"ok": True}}
        await finish(owner, story)  # the owner's own session: the page's is over

        await expect(page.locator("#sign-in-panel")).to_be_visible(timeout=WAIT_MS)
        assert (await page.text_content("#sign-in-error") or "").startswith("Signed out")
        assert await page.is_hidden("#panels")
        assert await attribute(page, "#live", "data-state") == "offline"
        assert await attribute(page, "#burndown-panel", "data-remaining-points") == "2"  # never drawn again
        await page.context.close()


ACCESS_TOKEN_TTL_SECONDS = 20
"""The page refreshes a minute before expiry, or after 5 s at the soonest: with tokens of 20 s it refreshes every 5 s,
and the token it signed in with has expired well before the change below."""


@pytest.fixture
async def short_token_server(settings: Settings, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A `prism serve` whose access tokens live 20 seconds."""
    environment = server_environment(
        settings, None, tmp_path / "home", PRISM_ACCESS_TOKEN_TTL_SECONDS=str(ACCESS_TOKEN_TTL_SECONDS)
    )
    async with running_servers(1, environment, tmp_path) as (process,):
        yield process


async def running_sprint(owner: Account, *points: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A product whose running sprint holds a story of each of `points`: the product and the stories."""
    product = await create_product(owner)
    sprint = await create_sprint(owner, product["id"])
    stories = [
        await create_requirement(owner, product["id"], title=f"Story {n}", sprintId=sprint["id"], estimate=estimate)
        for n, estimate in enumerate(points)
    ]
    await start(owner, sprint)
    return product, stories


async def test_a_token_refreshed_before_it_expires_keeps_the_live_updates_going(
    account: Account, short_token_server: ServerProcess, browser: Browser
) -> None:
    server = short_token_server
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = replace(account, gql=GraphQLClient(http))  # the suite's token: it lives 15 minutes
        product, [story] = await running_sprint(owner, 3)

        page = await open_dashboard(browser, server, account, f"?product={product['key']}")
        refreshes: list[str] = []
        page.on(
            "request",
            lambda request: refreshes.append(request.url) if "refreshToken(" in (request.post_data or "") else None,
        )
        await page.wait_for_selector("#live[data-state=live]", timeout=WAIT_MS)
        assert await attribute(page, "#burndown-panel", "data-remaining-points") == "3"
        signed_in = datetime.now(UTC)

        # Past the signed-in token's expiry: a socket still using it would be closed with 4403 at the next event,
        # which signs the page out. The page must have exchanged its refresh token and subscribed again meanwhile.
        await asyncio.sleep(ACCESS_TOKEN_TTL_SECONDS + 5)
        assert len(refreshes) >= 2, refreshes
        await finish(owner, story)

        await page.wait_for_selector("#burndown-panel[data-remaining-points='0']", timeout=WAIT_MS)
        assert datetime.now(UTC) - signed_in > timedelta(seconds=ACCESS_TOKEN_TTL_SECONDS)
        assert await attribute(page, "#live", "data-state") == "live"
        assert await page.is_hidden("#sign-in-panel")
        assert page_errors(page) == []
        await page.context.close()


async def test_a_socket_the_server_closes_is_reopened_and_the_page_keeps_updating(
    account: Account, settings: Settings, tmp_path: Path, browser: Browser
) -> None:
    environment = server_environment(settings, None, tmp_path / "home")
    async with (
        running_servers(1, environment, tmp_path) as (server,),
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
    ):
        owner = replace(account, gql=GraphQLClient(http))
        product, [first, second] = await running_sprint(owner, 5, 2)

        page = await open_dashboard(browser, server, account, f"?product={product['key']}")
        await page.wait_for_selector("#live[data-state=live]", timeout=WAIT_MS)
        assert await attribute(page, "#burndown-panel", "data-remaining-points") == "7"

        # The server goes away (its graceful shutdown closes every socket) and comes back on the same port.
        await asyncio.to_thread(server.stop)
        await expect(page.locator("#live")).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
        server.launch()
        await server.wait_ready()

        # Retried after 1, 2, 5, 10 s: live again within half a minute of the server's return, and it stays so.
        await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=2 * WAIT_MS)
        await finish(owner, first)
        await page.wait_for_selector("#burndown-panel[data-remaining-points='2']", timeout=WAIT_MS)
        await finish(owner, second)
        await page.wait_for_selector("#burndown-panel[data-remaining-points='0']", timeout=WAIT_MS)
        assert await page.is_hidden("#sign-in-panel")
        # While the server was down the page's requests and socket failed: those are the only errors it logged.
        assert all(re.search(r"WebSocket|Failed to load|fetch|ERR_CONNECTION", e) for e in page_errors(page)), (
            page_errors(page)
        )
        await page.context.close()
