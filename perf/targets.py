"""The targets wasmjit should reach, checked against the medians of the same run.

Three kinds of target:

``speedup``  stock median / variant median >= limit
``floor``    variant median / floor median <= limit
``under``    variant median <= limit (nanoseconds)
``relative`` variant median / the same variant's median in ``baseline`` <= limit

A target whose workload or variants were not measured (``--only``, a backend
this interpreter forbids) is skipped.  A missed target is reported, not
fatal: the figures of one run on a shared machine are noisy.  ``--strict``
turns a missed target into a non-zero exit status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from .measure import Series
from .workloads import WORKLOADS

__all__ = ["Target", "Verdict", "TARGETS", "check"]


@dataclass(frozen=True)
class Target:
    workload: str
    variant: str
    kind: str  # "speedup", "floor", "under" or "relative"
    limit: float
    baseline: str = ""
    """``relative``: the workload whose same variant is the reference."""

    def describe(self) -> str:
        if self.kind == "speedup":
            return f"{self.variant} >= {self.limit:g}x faster than stock"
        if self.kind == "floor":
            return f"{self.variant} within {self.limit:g}x of the floor"
        if self.kind == "relative":
            return f"{self.variant} within {self.limit:g}x of {self.baseline}"
        return f"{self.variant} under {self.limit / 1e3:g} us"

    def measure(self, series: Mapping[str, Series], baseline: Optional[Mapping[str, Series]] = None) -> Optional[float]:
        """The figure compared with the limit, or ``None`` if it was not measured."""
        mine = series.get(self.variant)
        if mine is None:
            return None
        if self.kind == "relative":
            reference = (baseline or {}).get(self.variant)
            return None if reference is None else mine.median / reference.median
        if self.kind == "speedup":
            stock = series.get("stock")
            return None if stock is None else stock.median / mine.median
        if self.kind == "floor":
            floor = series.get("floor")
            return None if floor is None else mine.median / floor.median
        return mine.median

    def reached(self, value: float) -> bool:
        if self.kind == "speedup":
            return value >= self.limit
        return value <= self.limit


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float
    met: bool

    def shown(self) -> str:
        if self.target.kind == "speedup":
            return f"{self.value:.1f}x"
        if self.target.kind in ("floor", "relative"):
            return f"{self.value:.2f}x"
        return f"{self.value / 1e3:.1f} us"

    def as_dict(self) -> Dict[str, object]:
        return {
            "workload": self.target.workload,
            "variant": self.target.variant,
            "kind": self.target.kind,
            "limit": self.target.limit,
            "value": self.value,
            "met": self.met,
            "description": self.target.describe(),
        }


GENERATED = ("bytecode", "source")


def _targets() -> Tuple[Target, ...]:
    targets: List[Target] = []
    # Callbacks: generated trampolines within 1.3x of the hand-written floor.
    for workload in ("callback-i32", "callback-mix3", "callback-16", "callback-caller", "gcd-loop"):
        targets += [Target(workload, variant, "floor", 1.3) for variant in GENERATED]
    targets += [Target("callback-i32", variant, "speedup", 5) for variant in GENERATED]
    targets += [Target("callback-mix3", variant, "speedup", 25) for variant in GENERATED]
    targets.append(Target("callback-mix3", "reflect", "speedup", 8))
    # Registration.  A new signature builds its template and compiles its guard
    # shim (a small wasm module, about 1 ms with Cranelift; later engines load
    # it serialized): once per signature and process.
    for variant in ("bytecode", "source", "reflect"):
        targets.append(Target("register-cached", variant, "under", 50e3))
        targets.append(Target("register-new", variant, "under", 2500e3))
    # Typed calls.
    targets += [Target("call-add", variant, "speedup", 20) for variant in GENERATED]
    targets += [Target("call-nop", variant, "speedup", 10) for variant in GENERATED]
    for workload in ("call-nop", "call-add", "call-swap4"):
        targets += [Target(workload, variant, "floor", 1.5) for variant in GENERATED]
    # Drop-in: unmodified wasmtime-py code under install().
    targets += [Target(workload, "install", "speedup", 5) for workload in ("dropin-callback", "dropin-call")]
    # Guest memory: 1 MiB copies within 1.5x of a bare memmove (wasmjit.Memory is measured under one
    # backend's name, whichever is the default); reading in a callback beats stock, and is near the floor.
    for workload in ("memory-write-1m", "memory-read-into-1m"):
        targets += [Target(workload, variant, "floor", 1.5) for variant in ("bytecode", "source", "reflect")]
    targets += [Target("memory-callback-read", variant, "floor", 1.3) for variant in GENERATED]
    targets += [Target("memory-callback-read", variant, "speedup", 4) for variant in GENERATED]
    targets += [Target(key, "install", "speedup", 4) for key in ("dropin-memory-callback", "dropin-memory-loop")]
    # Guest data.  A Str parameter is read from the memory of the instance that called, which only
    # wasmtime_caller_export_get can name: that one C call costs about twice an empty callback
    # (measured: ~700 ns against ~340 ns, a missing name as much as a found one), so the parameter
    # cannot cost under ~3x the empty (i32, i32) callback; it must cost no more than the floor.
    targets += [Target("guest-log-32", variant, "relative", 4.0, "callback-pair") for variant in GENERATED]
    targets += [Target("guest-log-32", variant, "floor", 1.3) for variant in GENERATED]
    targets += [Target("guest-log-32", variant, "speedup", 6) for variant in GENERATED]
    targets += [Target("guest-greet-32", variant, "speedup", 8) for variant in GENERATED]
    targets += [Target("guest-checksum-1k", variant, "speedup", 10) for variant in GENERATED]
    targets += _component_targets()
    return tuple(targets)


#: Issue 11's gains over stock, per component workload (the export call and, for ``host-*``, the import).
COMPONENT_SPEEDUPS: Dict[str, float] = {
    # Stock re-reads the function type through FFI and rebuilds ValType objects on every call (host
    # functions rebuild it from the type pointer).  What is left once that is gone stays mostly inside
    # wasmtime (val_t trees, no flat entry point): a bare wasmtime_component_func_call of add measured
    # 0.85-1.2 us of the floor's 1.0-1.9 us here; the floor itself is 14-21x faster than stock.
    "component-add": 10,
    "component-host-add": 10,
    # Records re-walk their fields through FFI in stock, and malloc every field name per call.
    "component-norm": 15,
    "component-host-norm": 15,
    # A string must be copied at least once each way (into wasmtime, then out of it): the floor itself
    # measured only 8-10x over stock, so 8x leaves wasmjit little room above the floor.
    "component-greet": 8,
    "component-host-greet": 8,
    "component-option": 10,
    "component-host-option": 10,
    "component-result": 10,
    "component-host-result": 10,
    "component-enum": 10,
    "component-host-enum": 10,
    # Flags cross as one malloc'd name per set flag, each way, and wasmtime matches them by name: the
    # floor itself measured 8x (export) and 9-10x (host) over stock, so 10x is at or past the floor.
    "component-flags": 10,
    "component-host-flags": 10,
    "component-variant": 10,
    "component-host-variant": 10,
    # 1,000 u32 elements: stock converts each through its ValType (~1.3 us an element); a binding
    # still writes/reads one 32-byte val_t per element, and wasmtime converts each again.
    "component-sum-1k": 8,
    "component-echo-1k": 8,
}


def _component_targets() -> List[Target]:
    """Issue 11: ``wasmjit.component`` against stock and against the hand-written floor of each signature.

    The floor (:mod:`perf.component.floors`) fills a preallocated ``val_t`` buffer with ``struct`` and
    makes one FFI call; bytecode, the default backend, must stay within 1.3x of it, as the core
    callbacks do.  A new WIT signature builds its plan and its trampoline once per process: under
    1 ms, so binding a component's few dozen exports stays unnoticeable at load time.
    """
    targets: List[Target] = []
    for workload, limit in COMPONENT_SPEEDUPS.items():
        targets += [Target(workload, variant, "speedup", limit) for variant in GENERATED]
        targets.append(Target(workload, "bytecode", "floor", 1.3))
    targets.append(Target("component-nop", "bytecode", "floor", 1.3))
    targets.append(Target("component-host-nop", "bytecode", "floor", 1.3))
    targets += [
        Target("component-register-new", variant, "under", 1000e3) for variant in ("bytecode", "source", "reflect")
    ]
    return targets


TARGETS: Tuple[Target, ...] = _targets()

_unknown = sorted(
    ({t.workload for t in TARGETS} | {t.baseline for t in TARGETS if t.baseline}) - {w.key for w in WORKLOADS}
)
if _unknown:  # the workload list owns the names; a target must use one of them
    raise ImportError(f"perf.targets names unknown workloads: {', '.join(_unknown)}")


def check(results: Mapping[str, Mapping[str, Series]]) -> List[Verdict]:
    """Every target whose figures were measured: ``results`` maps workload key -> variant -> series."""
    verdicts = []
    for target in TARGETS:
        series = results.get(target.workload)
        if series is None:
            continue
        value = target.measure(series, results.get(target.baseline))
        if value is not None:
            verdicts.append(Verdict(target, value, target.reached(value)))
    return verdicts
