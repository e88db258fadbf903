"""The results as one Markdown table (printed and written to results.md)."""

from __future__ import annotations

from collections.abc import Sequence

from .common import Bar, Row

HEADER = (
    "| benchmark | baseline | ipgeo | ratio | goal | met | p99 | errors |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
)


def value_text(row: Row, bar: Bar) -> str:
    """``bar``'s figure in the row's unit; ``~`` marks one quoted rather than measured."""
    text = f"{bar.value:,.{row.decimals}f} {row.unit}"
    return text if bar.measured else f"~{text}"


def _cell(row: Row, bars: Sequence[Bar]) -> str:
    parts = []
    for bar in bars:
        source = "" if bar.measured else "; from the issue, not measured in this run"
        parts.append(f"{value_text(row, bar)} ({bar.label}{source})")
    return "; ".join(parts)


def line(row: Row) -> str:
    base = _cell(row, [b for b in row.bars if b.role == "baseline"])
    ours = _cell(row, [b for b in row.bars if b.role != "baseline"])
    p99 = ", ".join(f"{b.label}: {b.p99_ms:,.1f} ms" for b in row.bars if b.p99_ms is not None)
    errors = row.errors()
    cells = [
        row.name,
        base,
        ours,
        row.ratio_text,
        row.goal_text,
        "yes" if row.met else "no",
        p99,
        "" if errors is None else f"{errors:,}",
    ]
    return "| " + " | ".join(cells) + " |"


def table(rows: Sequence[Row], preamble: str) -> str:
    """``preamble`` (machine, load, sample), the table, then each benchmark's load exactly."""
    out = [preamble, "", *HEADER, *(line(r) for r in rows), "", "Load, exactly:", ""]
    out += [f"- {r.name.split(' ', 1)[0]} {r.load}." for r in rows]
    return "\n".join(out) + "\n"
