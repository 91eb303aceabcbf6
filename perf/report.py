"""Presenting an outcome: the table, the JSON file and the bar chart.

The table has one row per workload and one column per variant, each cell the
median per operation with its spread (``±`` the median absolute deviation,
relative), then the speed-up of every variant against stock.  Below it: the
bars, each marked ``pass`` or ``FAIL``, and the notes.  ``write_json`` saves
every figure; ``write_plot`` draws a log-scale grouped bar chart with
matplotlib (an optional dependency).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .measure import Series
from .suite import Outcome
from .variants import VARIANTS

__all__ = ["table", "write_json", "write_plot", "PlotUnavailable"]

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


def _ratio(value: float) -> str:
    if value >= 10:
        return f"{value:.0f}x"
    if value >= 1:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


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


def table(outcome: Outcome) -> str:
    """The report: header, one table, the bars marked pass/FAIL, and notes."""
    meta = outcome.meta
    columns = _columns(outcome)
    speedups = [v for v in columns if v in SPEEDUP_VARIANTS]
    header = ["workload", "unit", *columns, *(f"{v} vs stock" for v in speedups)]
    rows: List[List[str]] = [header]
    for workload in outcome.workloads:
        series = outcome.results.get(workload.key, {})
        row = [workload.title, workload.unit]
        row += [_cell(series.get(v), workload.scale) for v in columns]
        stock = series.get("stock")
        for v in speedups:
            mine = series.get(v)
            usable = stock is not None and mine is not None and mine.median > 0 and not workload.is_allocation
            row.append(_ratio(stock.median / mine.median) if usable and stock is not None and mine else "")
        rows.append(row)
    lines = [
        f"wasmjit perf: Python {meta['python']} ({meta['implementation']}), wasmtime {meta['wasmtime']}, "
        f"wasmjit {meta['wasmjit']} (default backend {meta['default_backend']}), {meta['platform']}, "
        f"{meta['cpus']} CPUs",
        f"{meta['mode']} run: {meta['method']}; ± = median absolute deviation; lower is better",
        "",
    ]
    body = _align(rows, 2)
    lines += [body[0], "-" * max(len(line) for line in body), *body[1:], ""]
    if outcome.verdicts:
        titles = {w.key: w.title for w in outcome.workloads}
        passed = sum(v.passed for v in outcome.verdicts)
        lines.append(f"bars ({passed}/{len(outcome.verdicts)} pass, from the medians above):")
        bar_rows = [
            [
                "  " + ("pass" if v.passed else "FAIL"),
                titles.get(v.bar.workload, v.bar.workload),
                v.bar.describe(),
                v.shown(),
            ]
            for v in outcome.verdicts
        ]
        lines += _align(bar_rows, 3)
        lines.append("")
    for note in outcome.notes:
        lines.append(f"note: {note}")
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
                "title": workload.title,
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
        "bars": [v.as_dict() for v in outcome.verdicts],
        "notes": outcome.notes,
    }


def write_json(outcome: Outcome, path: Path) -> None:
    path.write_text(json.dumps(to_dict(outcome), indent=2) + "\n")


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


PLOT_MISSING = "--plot needs matplotlib: pip install matplotlib (or pip install '.[perf]')"


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
    """A PNG: log-scale bars, one group per workload, one bar per variant (whiskers: min to max)."""
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
            ax.errorbar(xs, heights, yerr=[below, above], fmt="none", ecolor="#555555", elinewidth=0.8, capsize=1.5)
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels([w.title for w in workloads], rotation=35, ha="right", fontsize=8)
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    meta = outcome.meta
    figure.suptitle(
        f"wasmjit {meta['wasmjit']} vs wasmtime-py {meta['wasmtime']} (Python {meta['python']}, {meta['machine']}),"
        f" {meta['mode']} run"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
