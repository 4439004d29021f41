"""LiteLLM, imported on first use: its import takes seconds, and it must not fetch its price table from the network."""

import os
from functools import cache
from types import ModuleType

__all__ = ["litellm_module"]


@cache
def litellm_module() -> ModuleType:
    """The litellm module, configured once for PRISM: local price table, no telemetry."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm
