"""``python -m perf``: measure stock wasmtime-py, the hand-written floor and every wasmjit backend.

Run from the repository root; it imports the installed ``wasmjit``.

    python -m perf                    # every workload: a compact table and the targets; < 1 minute
    python -m perf --quick            # smoke run, a few seconds
    python -m perf --wide             # every backend and variant, every target
    python -m perf --only call-add    # workloads whose key matches (a regex); see --list
    python -m perf --json out.json --plot     # every figure as JSON, a PNG chart in perf.png
    python -m perf --rigorous --only add      # pyperf: worker processes, calibration, statistics

The report goes to stdout, progress to stderr (``[7/16] call-add: round 4/9,
~20 s left``).  A target missed by a run is reported, not fatal: the exit
status is 0 unless the run could not be made, or ``--strict`` is given and a
target was missed (1).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
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
        "and wasmjit's bytecode, source and reflect backends; then check wasmjit's targets.",
        epilog="Workloads: " + ", ".join(w.key for w in WORKLOADS),
    )
    p.add_argument("--quick", action="store_true", help="smoke run: fewer and shorter runs")
    p.add_argument("--wide", action="store_true", help="show every backend and variant, and every target")
    p.add_argument("--only", metavar="PATTERN", default="", help="only workloads whose key matches (a regex)")
    p.add_argument("--json", metavar="PATH", type=Path, help="write every figure as JSON")
    p.add_argument(
        "--plot",
        metavar="PATH",
        type=Path,
        nargs="?",
        const=report.DEFAULT_PLOT,
        help=f"write a PNG bar chart, to {report.DEFAULT_PLOT} without a PATH (needs matplotlib)",
    )
    p.add_argument(
        "--rigorous",
        action="store_true",
        help="measure with pyperf (worker processes, calibration, statistics); options pyperf knows "
        "(e.g. -p 10, --fast) are passed on",
    )
    p.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p


class _Progress:
    """Progress lines on stderr: rewritten in place on a terminal, one per workload otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, message: str) -> None:
        if self.tty:
            sys.stderr.write(f"\r\033[K{message}")
        else:
            workload = message.split(":", 1)[0]
            if workload == self.last:
                return
            self.last = workload
            sys.stderr.write(message + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _finish(outcome: suite.Outcome, args: argparse.Namespace) -> int:
    print(report.table(outcome, wide=args.wide, strict=args.strict))
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
    missed = report.missed(outcome)
    if args.strict and missed:
        print(f"error: {len(missed)} of {len(outcome.verdicts)} targets missed (--strict)", file=sys.stderr)
        status = status or 1
    return status


def _list() -> None:
    width = max(len(w.key) for w in WORKLOADS) + 2
    for w in WORKLOADS:
        lead = f"{w.key:{width}}{w.unit:12}"
        print(textwrap.fill(w.description, report.WIDTH - 1, initial_indent=lead, subsequent_indent=" " * len(lead)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, rest = parser().parse_known_args(argv)
    workloads = select(args.only)
    if args.list:
        _list()
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
    progress = _Progress()
    try:
        outcome = suite.run(workloads, settings, settings.name, progress)
    finally:
        progress.done()
    return _finish(outcome, args)


if __name__ == "__main__":
    sys.exit(main())
