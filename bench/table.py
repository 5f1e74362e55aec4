"""The table of record: bench/run_all.sh's results (JSON lines) as one Markdown table.

    .venv/bin/python bench/table.py RESULTS.jsonl [--write docs/benchmarks.md]

Prints every row (goal, measured, met or not, the 1-minute load average seen
while its script ran). With --write, the table replaces what stands between
the markers ``<!-- bench-table:begin -->`` and ``<!-- bench-table:end -->`` in
that file. A "before" column appears only when some row has a before figure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"


def table(rows: list[dict[str, str]], header: str) -> str:
    before = any(r.get("before") for r in rows)
    cols = ["goal", *(["before"] if before else []), "measured", "met?", "load average", "command"]
    out = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [
            r["goal"],
            *([r.get("before") or "-"] if before else []),
            r["figure"],
            r["met"],
            r.get("load", "-"),
            f"`{r['command']}`",
        ]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def plain(rows: list[dict[str, str]]) -> str:
    """Every row as a few lines: goal, measured, met, load average."""
    out = []
    for r in rows:
        out += [
            f"GOAL     {r['goal']}",
            f"MEASURED {r['figure']}",
            f"MET      {r['met']}    (load average {r.get('load', '-')})",
            "",
        ]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--write", type=Path, help="replace the table between the markers")
    parser.add_argument("--header", default="", help="a line above the table (machine, date)")
    args = parser.parse_args()
    rows = [json.loads(x) for x in args.results.read_text().splitlines() if x.strip()]
    print(plain(rows))
    text = table(rows, args.header)
    if args.write:
        doc = args.write.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pattern.search(doc):
            print(f"{args.write}: no {BEGIN} ... {END} markers", file=sys.stderr)
            return 2
        args.write.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", doc))
        print(f"table of record written to {args.write}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
