"""Running the selected workloads in one process and collecting what the report needs.

For every workload: build its variants (stores, instances, floors, wasmjit
trampolines), measure them side by side (:func:`perf.measure.interleave`,
or :func:`perf.allocations.measure_allocations` for allocation workloads),
then drop them so each workload starts from a clean slate.  The outcome
holds every series, the notes gathered along the way (a backend this
interpreter forbids), the target verdicts and the metadata (versions,
platform, settings).  Progress is reported as ``[7/16] call-add: round 4/9,
~20 s left``: the workload's place in the run, its key, what is being done,
and an estimate of the time left.
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

from . import reference, targets
from .allocations import measure_allocations
from .measure import Series, Settings, interleave
from .workloads import Workload

__all__ = ["Outcome", "Progress", "run", "metadata", "expected_seconds"]

#: ``progress(message)``: one line saying what is being measured now.
Progress = Callable[[str], None]


@dataclass
class Outcome:
    workloads: List[Workload]
    #: workload key -> variant -> series
    results: Dict[str, Dict[str, Series]]
    notes: List[str]
    meta: Dict[str, object]
    verdicts: List[targets.Verdict] = field(default_factory=list)
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


#: Rough costs behind the time-left estimate, which corrects them by the time the run has taken so far.
_OVERHEAD_PER_RUN_S = 0.005
_ALLOCATION_PER_VARIANT_S = 0.15
_REGISTRATION_SETUP_FACTOR = 2.0


def expected_seconds(workload: Workload, settings: Settings, notes: List[str]) -> float:
    """About how long measuring ``workload`` takes: only for the time-left estimate."""
    variants = len(workload.planned(notes))
    if workload.is_allocation:
        return variants * _ALLOCATION_PER_VARIANT_S
    runs = settings.repeats + 1  # calibrating a variant costs about one run
    timed = 2 * runs * settings.target_ns / 1e9
    if workload.group == "registration":  # fresh stores and callables before every run
        timed *= _REGISTRATION_SETUP_FACTOR
    return variants * (timed + (runs + 3) * _OVERHEAD_PER_RUN_S)


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{max(1, round(seconds))} s"


class _Clock:
    """Turns "workload i is this far along" into a progress line with an estimate of the time left."""

    def __init__(self, expected: Sequence[float], progress: Progress, started: float) -> None:
        self.expected = list(expected)
        self.total = sum(expected)
        self.progress = progress
        self.started = started

    def report(self, index: int, key: str, what: str, fraction: float) -> None:
        done = sum(self.expected[:index]) + self.expected[index] * fraction
        elapsed = time.perf_counter() - self.started
        rate = 1.0
        if done > 0 and elapsed > 1.0:  # how far off the rough costs are on this machine
            rate = min(4.0, max(0.25, elapsed / done))
        left = (self.total - done) * rate
        self.progress(f"[{index + 1}/{len(self.expected)}] {key}: {what}, ~{_duration(left)} left")


def _measure_one(
    workload: Workload, settings: Settings, notes: List[str], step: Callable[[str, float], None]
) -> Dict[str, Series]:
    if workload.is_allocation:
        step("counting allocations", 0.0)
        return measure_allocations(workload.build(notes))
    step("building", 0.0)
    return interleave(workload.build(notes), settings, step)


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
    clock = _Clock(
        [0.0 if w.key in measured else expected_seconds(w, settings, notes) for w in workloads], progress, started
    )
    results: Dict[str, Dict[str, Series]] = {}
    for index, workload in enumerate(workloads):
        if workload.key in measured:
            results[workload.key] = dict(measured[workload.key])
            continue

        def step(what: str, fraction: float, index: int = index, key: str = workload.key) -> None:
            clock.report(index, key, what, fraction)

        results[workload.key] = _measure_one(workload, settings, notes, step)
        gc.collect()  # drop the workload's stores before the next one
    outcome = Outcome(list(workloads), results, notes, metadata(settings, mode))
    outcome.verdicts = targets.check(results)
    outcome.wall_seconds = time.perf_counter() - started
    return outcome
