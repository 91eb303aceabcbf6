"""Per-call allocation, measured with ``tracemalloc``: bytes allocated per 1,000 calls.

``tracemalloc`` knows the traced memory now and its peak, not a running total
of everything ever allocated, so each call is measured on its own: reset the
peak, make one call, read the peak.  The rise of the peak over the memory in
use before the call is what the call had allocated at its busiest moment.
Summed over 1,000 calls it is a *lower bound* of the bytes allocated (a block
freed before a later, larger one is allocated is not counted), and exactly
the allocated bytes for a call that frees nothing until it returns.

The same measurement of a *baseline* is subtracted: the same call shape with
nothing behind it (a Python function of the same arity for typed calls; the
benchmark's wasm loop run zero times for callbacks, so the cost of entering
wasm is not counted against the callback).  Bytes still held after the 1,000
calls and a collection are reported as ``retained``.
"""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Callable, Dict, Mapping, Tuple

from .measure import Series

__all__ = ["AllocCase", "measure_allocations"]

CALLS = 1000


@dataclass(frozen=True)
class AllocCase:
    """One call to measure and a baseline of the same shape."""

    call: Callable[[], object]
    baseline: Callable[[], object]
    #: Whatever must stay alive while the case is measured (its store).
    keep: Any = None


def _peak_rise(call: Callable[[], object], calls: int) -> float:
    """Sum over ``calls`` calls of how far the traced peak rose above the memory in use before each."""
    get = tracemalloc.get_traced_memory
    reset = tracemalloc.reset_peak
    total = 0
    for _ in repeat(None, calls):
        before = get()[0]
        reset()
        call()
        total += get()[1] - before
    return float(total)


def _retained(call: Callable[[], object], calls: int) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in repeat(None, calls):
        call()
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


def _measure(case: AllocCase, calls: int) -> Tuple[float, int]:
    for _ in range(3):  # first calls may fill caches
        case.call()
        case.baseline()
    rise = _peak_rise(case.call, calls) - _peak_rise(case.baseline, calls)
    return max(0.0, rise) * (CALLS / calls), _retained(case.call, calls)


def measure_allocations(cases: Mapping[str, AllocCase], calls: int = CALLS) -> Dict[str, Series]:
    """Bytes allocated per 1,000 calls for each variant (one value per variant)."""
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        results: Dict[str, Series] = {}
        for name, case in cases.items():
            per_1000, retained = _measure(case, calls)
            results[name] = Series([per_1000], calls, {"retained_bytes": float(retained)})
        return results
    finally:
        if gc_was_enabled:
            gc.enable()
        if not started:
            tracemalloc.stop()
