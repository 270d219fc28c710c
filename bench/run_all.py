"""Run every benchmark (``make bench``), print their JSON lines and tables, update the docs.

    .venv/bin/python -m bench.run_all [--real] [--only NAME …] [--no-docs]

Each benchmark runs as its own process (``python -m bench.X``) with a time limit; its
JSON line is collected and its table shown. The figures are written into
``docs/BENCHMARKS.md`` (between its markers). ``--real`` adds the limiter at Exotel's
real 200 per 60 s (about four minutes more).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import docs
from bench.harness import ROOT

# name, module and arguments, time limit (s)
BENCHES: list[tuple[str, list[str], float]] = [
    ("enqueue", ["bench.bench_enqueue"], 300),
    ("campaign_import", ["bench.bench_campaign_import"], 300),
    ("latency", ["bench.bench_latency"], 300),
    ("dispatch", ["bench.bench_dispatch"], 600),
    ("due_memory", ["bench.bench_due_memory"], 400),
    ("agent_gap", ["bench.bench_agent_gap"], 900),
    ("limits", ["bench.bench_limits"], 900),
    ("limits_real", ["bench.bench_limits", "--real"], 600),
]
OPTIONAL = {"limits_real"}


def available(module: str) -> bool:
    return (ROOT / (module.replace(".", "/") + ".py")).exists()


def run_one(args: list[str], timeout_s: float) -> list[dict[str, Any]]:
    """Run ``python -m args…``; its tables go to our stderr, its JSON lines are returned."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except BaseException:  # timed out, or Ctrl-C: let it stop its own processes first
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    if proc.returncode:
        raise RuntimeError(f"exit code {proc.returncode}")
    results = []
    for line in out.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            if "bench" in data:
                results.append({**data, "command": ".venv/bin/python -m " + " ".join(args)})
        else:
            print(line, file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", action="store_true", help="also run the real 200 per 60 s")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"run only these: {', '.join(n for n, _, _ in BENCHES)}")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for name, module_args, timeout_s in BENCHES:
        wanted = name in args.only if args.only else (name not in OPTIONAL or args.real)
        if not wanted:
            continue
        if not available(module_args[0]):
            print(f"-- {name}: {module_args[0]} is not there, skipped", file=sys.stderr)
            continue
        started = time.monotonic()
        print(f"-- {name}: {' '.join(module_args)}", file=sys.stderr, flush=True)
        try:
            got = run_one(module_args, timeout_s)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"-- {name} FAILED: {exc}", file=sys.stderr)
            failed.append(name)
            continue
        for result in got:
            print(json.dumps(result), flush=True)
        results += got
        print(f"-- {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if results and not args.no_docs:
        docs.update(args.docs, results, [n for n, _, _ in BENCHES])
        print(f"-- figures written to {args.docs}", file=sys.stderr)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
