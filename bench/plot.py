"""The results as one PNG: a panel per benchmark, its systems side by side on one scale.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display). Each panel
uses its benchmark's own unit; the goal is a dashed line, p99 is written beside the bars
where it was measured, and figures quoted from the issue rather than measured are hatched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .common import Row
from .report import value_text

COLORS = {"baseline": "#8c8c8c", "ipgeo": "#1f77b4", "peer": "#ff7f0e"}
GOAL_COLOR = "#d62728"


def figure(rows: Sequence[Row], title: str) -> Figure:
    """One horizontal bar panel per row, stacked."""
    heights = [len(r.bars) + 1.2 for r in rows]
    fig = Figure(figsize=(11, 0.55 * sum(heights) + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    axes = fig.subplots(len(rows), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, row in zip(axes[:, 0], rows, strict=True):
        _panel(ax, row)
    return fig


def _panel(ax: Axes, row: Row) -> None:
    bars = list(reversed(row.bars))  # barh draws bottom-up: the baseline goes on top
    ys = range(len(bars))
    drawn = ax.barh(
        ys,
        [b.value for b in bars],
        color=[COLORS[b.role] for b in bars],
        edgecolor="white",
        height=0.65,
    )
    for patch, b in zip(drawn, bars, strict=True):
        if not b.measured:
            patch.set_hatch("//")
    ax.set_yticks(list(ys), [b.label + ("" if b.measured else " (from the issue)") for b in bars])
    labels = []
    for b in bars:
        text = value_text(row, b)
        if b.p99_ms is not None:
            text += f"   p99 {b.p99_ms:,.1f} ms"
        if b.errors:
            text += f"   {b.errors:,} errors"
        labels.append(text)
    # On white, so that a label stays legible where it crosses the goal line.
    box = {"facecolor": "white", "edgecolor": "none", "pad": 1}
    ax.bar_label(drawn, labels, padding=4, fontsize=8, bbox=box)
    values = [b.value for b in bars] + ([row.goal] if row.goal is not None else [])
    if row.log_scale:
        # Decades apart (a quoted figure against ours): a linear axis would hide ours.
        ax.set_xscale("log")
        ax.set_xlim(10 ** math.floor(math.log10(min(values) / 2)), max(values) * 8)
    else:
        ax.set_xlim(0, max(values) * 1.45)  # room for the labels right of the longest bar
    if row.goal is not None:
        ax.axvline(
            row.goal,
            color=GOAL_COLOR,
            linestyle="--",
            linewidth=1.2,
            label=f"goal {row.goal_text}",
        )
        ax.legend(loc="lower right", fontsize=8, frameon=False, labelcolor=GOAL_COLOR)
    better = "lower is better" if row.lower_is_better else "higher is better"
    if row.log_scale:
        better += ", log scale"
    verdict = "goal met" if row.met else "goal NOT met"
    ax.set_title(f"{row.name}: {verdict}", loc="left", fontsize=10)
    ax.set_xlabel(f"{row.unit} ({better})", fontsize=8)
    ax.tick_params(labelsize=8)
    # Plain numbers on both kinds of axis (a log axis would print powers of ten).
    ax.xaxis.set_major_formatter("{x:,g}" if row.log_scale else f"{{x:,.{row.decimals}f}}")
    ax.spines[["top", "right"]].set_visible(False)


def write_png(rows: Sequence[Row], title: str, path: Path) -> None:
    figure(rows, title).savefig(path, dpi=110)
