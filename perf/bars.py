"""The bars wasmjit must clear, checked against the medians of the same run.

Three kinds of bar:

``speedup``  stock median / variant median >= limit
``floor``    variant median / floor median <= limit
``under``    variant median <= limit (nanoseconds)

A bar whose workload or variants were not measured (``--only``, a backend
this interpreter forbids) is skipped, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from .measure import Series

__all__ = ["Bar", "Verdict", "BARS", "check"]


@dataclass(frozen=True)
class Bar:
    workload: str
    variant: str
    kind: str  # "speedup", "floor" or "under"
    limit: float

    def describe(self) -> str:
        if self.kind == "speedup":
            return f"{self.variant} >= {self.limit:g}x faster than stock"
        if self.kind == "floor":
            return f"{self.variant} within {self.limit:g}x of the floor"
        return f"{self.variant} under {self.limit / 1e3:g} us"

    def measure(self, series: Mapping[str, Series]) -> Optional[float]:
        """The figure compared with the limit, or ``None`` if it was not measured."""
        mine = series.get(self.variant)
        if mine is None:
            return None
        if self.kind == "speedup":
            stock = series.get("stock")
            return None if stock is None else stock.median / mine.median
        if self.kind == "floor":
            floor = series.get("floor")
            return None if floor is None else mine.median / floor.median
        return mine.median

    def passes(self, value: float) -> bool:
        if self.kind == "speedup":
            return value >= self.limit
        return value <= self.limit


@dataclass(frozen=True)
class Verdict:
    bar: Bar
    value: float
    passed: bool

    def shown(self) -> str:
        if self.bar.kind == "speedup":
            return f"{self.value:.1f}x"
        if self.bar.kind == "floor":
            return f"{self.value:.2f}x"
        return f"{self.value / 1e3:.1f} us"

    def as_dict(self) -> Dict[str, object]:
        return {
            "workload": self.bar.workload,
            "variant": self.bar.variant,
            "kind": self.bar.kind,
            "limit": self.bar.limit,
            "value": self.value,
            "passed": self.passed,
            "description": self.bar.describe(),
        }


GENERATED = ("bytecode", "source")


def _bars() -> Tuple[Bar, ...]:
    bars: List[Bar] = []
    # Callbacks: generated trampolines within 1.3x of the hand-written floor.
    for workload in ("cb-i32", "cb-mix3", "cb-16", "cb-caller", "gcd-loop"):
        bars += [Bar(workload, variant, "floor", 1.3) for variant in GENERATED]
    bars += [Bar("cb-i32", variant, "speedup", 5) for variant in GENERATED]
    bars += [Bar("cb-mix3", variant, "speedup", 25) for variant in GENERATED]
    bars.append(Bar("cb-mix3", "reflect", "speedup", 8))
    # Registration.
    for variant in ("bytecode", "source", "reflect"):
        bars.append(Bar("reg-cached", variant, "under", 50e3))
        bars.append(Bar("reg-new", variant, "under", 500e3))
    # Typed calls.
    bars += [Bar("call-add", variant, "speedup", 20) for variant in GENERATED]
    bars += [Bar("call-nop", variant, "speedup", 10) for variant in GENERATED]
    for workload in ("call-nop", "call-add", "call-swap4"):
        bars += [Bar(workload, variant, "floor", 1.5) for variant in GENERATED]
    # Drop-in: unmodified wasmtime-py code under install().
    bars += [Bar(workload, "install", "speedup", 5) for workload in ("dropin-callback", "dropin-call")]
    return tuple(bars)


BARS: Tuple[Bar, ...] = _bars()


def check(results: Mapping[str, Mapping[str, Series]]) -> List[Verdict]:
    """Every bar whose figures were measured: ``results`` maps workload key -> variant -> series."""
    verdicts = []
    for bar in BARS:
        series = results.get(bar.workload)
        if series is None:
            continue
        value = bar.measure(series)
        if value is not None:
            verdicts.append(Verdict(bar, value, bar.passes(value)))
    return verdicts
