"""The figure: a panel per benchmark with its systems' bars, the goal line, and a PNG."""

import pytest

pytest.importorskip(
    "matplotlib", reason="matplotlib is not installed (requirements/bench.txt, `make bench`)"
)

from bench.plot import figure, write_png


def test_one_panel_per_benchmark_with_a_bar_per_system(rows):
    fig = figure(rows, "test run")
    assert len(fig.axes) == len(rows)
    for ax, row in zip(fig.axes, rows, strict=True):
        assert len(ax.patches) == len(row.bars)
        assert sorted(p.get_width() for p in ax.patches) == sorted(b.value for b in row.bars)
        # One scale per panel, long enough for every bar and the goal.
        assert ax.get_xlim()[1] >= max(b.value for b in row.bars)
        assert ax.get_xlim()[1] >= row.goal


def test_the_goal_is_a_line_at_its_value(rows):
    fig = figure(rows, "test run")
    for ax, row in zip(fig.axes, rows, strict=True):
        (goal,) = ax.get_lines()
        assert list(goal.get_xdata()) == [row.goal, row.goal]


def test_quoted_figures_are_hatched_and_p99_is_written(rows):
    fig = figure(rows, "test run")
    memory = fig.axes[2]
    hatched = [p.get_width() for p in memory.patches if p.get_hatch()]
    assert hatched == [4900.0]
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert any("p99 11.0 ms" in t for t in texts)
    assert any("3 errors" in t for t in texts)


def test_write_png_writes_a_png(rows, tmp_path):
    out = tmp_path / "bench.png"
    write_png(rows, "test run", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
