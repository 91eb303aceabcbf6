"""``--rigorous``: the same workloads measured by pyperf, for publishable numbers.

pyperf runs every (workload, variant) pair in fresh worker processes
(20 by default, 6 with ``--quick``, which becomes pyperf's ``--fast``),
calibrates the loop count and warm-ups, and keeps every value; options
pyperf knows (``-p``, ``-n``, ``--affinity``, ``-o``...) are passed on.
Workers re-run ``python -m perf --rigorous [--only ...]``; each builds only
the workload its task needs (the variant names are known without building
anything, so the master and every worker number the tasks alike).

Allocation workloads are not timings: they are measured once, in the master
process.  The outcome feeds the same table, targets, JSON and plot as a
default run.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from . import suite
from .allocations import measure_allocations
from .measure import Runner, Series, Settings, one_run
from .workloads import Workload

__all__ = ["run", "is_worker"]


def is_worker(rest: Sequence[str]) -> bool:
    return "--worker" in rest


class _Lazy:
    """A workload's runners, built the first time one is needed (in a worker)."""

    def __init__(self, workload: Workload, notes: List[str]) -> None:
        self.workload = workload
        self.notes = notes
        self.runners: Optional[Dict[str, Runner]] = None

    def time_func(self, variant: str) -> Any:
        def seconds(loops: int) -> float:
            if self.runners is None:
                self.runners = dict(self.workload.build(self.notes))
            runner = self.runners.get(variant)
            if runner is None:
                raise RuntimeError(f"{self.workload.key} has no {variant} variant here ({'; '.join(self.notes)})")
            return one_run(runner, loops) * loops / 1e9

        return seconds


def run(workloads: Sequence[Workload], args: argparse.Namespace, rest: Sequence[str]) -> Optional[suite.Outcome]:
    """Measure under pyperf; the outcome in the master process, ``None`` in a worker."""
    try:
        import pyperf
    except ImportError:
        print("error: --rigorous needs pyperf: pip install pyperf (or pip install '.[perf]')", file=sys.stderr)
        return None
    started = time.perf_counter()
    worker = is_worker(rest)
    program = ["-m", "perf", "--rigorous"]
    if args.only:
        program += ["--only", args.only]
    runner = pyperf.Runner(program_args=tuple(program))
    pyperf_args = list(rest)
    if args.quick and not worker:
        pyperf_args.append("--fast")
    runner.parse_args(pyperf_args)

    notes: List[str] = []
    benchmarks: Dict[str, Dict[str, Any]] = {}
    for workload in workloads:
        if workload.is_allocation:
            continue
        lazy = _Lazy(workload, notes)
        for variant in workload.planned(notes):
            bench = runner.bench_time_func(f"{workload.key}/{variant}", lazy.time_func(variant))
            if bench is not None:
                benchmarks.setdefault(workload.key, {})[variant] = bench
    if worker:
        return None

    measured: Dict[str, Dict[str, Series]] = {}
    for key, per_variant in benchmarks.items():
        measured[key] = {
            variant: Series([value * 1e9 for value in bench.get_values()], int(bench.get_loops() or 0))
            for variant, bench in per_variant.items()
        }
    for workload in workloads:
        if workload.is_allocation:
            measured[workload.key] = measure_allocations(workload.build(notes))
    values = max((len(s.values) for per in measured.values() for s in per.values()), default=0)
    settings = Settings(repeats=values, target_ns=runner.args.min_time * 1e9, name="rigorous")
    outcome = suite.run(workloads, settings, settings.name, measured=measured, started=started)
    outcome.notes[:0] = [n for n in notes if n not in outcome.notes]
    outcome.meta["method"] = (
        f"pyperf {pyperf.__version__}: median of {values} values per variant from {runner.args.processes} "
        f"worker processes (>= {runner.args.min_time:g} s per value)"
    )
    outcome.meta["pyperf"] = {
        "version": pyperf.__version__,
        "processes": runner.args.processes,
        "values_per_process": runner.args.values,
        "min_time": runner.args.min_time,
    }
    return outcome
