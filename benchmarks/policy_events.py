"""`make bench-events`: OPA evaluation events per policy for one compliant document.

Time on a shared machine is noisy; the number of evaluation steps OPA's tracer records is the
same on every run, so it shows which policies to make cheaper and whether a change helped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from rollguard.contract import build_inventory, review_for
from rollguard.engine import create_engine
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.policy.bundle import default_policy_dir, load_bundle
from rollguard.policy.config import Config

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "fixtures" / "k8s" / "readiness_probe" / "allowed_deployment.yaml"


def count_events(gate: Gate, review: dict[str, object]) -> int:
    """Trace events of judging one document with the gate's policies."""
    bridge = gate.engine._bridge  # type: ignore[attr-defined]  # tracing is OPA-only
    bridge.eval_query("x = data.rollguard.entry.judged", {"review": review}, trace=True)
    return len(bridge.last_trace or [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=BASELINE, help="a change whose first --kind document is measured")
    parser.add_argument("--kind", default="Deployment")
    args = parser.parse_args()
    change = load_change_set([str(args.file)])
    target = next((a for a in change.artifacts if a.resource.kind == args.kind), None)
    if target is None:
        print(f"{args.file} has no {args.kind}")
        return 2
    bundle = load_bundle(default_policy_dir())
    inventory = build_inventory(a.document for a in change.artifacts)
    now = dt.datetime.now(dt.timezone.utc)

    def events(include: tuple[str, ...]) -> int:
        gate = Gate(
            bundle=bundle,
            engine=create_engine("opa"),
            settings=Config(include=include).resolve(None),
            now=now,
            inventory=inventory,
        )
        return count_events(gate, review_for(target))

    # The entry module's own cost: only policies that do not apply to the kind (a selection of no
    # policy at all is refused by the settings check).
    base = events(tuple(p.id for p in bundle.policies if args.kind not in p.applies_to))
    rows = sorted(((events((p.id,)) - base, p.id) for p in bundle.policies if args.kind in p.applies_to), reverse=True)
    print(
        f"{args.kind} {target.resource.display()}: {events(('*',))} events with every policy, {base} with none that applies"
    )
    for n, pid in rows:
        print(f"{n:6d}  {pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
