"""The app `prism.main` serves, plus benchmark-only signals: SIGUSR1 runs a full garbage collection, and with
`PRISM_BENCH_TRACEMALLOC` set to a file path, SIGUSR2 records where the memory allocated since the first SIGUSR2
went (tracemalloc, by source file), appended to that file.

PRISM raises the generation-0 threshold to 50,000 and collects the older generations rarely (prism/app.py), so what
a finished operation leaves in reference cycles can wait long in memory before a collection frees it. The fan-out
benchmark signals the server before it reads its resident memory, so the figure is what the server *keeps* per
subscription, not garbage not yet collected (`python -m bench.fanout --no-collect` reads it as it is).
"""

import ctypes
import ctypes.util
import gc
import os
import signal
import tracemalloc
from collections import Counter
from types import FrameType

from prism.main import app

__all__ = ["app"]

_REPORT = os.environ.get("PRISM_BENCH_TRACEMALLOC")
_baseline: list[tracemalloc.Snapshot] = []


def _collect(_signal: int, _frame: FrameType | None) -> None:
    gc.collect()
    # Give freed heap back to the system, so the resident size shows what is kept (glibc only).
    name = ctypes.util.find_library("c")
    if name is not None:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


def _where(filename: str) -> str:
    """A source file named by its package: `uvicorn/...`, `websockets/...`, `prism/...`, `asyncio/...`."""
    for marker in ("site-packages/", "/python3.11/", "/wt-rt/", "/work/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
    return filename


def _record(_signal: int, _frame: FrameType | None) -> None:
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    if not _baseline:
        _baseline.append(snapshot)
        return
    by_file: Counter[str] = Counter()
    for stat in snapshot.compare_to(_baseline[0], "filename"):
        frame = stat.traceback[0] if len(stat.traceback) else None
        by_file[_where(frame.filename) if frame else "?"] += stat.size_diff
    assert _REPORT is not None
    with open(_REPORT, "a") as report:
        report.write(f"total {sum(by_file.values())}\n")
        for filename, size in by_file.most_common(40):
            report.write(f"{size} {filename}\n")
        report.write("\n")


signal.signal(signal.SIGUSR1, _collect)
if _REPORT:
    tracemalloc.start(1)
    signal.signal(signal.SIGUSR2, _record)
