"""A local OpenAI-compatible chat server for the AI tests: each test scripts its answers per model name."""

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["GOOD", "FakeModelServer", "running_model_server"]

GOOD = {"title": "Export the sprint report", "points": 5, "criteria": ["Given a sprint, when exported, then a PDF"]}


@dataclass
class FakeModelServer:
    """An OpenAI-compatible chat endpoint whose answers each test scripts per model name; it keeps every request."""

    scripts: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    delay_seconds: dict[str, float] = field(default_factory=dict)
    """How long the model named takes to answer (a slow model)."""
    on_request: Callable[[dict[str, Any]], None] | None = None
    """Called (in the server's thread) with each request as it arrives."""

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        model = body["model"]
        self.calls.append(model)
        self.requests.append(body)
        if self.on_request is not None:
            self.on_request(body)
        await asyncio.sleep(self.delay_seconds.get(model, 0))
        script = self.scripts.get(model) or [(200, json.dumps(GOOD))]
        status, content = script.pop(0) if len(script) > 1 else script[0]
        if status != 200:
            return JSONResponse({"error": {"message": content, "type": "server_error"}}, status_code=status)
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
                "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50},
            }
        )


@contextmanager
def running_model_server() -> Iterator[FakeModelServer]:
    """The server, listening on a free port of 127.0.0.1 in a thread, until the block ends."""
    fake = FakeModelServer()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        fake.port = probe.getsockname()[1]
    app = Starlette(routes=[Route("/v1/chat/completions", fake.chat, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=fake.port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=5)
