"""The app `prism.main` serves, plus a benchmark-only signal: SIGUSR1 runs a full garbage collection.

PRISM raises the generation-0 threshold to 50,000 and collects the older generations rarely (prism/app.py), so what
a finished operation leaves in reference cycles can wait long in memory before a collection frees it. The fan-out
benchmark signals the server before it reads its resident memory, so the figure is what the server *keeps* per
subscription, not garbage not yet collected (`python -m bench.fanout --no-collect` reads it as it is).
"""

import ctypes
import ctypes.util
import gc
import signal
from types import FrameType

from prism.main import app

__all__ = ["app"]


def _collect(_signal: int, _frame: FrameType | None) -> None:
    gc.collect()
    # Give freed heap back to the system, so the resident size shows what is kept (glibc only).
    name = ctypes.util.find_library("c")
    if name is not None:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


signal.signal(signal.SIGUSR1, _collect)
