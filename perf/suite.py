"""Running the selected workloads in one process and collecting what the report needs.

For every workload: build its variants (stores, instances, floors, wasmjit
trampolines), measure them side by side (:func:`perf.measure.interleave`,
or :func:`perf.allocations.measure_allocations` for allocation workloads),
then drop them so each workload starts from a clean slate.  The outcome
holds every series, the notes gathered along the way (a backend this
interpreter forbids, pywasm3 missing), the bar verdicts and the metadata
(versions, platform, settings).
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import wasmtime

import wasmjit

from . import bars, reference
from .allocations import measure_allocations
from .measure import Series, Settings, interleave
from .workloads import Workload

__all__ = ["Outcome", "run", "metadata"]

Progress = Callable[[str], None]


@dataclass
class Outcome:
    workloads: List[Workload]
    #: workload key -> variant -> series
    results: Dict[str, Dict[str, Series]]
    notes: List[str]
    meta: Dict[str, object]
    verdicts: List[bars.Verdict] = field(default_factory=list)
    wall_seconds: float = 0.0


def _default_backend() -> str:
    def probe(x: wasmjit.i32) -> None:
        pass

    return wasmjit.Function.from_callback(wasmtime.Store(), probe).backend


def metadata(settings: Settings, mode: str) -> Dict[str, object]:
    """Versions, platform and settings, for the report header and the JSON."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "wasmtime": importlib.metadata.version("wasmtime"),
        "wasmjit": getattr(wasmjit, "__version__", "?"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "default_backend": _default_backend(),
        "backends": {name: reason or "available" for name, reason in wasmjit.probe().items()},
        "pywasm3": reference.available(),
        "mode": mode,
        "method": f"median of {settings.repeats} interleaved runs per variant (~{settings.target_ns / 1e6:g} ms each)",
        "repeats": settings.repeats,
        "target_ms_per_run": settings.target_ns / 1e6,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _measure_one(workload: Workload, settings: Settings, notes: List[str], progress: Progress) -> Dict[str, Series]:
    built = workload.build(notes)
    if workload.is_allocation:
        progress(f"{workload.key}: tracemalloc")
        return measure_allocations(built)
    return interleave(built, settings, lambda what: progress(f"{workload.key}: {what}"))


def run(
    workloads: Sequence[Workload],
    settings: Settings,
    mode: str = "default",
    progress: Progress = lambda _: None,
    measured: Mapping[str, Dict[str, Series]] = {},
    started: Optional[float] = None,
) -> Outcome:
    """Measure ``workloads`` (those already in ``measured`` are taken as they are).

    ``started`` is the ``time.perf_counter()`` the wall time counts from (now by default).
    """
    if started is None:
        started = time.perf_counter()
    notes: List[str] = []
    if not reference.available():
        notes.append("pywasm3 is not installed: no reference column (pip install pywasm3 to add it)")
    results: Dict[str, Dict[str, Series]] = {}
    for workload in workloads:
        if workload.key in measured:
            results[workload.key] = dict(measured[workload.key])
            continue
        results[workload.key] = _measure_one(workload, settings, notes, progress)
        gc.collect()  # drop the workload's stores before the next one
    outcome = Outcome(list(workloads), results, notes, metadata(settings, mode))
    outcome.verdicts = bars.check(results)
    outcome.wall_seconds = time.perf_counter() - started
    return outcome
