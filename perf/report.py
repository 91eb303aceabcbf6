"""Presenting an outcome: the table, the JSON file and the bar chart.

:func:`table` is the report ``python -m perf`` prints.  By default it is
compact, under 100 columns: one row per workload (named by its key, as in
the progress lines and ``--only``) with stock, wasmjit with its default
backend (``install`` in the drop-in rows), the hand-written floor and the
speed-up of wasmjit over stock; then a legend, and the targets that were
missed.  ``wide=True`` shows every variant measured, the speed-up of each,
and every target.  Each cell is the median per operation with its spread
(``±`` the median absolute deviation, relative).

``write_json`` saves every figure; ``write_plot`` draws a log-scale grouped
bar chart with matplotlib (an optional dependency).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .measure import Series
from .suite import Outcome
from .targets import Verdict
from .variants import BACKENDS, MEANING, VARIANTS
from .workloads import Workload

__all__ = ["table", "missed", "write_json", "write_plot", "plotting_available", "PlotUnavailable", "DEFAULT_PLOT"]

#: The default report (header, table, legend, targets, notes) fits this many columns.
WIDTH = 100

SPEEDUP_VARIANTS = tuple(v for v in VARIANTS if v != "stock")


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value == 0:
        return "0"
    return f"{value:.2f}"


def _cell(series: Optional[Series], scale: float) -> str:
    if series is None:
        return "-"
    text = _number(series.median / scale)
    if len(series.values) > 1:
        percent = series.spread * 100
        text += f" ±{percent:.1f}%" if percent < 10 else f" ±{percent:.0f}%"
    return text


def _missing(workload: Workload, variant: str) -> bool:
    """A variant the workload has but this run could not measure (e.g. a backend or module unavailable here)."""
    return variant in workload.variants


def _ratio(value: float) -> str:
    if value >= 10:
        return f"{value:.0f}x"
    if value >= 1:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def _speedup(workload: Workload, stock: Optional[Series], mine: Optional[Series]) -> str:
    """stock / mine as ``4.1x``; blank for allocations (bytes, not time) or a missing figure."""
    if stock is None or mine is None or mine.median <= 0 or workload.is_allocation:
        return ""
    return _ratio(stock.median / mine.median)


def _columns(outcome: Outcome) -> List[str]:
    present = {variant for series in outcome.results.values() for variant in series}
    return [v for v in VARIANTS if v in present]


def _align(rows: Sequence[Sequence[str]], left: int) -> List[str]:
    """Pad columns to a common width: the first ``left`` columns left-aligned, the rest right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _wrap(text: str, indent: str = "", width: int = WIDTH - 1) -> List[str]:
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]


def _wasmjit(outcome: Outcome, series: Dict[str, Series]) -> Optional[Series]:
    """The wasmjit figure of the compact table: the default backend, or ``install`` in drop-in rows."""
    return series.get(str(outcome.meta["default_backend"])) or series.get("install")


def _compact_rows(outcome: Outcome) -> List[List[str]]:
    rows = [["workload", "unit", "stock", "wasmjit", "floor", "speed-up"]]
    for workload in outcome.workloads:
        series = outcome.results.get(workload.key, {})
        stock, mine = series.get("stock"), _wasmjit(outcome, series)
        cells = [_cell(s, workload.scale) for s in (stock, mine, series.get("floor"))]
        if mine is None and _missing(workload, str(outcome.meta["default_backend"])):
            cells[1] = "n/a"
        rows.append([workload.key, workload.unit, *cells, _speedup(workload, stock, mine)])
    return rows


def _wide_rows(outcome: Outcome) -> List[List[str]]:
    columns = _columns(outcome)
    speedups = [v for v in columns if v in SPEEDUP_VARIANTS]
    rows = [["workload", "unit", *columns, *(f"{v} vs stock" for v in speedups)]]
    for workload in outcome.workloads:
        series = outcome.results.get(workload.key, {})
        row = [
            workload.key,
            workload.unit,
            *(
                "n/a" if v not in series and _missing(workload, v) else _cell(series.get(v), workload.scale)
                for v in columns
            ),
        ]
        row += [_speedup(workload, series.get("stock"), series.get(v)) for v in speedups]
        rows.append(row)
    return rows


def _legend(outcome: Outcome, wide: bool) -> List[str]:
    default = outcome.meta["default_backend"]
    entries: List[List[str]]
    if wide:
        columns = _columns(outcome)
        entries = [[v, MEANING[v]] for v in ("stock", "floor") if v in columns]
        backends = [v for v in BACKENDS if v in columns]
        if backends:
            entries.append([", ".join(backends), f"{MEANING['backend']} ({default} is the default here)"])
        entries += [[v, MEANING[v]] for v in ("install", "pywasm3") if v in columns]
        entries.append(["X vs stock", "stock time / X time: 4.1x means four times faster; below 1x means slower"])
    else:
        entries = [
            ["stock", MEANING["stock"]],
            ["wasmjit", f"wasmjit with its default backend here ({default}); in the dropin-* rows, install:"],
            ["", "the same unmodified wasmtime-py code, run with wasmjit.install() active"],
            ["floor", MEANING["floor"]],
            ["speed-up", "stock time / wasmjit time: 4.1x means four times faster; below 1x means slower"],
        ]
    if any(w.group == "registration" for w in outcome.workloads):
        entries.append(["", "(registering a function costs more than stock; calls across the boundary win it back)"])
    entries.append(["±", "how much the runs spread: median absolute deviation, relative to the median"])
    width = max(len(name) for name, _ in entries)
    lines = []
    for name, meaning in entries:  # the wide table is wider than WIDTH anyway: no need to wrap under it
        lines += _wrap(f"{name.ljust(width)}  {meaning}", " " * (width + 2), WIDTH * 2 if wide else WIDTH - 1)
    more = "Lower times are better. --list: what each workload measures"
    lines += _wrap(more + ("." if wide else "; --wide: every backend and target."))
    return lines


def missed(outcome: Outcome) -> List[Verdict]:
    """The targets this run did not reach."""
    return [v for v in outcome.verdicts if not v.met]


def _targets(outcome: Outcome, wide: bool, strict: bool) -> List[str]:
    verdicts = outcome.verdicts
    if not verdicts:
        return []
    below = missed(outcome)
    head = f"targets: {len(verdicts) - len(below)} of {len(verdicts)} met"
    if not below:
        lines = [head + (" (from the medians above):" if wide else " (from the medians above; --wide lists them)")]
    elif strict:
        lines = [f"{head}; {len(below)} MISSED, so the run fails (--strict):"]
    elif outcome.meta["mode"] == "rigorous":
        lines = [f"{head}; {len(below)} below target on this machine:"]
    else:
        lines = [f"{head}; {len(below)} below target on this machine (shared, noisy; see --rigorous):"]
    shown = verdicts if wide else below
    if not shown:
        return lines
    mark = "MISSED" if strict else "below"
    rows = [
        [("  " + ("met" if v.met else mark)) if wide else "", v.target.workload, v.target.describe(), v.shown()]
        for v in shown
    ]
    lines += _align(rows, 3)
    return lines


def table(outcome: Outcome, wide: bool = False, strict: bool = False) -> str:
    """The report: header, the table, a legend, the targets, notes and the wall time.

    ``wide``: every variant and every target.  ``strict``: missed targets are failures.
    """
    meta = outcome.meta
    lines = _wrap(
        f"wasmjit perf, {meta['mode']} run: Python {meta['python']} ({meta['implementation']}), "
        f"wasmtime {meta['wasmtime']}, wasmjit {meta['wasmjit']}, {meta['cpus']} CPUs"
    )
    lines += _wrap(f"on {meta['platform']}")
    lines += _wrap(str(meta["method"]), "  ")
    lines.append("")
    body = _align(_wide_rows(outcome) if wide else _compact_rows(outcome), 2)
    lines += [body[0], "-" * max(len(line) for line in body), *body[1:], ""]
    lines += _legend(outcome, wide)
    lines.append("")
    targets = _targets(outcome, wide, strict)
    if targets:
        lines += [*targets, ""]
    notes = list(outcome.notes)
    if wide and not meta.get("pywasm3"):
        notes.append("pywasm3 is not installed: no reference column (pip install pywasm3 to add it)")
    for note in notes:
        lines += _wrap(f"note: {note}", "      ")
    lines.append(f"wall time: {outcome.wall_seconds:.1f} s")
    return "\n".join(lines)


def to_dict(outcome: Outcome) -> Dict[str, object]:
    workloads = []
    for workload in outcome.workloads:
        series = outcome.results.get(workload.key, {})
        stock = series.get("stock")
        variants: Dict[str, object] = {}
        for name, s in series.items():
            entry = s.as_dict()
            if stock is not None and s.median > 0 and not workload.is_allocation:
                entry["speedup_vs_stock"] = stock.median / s.median
            variants[name] = entry
        workloads.append(
            {
                "key": workload.key,
                "group": workload.group,
                "description": workload.description,
                "value_unit": "bytes per 1000 calls" if workload.is_allocation else "ns per operation",
                "display_unit": workload.unit,
                "display_scale": workload.scale,
                "variants": variants,
            }
        )
    return {
        "meta": outcome.meta,
        "wall_seconds": outcome.wall_seconds,
        "workloads": workloads,
        "targets": [v.as_dict() for v in outcome.verdicts],
        "notes": outcome.notes,
    }


def write_json(outcome: Outcome, path: Path) -> None:
    path.write_text(json.dumps(to_dict(outcome), indent=2) + "\n")


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


PLOT_MISSING = "--plot needs matplotlib: pip install matplotlib (or pip install '.[perf]')"

#: Where ``--plot`` without a path writes.
DEFAULT_PLOT = Path("perf.png")

WHISKERS = "whiskers: fastest to slowest run (min to max)"


def plotting_available() -> bool:
    """Whether matplotlib can be imported (checked before measuring, so a run is not wasted)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


COLOURS = {
    "stock": "#9e9e9e",
    "floor": "#212121",
    "bytecode": "#1565c0",
    "source": "#42a5f5",
    "reflect": "#ef6c00",
    "install": "#2e7d32",
    "pywasm3": "#6a1b9a",
}


def write_plot(outcome: Outcome, path: Path) -> None:
    """A PNG: log-scale bars (medians), one group per workload, one bar per variant; whiskers: min to max.

    The legend and a caption say what the bars and the whiskers are.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(PLOT_MISSING) from exc

    timing = [w for w in outcome.workloads if not w.is_allocation and outcome.results.get(w.key)]
    allocation = [w for w in outcome.workloads if w.is_allocation and outcome.results.get(w.key)]
    panels = [
        (ws, label)
        for ws, label in ((timing, "ns per operation (log)"), (allocation, "bytes per 1,000 calls (log)"))
        if ws
    ]
    if not panels:
        raise ValueError("nothing to plot")
    columns = _columns(outcome)
    widths = [max(4.0, 1.1 * len(ws)) for ws, _ in panels]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(sum(widths) + 2, 6), gridspec_kw={"width_ratios": widths}, squeeze=False
    )
    bar_width = 0.8 / len(columns)
    for ax, (workloads, label) in zip(axes[0], panels, strict=True):
        for index, variant in enumerate(columns):
            xs: List[float] = []
            heights: List[float] = []
            below: List[float] = []
            above: List[float] = []
            for position, workload in enumerate(workloads):
                series = outcome.results[workload.key].get(variant)
                if series is not None:
                    xs.append(position + (index - (len(columns) - 1) / 2) * bar_width)
                    median = max(series.median, 1.0)  # log scale: show zero bytes as 1
                    heights.append(median)
                    below.append(median - max(series.min, 1.0))
                    above.append(max(series.max, 1.0) - median)
            ax.bar(xs, heights, bar_width, label=variant, color=COLOURS.get(variant))
            ax.errorbar(
                xs,
                heights,
                yerr=[below, above],
                fmt="none",
                ecolor="#555555",
                elinewidth=0.8,
                capsize=1.5,
                label=WHISKERS if index == len(columns) - 1 else None,  # last in the legend
            )
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels([w.key for w in workloads], rotation=35, ha="right", fontsize=8)
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    meta = outcome.meta
    figure.suptitle(
        f"wasmjit {meta['wasmjit']} vs wasmtime-py {meta['wasmtime']} (Python {meta['python']}, {meta['machine']}),"
        f" {meta['mode']} run"
    )
    figure.text(
        0.5,
        0.01,
        f"Bars: median per operation; {WHISKERS}; log scale, lower is better ({meta['method']}).",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
