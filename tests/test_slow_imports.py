"""Libraries that take seconds to import (LiteLLM, qdrant_client) are imported off the event loop.

Found by the hostile-input sweep failing now and then with INTERNAL_SERVER_ERROR from generateStories: the first AI
call of the process imported LiteLLM on the event loop (3.6 s of CPU, more than 5 s under load), so no request
progressed meanwhile, and a request that had just begun the AI budget query (asyncpg had sent its Parse and waited
for the loop to send Bind and Execute) was cancelled by PostgreSQL's 5 s statement timeout, the server waiting on
ClientRead all along. The first duplicate check of the process did the same with qdrant_client (about 1 s).
"""

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from prism.ai.slow_imports import background_import, imported
from prism.config import Settings

ROOT = Path(__file__).resolve().parents[1]

# A fresh interpreter (this one may have imported them already): it counts the modules of the slow libraries that
# were first imported by a thread while that thread was running an event loop, then serves the first story
# generation and the first duplicate check of its process.
FIRST_AI_REQUESTS = r"""
import asyncio, json, sys, threading

SLOW = ("litellm", "openai", "qdrant_client")
on_the_loop: list[str] = []
elsewhere: dict[str, int] = {}


class Watch:
    # Names the modules of the slow libraries imported on the event loop's thread while its loop runs, and counts
    # those imported elsewhere: a meta path finder sees every import (statements and importlib's); it finds nothing.

    def find_spec(self, name, path=None, target=None):
        library = name.partition(".")[0]
        if library in SLOW and name not in sys.modules:
            loop_thread = threading.current_thread() is threading.main_thread()
            if loop_thread and asyncio._get_running_loop() is not None:
                on_the_loop.append(name)
            else:
                elsewhere[library] = elsewhere.get(library, 0) + 1
        return None


sys.meta_path.insert(0, Watch())

import httpx
from asgi_lifespan import LifespanManager

from prism.app import build_app
from prism.auth.mailer import RecordingMailer
from prism.config import Settings
from tests.helpers import GraphQLClient, create_product, sign_up

GENERATE = '''query($p: ID!) {
  generateStories(productId: $p, brief: "Managers need to export the sprint report as a PDF.", count: 1) {
    stories { title }
  }
}'''
CREATE = '''mutation($i: CreateRequirementInput!) {
  createRequirement(input: $i) { requirement { id } userErrors { code } }
}'''


async def main() -> dict:
    app = build_app(Settings(**json.loads(sys.argv[1])))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as http,
    ):
        app.state.runtime().mailer = RecordingMailer()
        account = await sign_up(GraphQLClient(http))
        product = await create_product(account)
        stories = await account(GENERATE, {"p": product["id"]})
        story = {"productId": product["id"], "title": "Export the report", "kind": "STORY"}
        created = await account(CREATE, {"i": story})
    return {
        "stories": len(stories["generateStories"]["stories"]),
        "created": created["createRequirement"]["userErrors"] == [],
        "on_the_loop": on_the_loop,
        "elsewhere": elsewhere,
    }


print(json.dumps(asyncio.run(main())))
"""


def test_the_first_ai_requests_of_a_process_import_no_slow_library_on_the_event_loop(settings: Settings) -> None:
    assert settings.secret_key is not None
    configuration = {
        "database_url": settings.database_url,
        "database_admin_url": settings.database_admin_url,
        "home": str(settings.home_path),
        "environment": "test",
        "auto_migrate": False,
        "log_format": "console",
        "log_level": "WARNING",
        "secret_key": settings.secret_key.get_secret_value(),
        "rate_limit_enabled": False,
        "ai_cache_ttl_seconds": 0,
        "qdrant_path": ":memory:",
        "event_relay_interval_seconds": 3600,
    }
    run = subprocess.run(
        [sys.executable, "-c", FIRST_AI_REQUESTS, json.dumps(configuration)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])

    assert report["stories"] == 1
    assert report["created"] is True
    # What LiteLLM still imports on its first async call, after the warm-up in the import's thread: two small
    # modules of its spend tracking (the old code imported 1,000+ modules of litellm and openai, 90+ of qdrant_client).
    assert set(report["on_the_loop"]) <= {"litellm.proxy.spend_tracking", "litellm.proxy.spend_tracking.savings"}
    assert {"litellm", "qdrant_client"} <= set(report["elsewhere"])


async def test_a_slow_import_runs_in_a_thread_of_its_own_shared_by_every_waiter() -> None:
    release = threading.Event()
    ran_on: list[str] = []

    def load() -> ModuleType:
        ran_on.append(threading.current_thread().name)
        release.wait()
        return ModuleType("slow")

    waiters = [asyncio.create_task(imported("tests.slow-shared", load)) for _ in range(3)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # a request that ends while it waits does not cancel the import the others wait on
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)

    assert isinstance(results[0], asyncio.CancelledError)
    assert [module.__name__ for module in results[1:]] == ["slow", "slow"]  # type: ignore[union-attr]
    assert ran_on == ["import tests.slow-shared"]
    assert (await imported("tests.slow-shared", load)).__name__ == "slow"
    assert len(ran_on) == 1


def test_a_failed_slow_import_is_tried_again_by_the_next_caller() -> None:
    attempts: list[int] = []

    def load() -> ModuleType:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise ImportError("not installed yet")
        return ModuleType("installed")

    with pytest.raises(ImportError, match="not installed yet"):
        background_import("tests.slow-flaky", load).result()
    assert background_import("tests.slow-flaky", load).result().__name__ == "installed"
    assert attempts == [0, 1]
