"""Figures of one load generator run (loadgen.py's JSON lines), for the ops and ha tables.

For a run: requests sent, answered 2xx, non-2xx answers, connection errors (no complete HTTP
answer; timeouts, which they include, also on their own), p50/p99 of every request's duration
(failed ones too: a timeout counts its full wait), the longest gap between successful answers
(completion times, counted from the first request sent to the last one), the least number of
requests the rate promises for the run's duration (rate x duration minus 5 %), and what
answered: DB versions and nodes. Options:

- ``--after T``: the DB versions of the answers to requests sent at or after wall time T (e.g.
  when a DB update play ended);
- ``--node NODE --since T``: seconds from T until the first request sent after T that NODE
  answered successfully (e.g. a restarted node back in the load balancer);
- ``--window A B``: the requests sent between wall times A and B on their own (e.g. during an
  overload): how many, answered 2xx, the statuses of the others, p99 of the 2xx and of the
  others;
- ``--note TEXT``: a remark kept in the row (the ha table prints it).

``--print-table TABLE --columns ha`` prints the ha scenario's columns (connection errors without
the timeouts, timeouts, p99, notes) instead of the ops scenario's.

Usage::

    python3 loadreport.py RUN.jsonl --event "2 DB update" [--after T] [--node N --since T]
        [--table TABLE.jsonl]     # also appends the row to TABLE.jsonl
    python3 loadreport.py --print-table TABLE.jsonl [--columns ops|ha]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SHORTFALL = 0.05  # "at least the rate x duration minus 5 %"


def load(path: str | Path) -> tuple[dict, list[dict], dict | None]:
    """(config, records, summary or None when the run did not finish) of a run file."""
    config: dict = {}
    summary = None
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = json.loads(line)
            if "config" in obj:
                config = obj["config"]
            elif "summary" in obj:
                summary = obj["summary"]
            else:
                records.append(obj)
    return config, records, summary


def ok(record: dict) -> bool:
    return record.get("error") is None and 200 <= (record.get("status") or 0) < 300


def is_timeout(record: dict) -> bool:
    return (record.get("error") or "").startswith("timeout")


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest-rank percentile (None when there are no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def longest_gap(records: Iterable[dict], start: float, end: float) -> float:
    """Longest time without a successful answer between ``start`` and ``end`` (wall times).

    A successful answer counts when it completes (t + dt). Before the first one the gap counts
    from ``start``; after the last one, up to ``end`` (when the last request was sent).
    """
    done = sorted(r["t"] + r["dt"] for r in records if ok(r))
    if not done:
        return max(0.0, end - start)
    gap = max(0.0, done[0] - start)
    for a, b in itertools.pairwise(done):
        gap = max(gap, b - a)
    return max(gap, end - done[-1])


def summarize(
    config: dict,
    records: list[dict],
    summary: dict | None,
    event: str,
    after: float | None = None,
    node: str | None = None,
    since: float | None = None,
    note: str = "",
    window: tuple[float, float] | None = None,
) -> dict[str, Any]:
    if summary is None:
        raise ValueError("the run has no summary line: the load generator did not finish")
    sent = summary["sent"]
    duration = summary["stopped"] - summary["started"]
    rate = float(config.get("rate", 0))
    first = min((r["t"] for r in records), default=summary["started"])
    last = max((r["t"] for r in records), default=summary["stopped"])
    row: dict[str, Any] = {
        "event": event,
        "sent": sent,
        "recorded": len(records),
        "ok": sum(1 for r in records if ok(r)),
        "non_2xx": sum(1 for r in records if r.get("error") is None and not ok(r)),
        "conn_errors": sum(1 for r in records if r.get("error") is not None),
        "timeouts": sum(1 for r in records if is_timeout(r)),
        "p50": percentile((r["dt"] for r in records), 50),
        "p99": percentile((r["dt"] for r in records), 99),
        "longest_gap": round(longest_gap(records, first, last), 3),
        "duration": round(duration, 2),
        "rate": rate,
        "min_sent": int(rate * duration * (1 - SHORTFALL)),
        "reason": summary.get("reason"),
        "versions": dict(Counter(r.get("db") for r in records if ok(r))),
        "nodes": dict(Counter(r.get("node") for r in records if ok(r))),
        "statuses": dict(
            Counter(str(r["status"]) for r in records if r.get("error") is None and not ok(r))
        ),
        "errors": dict(Counter(r["error"] for r in records if r.get("error")).most_common(5)),
    }
    row["failed"] = row["non_2xx"] + row["conn_errors"]
    if note:
        row["note"] = note
    if after is not None:
        later = [r for r in records if r["t"] >= after and ok(r)]
        versions = dict(Counter(r.get("db") for r in later))
        failed = sum(1 for r in records if r["t"] >= after and not ok(r))
        row["after"] = {"answers": len(later), "versions": versions, "failed": failed}
    if window is not None:
        inside = [r for r in records if window[0] <= r["t"] < window[1]]
        good = [r for r in inside if ok(r)]
        rest = [r for r in inside if not ok(r)]
        row["window"] = {
            "from": window[0],
            "to": window[1],
            "sent": len(inside),
            "ok": len(good),
            "statuses": dict(Counter(str(r["status"] or r["error"]) for r in rest)),
            "ok_p99": percentile((r["dt"] for r in good), 99),
            "others_p99": percentile((r["dt"] for r in rest), 99),
        }
    if node is not None and since is not None:
        back = [r["t"] - since for r in records if r["t"] >= since and ok(r) and r["node"] == node]
        row["node_back"] = {"node": node, "seconds": round(min(back), 3) if back else None}
    return row


HEADER = ("event", "sent", "non-2xx", "conn errors", "longest gap (s)", "duration (s)")


def format_row(row: dict) -> str:
    cells = (
        row["event"],
        str(row["sent"]),
        str(row["non_2xx"]),
        str(row["conn_errors"]),
        f"{row['longest_gap']:.3f}",
        f"{row['duration']:.1f}",
    )
    return "| " + " | ".join(cells) + " |"


HA_HEADER = (
    "event",
    "sent",
    "non-2xx",
    "connection errors",
    "timeouts",
    "failed",
    "longest gap (s)",
    "p99 (s)",
    "notes",
)


def _node_back(row: dict) -> str:
    back = row.get("node_back")
    if not back:
        return ""
    if back["seconds"] is None:
        return f"{back['node']} never answered again"
    return f"{back['node']} answered again {back['seconds']:.2f} s after it was let go"


def format_ha_row(row: dict) -> str:
    """The ha scenario's row: connection errors here exclude the timeouts, shown on their own."""
    p99 = row.get("p99")
    cells = (
        row["event"],
        str(row["sent"]),
        str(row["non_2xx"]),
        str(row["conn_errors"] - row.get("timeouts", 0)),
        str(row.get("timeouts", 0)),
        str(row["non_2xx"] + row["conn_errors"]),
        f"{row['longest_gap']:.3f}",
        "-" if p99 is None else f"{p99:.3f}",
        "; ".join(filter(None, [row.get("note", ""), _node_back(row)])),
    )
    return "| " + " | ".join(cells) + " |"


def format_table(rows: Iterable[dict], columns: str = "ops") -> str:
    header, fmt = (HA_HEADER, format_ha_row) if columns == "ha" else (HEADER, format_row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", nargs="?", help="the load generator's JSON lines file")
    parser.add_argument("--event", default="", help="the event's name in the table")
    parser.add_argument("--after", type=float, help="report DB versions from this wall time on")
    parser.add_argument("--node", help="report when this node answered again ...")
    parser.add_argument("--since", type=float, help="... after this wall time")
    parser.add_argument("--window", nargs=2, type=float, metavar=("A", "B"), help="wall times")
    parser.add_argument("--note", default="", help="a remark kept in the row")
    parser.add_argument("--table", help="append the row to this JSON lines file")
    parser.add_argument("--print-table", metavar="TABLE", help="print a table file and exit")
    parser.add_argument(
        "--columns", choices=("ops", "ha"), default="ops", help="the table's columns"
    )
    args = parser.parse_args(argv)
    if args.print_table:
        lines = Path(args.print_table).read_text().splitlines()
        rows = [json.loads(line) for line in lines if line]
        print(format_table(rows, args.columns))
        return 0
    if not args.run:
        parser.error("a run file is needed (or --print-table)")
    try:
        row = summarize(
            *load(args.run),
            args.event,
            args.after,
            args.node,
            args.since,
            note=args.note,
            window=tuple(args.window) if args.window else None,
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"loadreport: {args.run}: {exc}", file=sys.stderr)
        return 1
    if args.table:
        with open(args.table, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
