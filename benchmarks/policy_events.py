"""`make bench-events`: OPA evaluation events per policy for one compliant document.

Time on a shared machine is noisy; the number of evaluation steps OPA's tracer records is the
same on every run, so it shows which policies to make cheaper and whether a change helped. The
counts are measured by `rollguard.eval_events`, as tests/policy/test_event_budget.py measures
them against benchmarks/event_budgets.json; the budgets are printed beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from rollguard.eval_events import measure_events
from rollguard.policy.bundle import default_policy_dir, load_bundle

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = ROOT / "benchmarks" / "event_budgets.json"


def main() -> int:
    budgets = json.loads(BUDGETS.read_text(encoding="utf-8"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--file", type=Path, default=ROOT / budgets["document"], help="a change whose first --kind document is measured"
    )
    parser.add_argument("--kind", default=budgets["kind"])
    args = parser.parse_args()
    counts = measure_events(
        load_bundle(default_policy_dir()), args.file, kind=args.kind, now=dt.datetime.now(dt.timezone.utc)
    )
    # Budgets hold for the document they were set on; another one is only measured.
    limits = budgets["policies"] if (args.file, args.kind) == (ROOT / budgets["document"], budgets["kind"]) else {}
    total_limit = f" (budget {budgets['total']})" if limits else ""
    print(
        f"{args.kind} {counts.subject}: {counts.total} events with every policy{total_limit}, {counts.base} with none that applies"
    )
    for pid, n in counts.by_policy.items():
        budget = f"  (budget {limits[pid]})" if pid in limits else ""
        print(f"{n:6d}  {pid}{budget}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
