"""``make chaos``: every scenario, one table, the figures written into docs/RELIABILITY.md.

    .venv/bin/python -m chaos [--calls 1000] [--only NAME …] [--no-docs]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.table import Table

from bench.common import console, machine
from bench.harness import ROOT
from chaos.report import COLUMNS, write_docs
from chaos.scenarios import SCENARIOS, run

MUST_BE_ZERO = ("posted_twice", "lost", "over_limit", "retries_on_429", "unknown_created",
                "agents_held", "workers_died")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settle-s", type=float, default=600.0)
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"scenarios: {', '.join(s.name for s in SCENARIOS)}")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    rows = []
    for i, scenario in enumerate(SCENARIOS):
        if args.only and scenario.name not in args.only:
            continue
        print(f"-- {scenario.name}: {scenario.what}", file=sys.stderr, flush=True)
        figures, note, seconds = run(scenario, args.calls, args.seed + i, args.settle_s)
        row = {"scenario": scenario.name, "what": scenario.what, "note": note,
               "seconds": round(seconds), **figures.as_dict()}
        print(json.dumps({"chaos": scenario.name, "machine": machine(), **row}), flush=True)
        rows.append(row)
    table = Table(title=f"chaos ({machine()})")
    for key, title in COLUMNS:
        table.add_column(title, justify="left" if key == "scenario" else "right")
    for row in rows:
        table.add_row(*(str(row[key]) for key, _ in COLUMNS))
    console().print(table)
    if rows and not args.no_docs:
        write_docs(args.docs, rows, machine(), args.calls)
    broken = [(r["scenario"], k, r[k]) for r in rows for k in MUST_BE_ZERO if r[k]]
    if broken:
        sys.exit(f"invariants broken: {broken}")


if __name__ == "__main__":
    main()
