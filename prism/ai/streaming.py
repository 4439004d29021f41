"""Streamed text generation through LiteLLM (`stream=True`): the feature's model, fallbacks, metering and budget.

The same policy as structured generation (prism.ai.completion): the feature's model, then each fallback; opening a
stream is retried with backoff on 429, 5xx, timeouts and dropped connections. Once text has reached the caller, a
failure cannot move to another model (the reader has seen half an answer): it fails the generation. Each
generation is one `ai_run` row, with the tokens the provider reports (or, for one that reports none, the words).
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prism.ai.completion import GenerationRequest, Generator, call_model
from prism.ai.litellm_setup import litellm_module
from prism.ai.offline_provider import OFFLINE_PROVIDER
from prism.errors import AiUnavailableError

__all__ = ["StreamedText", "StreamingGenerator"]


@dataclass(frozen=True)
class StreamedText:
    """A finished streamed answer, with who gave it and what it cost."""

    text: str
    model: str
    offline: bool
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: int


class StreamingGenerator(Generator):
    """Structured generation (Generator) plus streamed text."""

    async def check_budget(self, organization_id: UUID) -> None:
        """AiBudgetExhaustedError when the organization's month is spent (so a job is not even queued); a read on the
        unit of work, in its transaction."""
        await self._check_budget(organization_id)

    async def _open(self, model: str, messages: list[dict[str, str]]) -> Any:
        return await call_model(
            self._settings, model, messages, stream=True, remote_options={"stream_options": {"include_usage": True}}
        )

    async def stream(self, request: GenerationRequest, on_text: Callable[[str], Awaitable[None]]) -> StreamedText:
        """Stream the feature's answer, handing each piece of text to `on_text` as it arrives; the whole answer, or
        AiBudgetExhaustedError / AiUnavailableError. The unit of work holds no connection meanwhile."""
        async with self._uow.without_connection():
            return await self._stream(request, on_text)

    async def _stream(self, request: GenerationRequest, on_text: Callable[[str], Awaitable[None]]) -> StreamedText:
        await self._check_budget(request.organization_id)
        started = time.perf_counter()
        last_error = "no model configured"
        model = ""
        parts: list[str] = []
        for model in self.models_for(request.feature):
            parts = []
            usage: Any = None
            try:
                response = await self._open(model, request.messages)
                async for chunk in response:
                    usage = getattr(chunk, "usage", None) or usage
                    choices = getattr(chunk, "choices", None) or []
                    delta = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
                    if delta:
                        parts.append(delta)
                        await on_text(delta)
            except Exception as error:  # noqa: BLE001 - a provider failure moves on, unless text was already sent
                last_error = f"{type(error).__name__}: {error}"[:500]
                if parts:
                    break
                continue
            text = "".join(parts)
            if not text.strip():
                last_error = "the model answered nothing"
                continue
            offline = model.startswith(f"{OFFLINE_PROVIDER}/")
            prompt_words = sum(len(message["content"].split()) for message in request.messages)
            input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0) or prompt_words
            output_tokens = int(getattr(usage, "completion_tokens", 0) or 0) or len(text.split())
            latency = int((time.perf_counter() - started) * 1000)
            cost = _cost(model, input_tokens, output_tokens)
            await self._record(
                request,
                model=model,
                offline=offline,
                succeeded=True,
                repaired=False,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=cost,
                latency_ms=latency,
            )
            return StreamedText(text, model, offline, input_tokens, output_tokens, cost, latency)
        await self._record(
            request,
            model=model,
            offline=model.startswith(f"{OFFLINE_PROVIDER}/"),
            succeeded=False,
            repaired=False,
            input_tokens=0,
            output_tokens=len("".join(parts).split()),
            cost_usd=0.0,
            latency_ms=int((time.perf_counter() - started) * 1000),
            error=last_error,
        )
        raise AiUnavailableError(f"No AI model streamed a usable answer ({last_error}).")


def _cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """The stream's price from LiteLLM's local price table; 0 for models it has no price for (offline, local)."""
    try:
        prompt, completion = litellm_module().cost_per_token(
            model=model, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
        return float(prompt + completion)
    except Exception:  # noqa: BLE001 - an unknown price is no reason to fail a call that succeeded
        return 0.0
