"""The dashboard page in a real browser: headless Chromium (the system's, Debian package `chromium`) driven by
playwright, against a real `prism serve`. It signs in through the page's form, draws a product's figures, and redraws
the burndown when a change made through the API arrives over the `sprintDashboard` subscription.

Without Chromium the tests skip, unless services are required (PRISM_TEST_REQUIRE_SERVICES=1, as in
CI): then they fail. PRISM_TEST_SCREENSHOT=<path> saves a screenshot of the page once it has updated.
"""

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

from prism.config import Settings
from tests.helpers import Account, GraphQLClient, create_product, create_requirement, create_sprint, sign_up
from tests.processes import REQUIRE_SERVICES, ServerProcess, running_servers, server_environment
from tests.test_sprints import CLOSE, finish, start

pytestmark = pytest.mark.slow

WAIT_MS = 30_000


def unavailable(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (PRISM_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)


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


async def open_dashboard(browser: Browser, server: ServerProcess, account: Account, query: str) -> Page:
    """A fresh page at /dashboard, signed in through its form with the account's email and password."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("console", lambda message: page_errors(page).append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page_errors(page).append(str(error)))
    await page.goto(f"{server.url}/dashboard{query}")
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
    await page.wait_for_selector("#product-picker:not([hidden])", timeout=WAIT_MS)
    options: list[Any] = await page.eval_on_selector_all(
        "#product option", "options => options.map(o => [o.value, o.textContent])"
    )
    assert options == [[mine["id"], f"Yours ({mine['key']})"]]
    assert await page.input_value("#product") == mine["id"]
    assert await attribute(page, "#live", "data-state") != "live"  # no active sprint to follow
    assert page_errors(page) == []
    await page.context.close()


async def test_a_wrong_password_keeps_the_page_signed_out_with_the_reason(
    account: Account, server: ServerProcess, browser: Browser
) -> None:
    page = await open_dashboard(browser, server, replace(account, password="not the password"), "")
    await expect(page.locator("#sign-in-error")).not_to_be_empty(timeout=WAIT_MS)
    assert await page.is_visible("#sign-in-panel")
    assert await page.is_hidden("#panels")
    assert [e for e in page_errors(page) if "401" not in e] == []
    await page.context.close()
