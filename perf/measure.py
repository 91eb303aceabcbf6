"""Timing: calibration, interleaved repeats and the statistics the report prints.

A *runner* performs ``n`` operations and returns the nanoseconds spent in its
timed part (setup such as building fresh callables stays outside it).  For
each workload every variant is calibrated to take about ``target_ns`` per
run (the calibration runs, the last one at about that size, double as
warm-up), then the repeats are
interleaved: repeat ``r`` runs every variant once, starting from a different
variant each time, so slow drifts and noisy neighbours on a shared machine
hit all variants alike.  A run is done with the garbage collector collected
beforehand and disabled during it, like ``timeit``.

Each run gives one value, nanoseconds per operation; a :class:`Series` keeps
them all and reports the median, minimum and a robust spread (median
absolute deviation relative to the median).
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping

__all__ = ["Runner", "Progress", "Settings", "Series", "calibrate", "interleave", "timed", "one_run"]

#: ``runner(n)``: perform ``n`` operations, return the nanoseconds they took.
Runner = Callable[[int], float]


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure."""

    repeats: int = 9
    #: Aim for runs of about this many nanoseconds each.
    target_ns: float = 15e6
    #: Never more operations than this in one run.
    max_ops: int = 2_000_000
    name: str = "default"


DEFAULT = Settings()
QUICK = Settings(repeats=3, target_ns=2e6, name="quick")


@dataclass
class Series:
    """Every run of one variant of one workload: values are per operation (ns, or bytes)."""

    values: List[float]
    #: Operations per run.
    ops: int
    extra: Dict[str, float] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def spread(self) -> float:
        """Median absolute deviation divided by the median (0.02 means about +-2%)."""
        median = self.median
        if len(self.values) < 2 or median == 0:
            return 0.0
        return statistics.median(abs(v - median) for v in self.values) / abs(median)

    def as_dict(self) -> Dict[str, object]:
        return {
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "spread": self.spread,
            "runs": len(self.values),
            "ops_per_run": self.ops,
            "values": list(self.values),
            **self.extra,
        }


def timed(call: Callable[[], object]) -> float:
    """Nanoseconds ``call()`` takes."""
    start = time.perf_counter_ns()
    call()
    return time.perf_counter_ns() - start


def one_run(runner: Runner, n: int) -> float:
    """One run of ``n`` operations with the collector quiet; nanoseconds per operation."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        elapsed = runner(n)
    finally:
        if enabled:
            gc.enable()
    return elapsed / n


def calibrate(runner: Runner, settings: Settings) -> int:
    """How many operations make one run last about ``settings.target_ns``."""
    n = 1
    while True:
        per_op = one_run(runner, n)
        elapsed = per_op * n
        if elapsed >= settings.target_ns / 20 or n >= settings.max_ops:
            break
        n *= 8
    # One more run at about the working size: a warm-up, and a better estimate
    # than the short run above (which may include first-call costs).
    n = max(1, min(settings.max_ops, int(settings.target_ns / max(per_op, 1e-3))))
    per_op = one_run(runner, n)
    return max(1, min(settings.max_ops, int(settings.target_ns / max(per_op, 1e-3))))


#: ``progress(what, done)``: what starts now, and the fraction of the work done so far (0 to 1).
Progress = Callable[[str, float], None]


def interleave(
    runners: Mapping[str, Runner],
    settings: Settings,
    progress: Progress = lambda what, done: None,
) -> Dict[str, Series]:
    """Calibrate every runner, then time ``settings.repeats`` interleaved rounds.

    For ``progress``, calibrating one runner counts as much as one of its runs.
    """
    names = list(runners)
    if not names:  # nothing usable here (e.g. a module wasmjit does not have yet): nothing to time
        return {}
    steps = len(names) * (settings.repeats + 1)
    sizes: Dict[str, int] = {}
    for index, name in enumerate(names):
        progress(f"calibrating {name}", index / steps)
        sizes[name] = calibrate(runners[name], settings)
    series = {name: Series([], sizes[name]) for name in names}
    for round_ in range(settings.repeats):
        progress(f"round {round_ + 1}/{settings.repeats}", len(names) * (round_ + 1) / steps)
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            series[name].values.append(one_run(runners[name], sizes[name]))
    return series
