"""The results table: one line per benchmark, the systems side by side, the load spelled out."""

import json
from dataclasses import asdict

from bench.common import Row
from bench.report import HEADER, line, table


def cells_of(text: str) -> list[str]:
    assert text.startswith("| ")
    assert text.endswith(" |")
    return text[2:-2].split(" | ")


def test_the_table_has_one_line_per_benchmark_and_the_load_of_each(rows):
    text = table(rows, "Machine: test box.")
    lines = text.splitlines()
    assert lines[0] == "Machine: test box."
    start = lines.index(HEADER[0])
    assert lines[start + 1] == HEADER[1]
    body = lines[start + 2 : start + 2 + len(rows)]
    assert [cells.split(" | ")[0] for cells in body] == [f"| {r.name}" for r in rows]
    assert all(cells.count(" | ") == HEADER[0].count(" | ") for cells in body)
    assert "Load, exactly:" in lines
    assert "- 2. `wrk -t1 -c8`." in lines
    assert text.endswith("\n")


def test_a_line_shows_baseline_ipgeo_and_peers_in_the_units(rows):
    cells = cells_of(line(rows[1]))
    assert cells[1] == "1,015 req/s (constant JSON (/healthz))"
    assert cells[2] == (
        "1,084 req/s (ipgeo lookup (fast path)); 761 req/s (ipgeo lookup via the Flask view)"
    )
    assert cells[3] == "1.21 (via the Flask view: 0.90)"
    assert cells[4] == ">= 0.95"
    assert cells[5] == "no"
    assert cells[6] == (
        "constant JSON (/healthz): 12.2 ms, ipgeo lookup (fast path): 11.0 ms, "
        "ipgeo lookup via the Flask view: 15.5 ms"
    )
    assert cells[7] == "3"


def test_quoted_figures_are_marked_and_counts_left_blank_without_requests(rows):
    memory = cells_of(line(rows[2]))
    assert memory[1] == "~4,900 MB (seed approach; from the issue, not measured in this run)"
    assert memory[2] == "168 MB (ipgeo)"
    assert memory[5] == "yes"
    assert memory[7] == "0"
    cold = cells_of(line(rows[3]))
    assert cold[2] == "0.14 s (ipgeo worker); 0.47 s (ipgeo from a bare interpreter)"
    assert cold[6] == ""
    assert cold[7] == ""


def test_rows_survive_the_trip_through_results_json(rows):
    data = json.loads(json.dumps([asdict(r) for r in rows]))
    assert [Row.from_dict(d) for d in data] == rows
