"""Libraries whose import takes seconds of CPU (LiteLLM about 3.6 s, qdrant_client about 0.7 s on the CI machine),
imported once per process in a thread of their own, so that no event loop stops while they load.

An import on the event loop stops every request of the process for its whole duration, and a statement some other
request has begun then runs into PostgreSQL's statement timeout: asyncpg prepares a statement (Parse, Describe,
Flush) and sends its Bind and Execute only when the loop runs again, and the server counts the time between as the
statement's (docs/architecture.md, "Slow imports"). Async code awaits `imported(name)`; sync code (the CLI, a test)
may wait on `background_import(name).result()`.
"""

import asyncio
import importlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from types import ModuleType

__all__ = ["background_import", "imported"]

_imports: dict[str, Future[ModuleType]] = {}
_guard = threading.Lock()


def background_import(name: str, load: Callable[[], ModuleType] | None = None) -> Future[ModuleType]:
    """`name`, imported by `load` (default: `importlib.import_module(name)`) once per process, in a thread of its own,
    shared by every caller; a failed import is tried again by the next caller."""
    with _guard:
        started = _imports.get(name)
        if started is None:
            started = _imports[name] = Future()
            loader = load or partial(importlib.import_module, name)
            threading.Thread(target=_run, args=(name, started, loader), name=f"import {name}", daemon=True).start()
        return started


def _run(name: str, future: Future[ModuleType], load: Callable[[], ModuleType]) -> None:
    # Running: a waiter that is cancelled (its request ends) cannot cancel the import the others wait on.
    future.set_running_or_notify_cancel()
    try:
        module = load()
    except BaseException as error:  # noqa: BLE001 - handed to every waiter, who raises it
        with _guard:
            del _imports[name]
        future.set_exception(error)
    else:
        future.set_result(module)


async def imported(name: str, load: Callable[[], ModuleType] | None = None) -> ModuleType:
    """The module `name`; while it is being imported the caller's event loop runs on."""
    future = background_import(name, load)
    if future.done():
        return future.result()
    return await asyncio.wrap_future(future)
