"""How close to the account limit, and never over it: the dialer next to the alternatives.

    .venv/bin/python -m bench.bench_limits              # scaled: 50 per 5 s, ~5 minutes
    .venv/bin/python -m bench.bench_limits --real       # Exotel's 200 per 60 s, ~4 minutes

Every row counts the call-creating POSTs by the simulator's arrival time:
``max_in_window`` is the most in any sliding window (must stay <= the limit),
``http_429`` what the simulator refused, ``utilisation`` the POSTs it accepted over the
first whole windows of the run divided by the limit (target >= 98 %).

* the dialer: N = 1, 2, 4 ``celery worker`` processes (4 threads each) and beat, a
  backlog in the due set, ``DIALER_RATE_LIMIT_MARGIN_CALLS=0``;
* Celery's ``rate_limit`` with the same limit, N = 1, 2, 4 workers (one bucket per worker);
* 4 bare processes sharing the ``limits`` library's moving window on Redis, with true
  clocks and with every other process's clock 1 s ahead; and the dialer's limiter alone
  in the same harness with the same skew.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from bench.common import report_rows
from bench.limit_runs import run_celery, run_hammers, run_pipeline


def scaled(args: argparse.Namespace) -> list[dict[str, Any]]:
    limit, window, windows = args.limit, args.window_s, args.windows
    rows = [run_pipeline(n, limit, window, windows) for n in args.workers]
    rows += [run_celery(n, limit, window, max(2, windows - 2)) for n in args.workers]
    hammer_windows = max(2, windows - 2)
    if importlib.util.find_spec("limits") is None:
        print("the `limits` package is not installed: its rows are skipped "
              "(.venv/bin/pip install limits)", file=sys.stderr)
    else:
        rows.append(run_hammers("limits", 4, 0.0, limit, window, hammer_windows))
        rows.append(run_hammers("limits", 4, args.skew_s, limit, window, hammer_windows))
    rows.append(run_hammers("ours", 4, args.skew_s, limit, window, hammer_windows))
    return rows


def real(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [run_pipeline(args.real_workers, 200, 60.0, args.real_windows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", action="store_true",
                        help="only the dialer at Exotel's 200 per 60 s")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--windows", type=int, default=6, help="whole windows measured")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--skew-s", type=float, default=1.0)
    parser.add_argument("--real-workers", type=int, default=2)
    parser.add_argument("--real-windows", type=int, default=3)
    args = parser.parse_args()
    if args.real:
        report_rows("limits_real", real(args))
    else:
        report_rows("limits", scaled(args))


if __name__ == "__main__":
    main()
