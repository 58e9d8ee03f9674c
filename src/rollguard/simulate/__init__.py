"""Rollouts in motion: the controllers of Deployments, StatefulSets, DaemonSets and Argo Rollouts
played on the pods of a change, in pure Python and without I/O (docs/simulation.md)."""

from __future__ import annotations

from rollguard.simulate.change import (
    SIMULATED_KINDS,
    policy_input,
    policy_simulation,
    simulate_change,
    simulate_workload,
)
from rollguard.simulate.fenceposts import FencepostError, resolve_fenceposts, scaled_value
from rollguard.simulate.pods import SimulationOptions
from rollguard.simulate.result import (
    PodTimes,
    Resources,
    SimulationReport,
    TimelineEvent,
    Unbounded,
    WorkloadSimulation,
)

__all__ = [
    "SIMULATED_KINDS",
    "FencepostError",
    "PodTimes",
    "Resources",
    "SimulationOptions",
    "SimulationReport",
    "TimelineEvent",
    "Unbounded",
    "WorkloadSimulation",
    "policy_input",
    "policy_simulation",
    "resolve_fenceposts",
    "scaled_value",
    "simulate_change",
    "simulate_workload",
]
