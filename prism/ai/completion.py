"""Structured generation through LiteLLM: the feature's model, retries, fallbacks, one repair, metering and budget.

Every AI feature asks for a pydantic model. The call goes to the feature's model (PRISM_LLM_FEATURE_MODELS, else
PRISM_LLM_MODEL; the offline provider by default) with the model's JSON schema, is retried with exponential backoff
on 429, 5xx, timeouts and connection errors (tenacity), moves to each fallback model in turn when retries run out,
and gets one repair attempt when the answer does not validate. Each call is an `ai_run` row; the organization's
monthly spend (USD and tokens) is checked before the call.

Metering runs on the caller's unit of work (the request's, or a job's), never on a connection of its own: a request
holding one connection while asking the pool for a second stalls the pool under concurrency. And no connection is
held while the model thinks: a generation runs inside `UnitOfWork.without_connection()`, so the budget check and the
`ai_run` row are each a short transaction of their own, and the connection is back in the pool during the call.

Answers are cached (the shared store: Redis, or in process when embedded) for PRISM_AI_CACHE_TTL_SECONDS under a
key made of the organization, the feature's model, the prompt's key and version and a hash of the messages and
schema: the same question in the same organization is answered again at no cost (an `ai_run` with `cached`), and
no organization is ever served another's answer. A cache that does not answer is skipped, never a failure.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from prism.ai.litellm_setup import litellm_loaded, litellm_module
from prism.ai.offline_provider import OFFLINE_PROVIDER
from prism.config import Settings
from prism.db.tables import AiRun
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import AiBudgetExhaustedError, AiUnavailableError
from prism.kv import KeyValueStore, StoreUnavailableError

__all__ = ["Generation", "GenerationRequest", "Generator", "call_model", "is_retryable"]

OutputT = TypeVar("OutputT", bound=BaseModel)
logger = logging.getLogger(__name__)

_RUN = AiRun.__table__  # type: ignore[attr-defined]
REPAIR_INSTRUCTION = (
    "Your previous answer did not match the JSON schema: {error}. Answer again with only the corrected JSON object."
)


@dataclass(frozen=True)
class GenerationRequest:
    """What a feature asks: its name, its prompt's version (and key, the feature's when empty), the messages, and
    the organization that pays."""

    feature: str
    prompt_version: str
    organization_id: UUID
    messages: list[dict[str, str]]
    prompt_key: str = ""


@dataclass(frozen=True)
class Generation(Generic[OutputT]):
    """A validated answer, with who gave it and what it cost."""

    output: OutputT
    model: str
    offline: bool
    repaired: bool
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: int
    cached: bool = False


def is_retryable(error: BaseException) -> bool:
    """Whether a model call's failure is worth retrying: 429, 5xx, a timeout, a dropped connection."""
    litellm = litellm_module()
    if isinstance(error, litellm.RateLimitError | litellm.Timeout | litellm.APIConnectionError):
        return True
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


async def call_model(
    settings: Settings,
    model: str,
    messages: list[dict[str, str]],
    *,
    remote_options: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """One LiteLLM completion under PRISM's endpoint settings and retry policy (429, 5xx and timeouts retried with
    exponential backoff); `options` go to every model, `remote_options` only to a model that is not the offline one.
    LiteLLM's first import runs in a thread of its own: the event loop serves other requests meanwhile."""
    litellm = await litellm_loaded()
    endpoint: dict[str, Any] = {}
    if not model.startswith(f"{OFFLINE_PROVIDER}/"):
        if settings.llm_api_base:
            endpoint["api_base"] = settings.llm_api_base
        if settings.llm_api_key is not None:
            endpoint["api_key"] = settings.llm_api_key.get_secret_value()
        endpoint.update(remote_options or {})
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(settings.llm_max_retries + 1),
        wait=wait_exponential(multiplier=settings.llm_retry_base_seconds, max=30),
        reraise=True,
    ):
        with attempt:
            return await litellm.acompletion(
                model=model,
                messages=messages,
                timeout=settings.llm_timeout_seconds,
                # PRISM retries itself (above), so one policy governs every provider.
                num_retries=0,
                max_retries=0,
                drop_params=True,
                **options,
                **endpoint,
            )
    raise AssertionError("unreachable: tenacity reraises the last failure")


class Generator:
    """Runs structured generations for one process's settings, metering them in `ai_run` through `uow`, the unit of
    work of the request (or job) that asks, scoped to the organization that pays."""

    def __init__(self, settings: Settings, uow: UnitOfWork, cache: KeyValueStore | None = None) -> None:
        self._settings = settings
        self._uow = uow
        self._cache = cache if settings.ai_cache_ttl_seconds > 0 else None

    def models_for(self, feature: str) -> list[str]:
        """The models a feature tries, in order: its own (or the default), then the fallbacks."""
        first = self._settings.llm_feature_models.get(feature, self._settings.llm_model)
        return [first, *(m for m in self._settings.llm_fallback_models if m != first)]

    async def spent_this_month(self, organization_id: UUID) -> tuple[float, int]:
        """The organization's AI spend since the month began (UTC): USD and tokens."""
        start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        statement = tenant_select(
            _RUN,
            organization_id,
            sa.func.coalesce(sa.func.sum(_RUN.c.cost_usd), 0.0),
            sa.func.coalesce(sa.func.sum(_RUN.c.input_tokens + _RUN.c.output_tokens), 0),
        ).where(_RUN.c.created_at >= start)
        if organization_id != self._uow.organization_id:
            # Row-level security reads the unit's organization: another's spend would read as nothing.
            raise ValueError("a generation is metered in the unit of work of the organization that pays")
        values: list[Any] = list((await self._uow.all(statement))[0])
        return float(values[0]), int(values[1])

    async def _check_budget(self, organization_id: UUID) -> None:
        cost, tokens = await self.spent_this_month(organization_id)
        if cost >= self._settings.ai_monthly_budget_usd or tokens >= self._settings.ai_monthly_token_budget:
            raise AiBudgetExhaustedError(
                f"The organization's AI budget for this month is spent (${cost:.2f} of "
                f"${self._settings.ai_monthly_budget_usd:.2f}, {tokens} of {self._settings.ai_monthly_token_budget} "
                "tokens); it renews on the 1st (UTC), or an operator can raise it."
            )

    async def _record(self, request: GenerationRequest, **columns: Any) -> None:
        """The run's `ai_run` row, committed at once (a short transaction): a run is paid for even if the request
        then fails."""
        async with self._uow.session(request.organization_id) as session:
            session.add(
                AiRun(
                    organization_id=request.organization_id,
                    feature=request.feature,
                    prompt_key=request.prompt_key or request.feature,
                    prompt_version=request.prompt_version,
                    **columns,
                )
            )
        await self._uow.commit()

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The request's `response_format`: OpenAI's structured outputs, or the JSON mode some servers take instead
        (llama-cpp-python's server refuses `json_schema` and constrains `json_object` to a `schema` given beside)."""
        if self._settings.llm_response_format == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": False}}

    async def _call(self, model: str, messages: list[dict[str, str]], schema: dict[str, Any]) -> Any:
        return await call_model(self._settings, model, messages, response_format=self._response_format(schema))

    def cache_key(self, request: GenerationRequest, schema: dict[str, Any]) -> str:
        """Where an answer to `request` is cached: under its organization, by model, prompt and a hash of the input."""
        question = {
            "model": self.models_for(request.feature)[0],
            "feature": request.feature,
            "prompt": [request.prompt_key or request.feature, request.prompt_version],
            "messages": request.messages,
            "schema": schema,
        }
        digest = hashlib.sha256(json.dumps(question, sort_keys=True).encode()).hexdigest()
        return f"ai-cache:{request.organization_id}:{digest}"

    async def _cached(self, key: str, output: type[OutputT]) -> tuple[OutputT, str, bool] | None:
        if self._cache is None:
            return None
        try:
            found = await self._cache.get(key)
        except StoreUnavailableError:
            logger.warning("the AI response cache did not answer; asking the model")
            return None
        if found is None:
            return None
        try:
            entry = json.loads(found)
            return output.model_validate(entry["output"]), str(entry["model"]), bool(entry["offline"])
        except (ValueError, KeyError, TypeError, PydanticValidationError):
            return None  # an entry of another shape (the model changed since): ask again

    async def _keep(self, key: str, generation: "Generation[OutputT]") -> None:
        if self._cache is None:
            return
        entry = {
            "output": generation.output.model_dump(mode="json"),
            "model": generation.model,
            "offline": generation.offline,
        }
        try:
            await self._cache.set(key, json.dumps(entry), ttl_seconds=self._settings.ai_cache_ttl_seconds)
        except StoreUnavailableError:
            logger.warning("the AI response cache did not answer; the answer is not cached")

    async def generate(self, request: GenerationRequest, output: type[OutputT]) -> Generation[OutputT]:
        """The feature's answer as `output`, or AiBudgetExhaustedError / AiUnavailableError; the unit of work holds
        no connection meanwhile (it must have no uncommitted writes)."""
        async with self._uow.without_connection():
            return await self._answer(request, output)

    async def _answer(self, request: GenerationRequest, output: type[OutputT]) -> Generation[OutputT]:
        schema = output.model_json_schema()
        key = self.cache_key(request, schema)
        started = time.perf_counter()
        hit = await self._cached(key, output)
        if hit is not None:
            parsed, model, offline = hit
            latency = int((time.perf_counter() - started) * 1000)
            await self._record(
                request,
                model=model,
                offline=offline,
                cached=True,
                succeeded=True,
                repaired=False,
                input_tokens=0,
                output_tokens=0,
                cost_usd=0.0,
                latency_ms=latency,
            )
            return Generation(parsed, model, offline, False, 0, 0, 0.0, latency, cached=True)
        generation = await self._generate(request, output, schema)
        await self._keep(key, generation)
        return generation

    async def _generate(
        self, request: GenerationRequest, output: type[OutputT], schema: dict[str, Any]
    ) -> Generation[OutputT]:
        await self._check_budget(request.organization_id)
        # The schema goes in the prompt too: not every provider honours response_format.
        messages = [
            *request.messages,
            {
                "role": "system",
                "content": f"Answer with one JSON object matching this schema: <schema>{json.dumps(schema)}</schema>",
            },
        ]
        started = time.perf_counter()
        input_tokens = output_tokens = 0
        cost = 0.0
        last_error = "no model configured"
        model = ""
        for model in self.models_for(request.feature):
            conversation = list(messages)
            for repair in (False, True):
                try:
                    response = await self._call(model, conversation, schema)
                except Exception as error:  # noqa: BLE001 - any provider failure moves on to the next model
                    last_error = f"{type(error).__name__}: {error}"[:500]
                    break
                usage = getattr(response, "usage", None)
                input_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                output_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                cost += _cost_of(response)
                content = response.choices[0].message.content or ""
                try:
                    parsed = output.model_validate_json(_json_part(content))
                except PydanticValidationError as error:
                    last_error = f"invalid output: {error.errors()[0].get('msg', 'invalid')}"[:500]
                    conversation += [
                        {"role": "assistant", "content": content},
                        {"role": "user", "content": REPAIR_INSTRUCTION.format(error=last_error)},
                    ]
                    continue
                latency = int((time.perf_counter() - started) * 1000)
                offline = model.startswith(f"{OFFLINE_PROVIDER}/")
                await self._record(
                    request,
                    model=model,
                    offline=offline,
                    succeeded=True,
                    repaired=repair,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost_usd=cost,
                    latency_ms=latency,
                )
                return Generation(parsed, model, offline, repair, input_tokens, output_tokens, cost, latency)
        await self._record(
            request,
            model=model,
            offline=model.startswith(f"{OFFLINE_PROVIDER}/"),
            succeeded=False,
            repaired=False,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            latency_ms=int((time.perf_counter() - started) * 1000),
            error=last_error,
        )
        raise AiUnavailableError(f"No AI model gave a usable answer ({last_error}).")


def _json_part(content: str) -> str:
    """The JSON object in an answer, without the code fence or prose some models wrap it in."""
    start, end = content.find("{"), content.rfind("}")
    return content[start : end + 1] if start != -1 and end > start else content


def _cost_of(response: Any) -> float:
    """The call's price from LiteLLM's local price table; 0 for models it has no price for (offline, local)."""
    try:
        return float(litellm_module().completion_cost(completion_response=response) or 0.0)
    except Exception:  # noqa: BLE001 - an unknown price is no reason to fail a call that succeeded
        return 0.0
