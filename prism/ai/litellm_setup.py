"""LiteLLM, imported on first use: its import takes seconds, and it must not fetch its price table from the network.

The import runs in a thread of its own (prism/ai/slow_imports.py): async code awaits `litellm_loaded()`, and calls
`litellm_module()` only once it has, so no event loop stops for the 3-4 s of CPU the import takes.
"""

import logging
import os
from types import ModuleType

from prism.ai.slow_imports import background_import, imported

__all__ = ["litellm_loaded", "litellm_module"]

logger = logging.getLogger(__name__)


def _configured() -> ModuleType:
    """The litellm module, configured once for PRISM: local price table, no telemetry, the offline provider."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    from prism.ai.offline_provider import OFFLINE_PROVIDER, offline_handler

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    # LiteLLM keeps its provider map as module state; PRISM adds its one provider once, beside any already there.
    if not any(item.get("provider") == OFFLINE_PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": OFFLINE_PROVIDER, "custom_handler": offline_handler()},
        ]
    # LiteLLM defers a third of a second more of imports (its tokenizer, provider configurations, logging) to its
    # first call: one call of the offline model here makes them in this thread as well.
    try:
        litellm.completion(
            model=f"{OFFLINE_PROVIDER}/warm-up",
            messages=[{"role": "user", "content": "Warm up."}],
            num_retries=0,
            max_retries=0,
        )
    except Exception:  # a warm-up that fails leaves those imports to the first call, nothing worse
        logger.debug("LiteLLM's warm-up call failed", exc_info=True)
    return litellm


async def litellm_loaded() -> ModuleType:
    """The configured litellm module, imported in a thread of its own on first use: the event loop runs meanwhile."""
    return await imported("litellm", _configured)


def litellm_module() -> ModuleType:
    """The configured litellm module, for sync code; it blocks until the import is done, so async code calls it only
    after `litellm_loaded()`."""
    return background_import("litellm", _configured).result()
