"""LiteLLM, imported on first use: its import takes seconds, and it must not fetch its price table from the network."""

import os
from functools import cache
from types import ModuleType

__all__ = ["litellm_module"]


@cache
def litellm_module() -> ModuleType:
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
    return litellm
