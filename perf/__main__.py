"""``python -m perf``: measure stock wasmtime-py, the hand-written floor and every wasmjit backend.

Run from the repository root; it imports the installed ``wasmjit``.

    python -m perf                    # every workload, one table, the bars; < 1 minute
    python -m perf --quick            # smoke run, a few seconds
    python -m perf --only call-add    # workloads whose key or title matches (a regex)
    python -m perf --json out.json --plot out.png
    python -m perf --rigorous --only add   # pyperf: worker processes, calibration, statistics

The table goes to stdout, progress to stderr.  The exit status is 0 unless
the run could not be made, or ``--strict`` is given and a bar failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from . import report, suite
from .measure import DEFAULT, QUICK
from .workloads import WORKLOADS, select

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m perf",
        description="Benchmark the Python <-> wasm boundary: stock wasmtime-py, a hand-written ctypes floor, "
        "and wasmjit's bytecode, source and reflect backends.",
        epilog="Workloads: " + ", ".join(w.key for w in WORKLOADS),
    )
    p.add_argument("--quick", action="store_true", help="smoke run: fewer and shorter runs")
    p.add_argument("--only", metavar="PATTERN", default="", help="only workloads whose key or title matches")
    p.add_argument("--json", metavar="PATH", type=Path, help="write every figure as JSON")
    p.add_argument("--plot", metavar="PATH", type=Path, help="write a PNG bar chart (needs matplotlib)")
    p.add_argument(
        "--rigorous",
        action="store_true",
        help="measure with pyperf (worker processes, calibration, statistics); options pyperf knows "
        "(e.g. -p 10, --fast) are passed on",
    )
    p.add_argument("--strict", action="store_true", help="exit with status 1 when a bar fails")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
    else:
        sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _finish(outcome: suite.Outcome, args: argparse.Namespace) -> int:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    print(report.table(outcome))
    status = 0
    if args.json:
        report.write_json(outcome, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        try:
            report.write_plot(outcome, args.plot)
            print(f"wrote {args.plot}")
        except report.PlotUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
    if args.strict and not all(v.passed for v in outcome.verdicts):
        status = status or 1
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, rest = parser().parse_known_args(argv)
    workloads = select(args.only)
    if args.list:
        for w in WORKLOADS:
            print(f"{w.key:18} {w.unit:11} {w.description}")
        return 0
    if not workloads:
        print(f"error: no workload matches {args.only!r}; try --list", file=sys.stderr)
        return 2
    if args.plot and not report.plotting_available():
        print(f"error: {report.PLOT_MISSING}", file=sys.stderr)
        return 2
    if args.rigorous:
        from . import rigorous

        outcome = rigorous.run(workloads, args, rest)
        if outcome is None:  # a pyperf worker process, or pyperf is missing
            return 0 if rigorous.is_worker(rest) else 2
        return _finish(outcome, args)
    if rest:
        extra: List[str] = list(rest)
        print(f"error: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return 2
    settings = QUICK if args.quick else DEFAULT
    outcome = suite.run(workloads, settings, settings.name, _progress)
    return _finish(outcome, args)


if __name__ == "__main__":
    sys.exit(main())
