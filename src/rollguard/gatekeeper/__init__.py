"""Gatekeeper output: rollguard's Kubernetes policies as ConstraintTemplates, Constraints, gator suites and sync config."""

from __future__ import annotations

from rollguard.gatekeeper.documents import (
    KIND_GROUP_VERSIONS,
    constraint,
    constraint_kind,
    constraint_template,
    inventory_kinds,
    sync_config,
    synced_kinds,
    template_code,
    template_name,
)
from rollguard.gatekeeper.evaluate import TemplateEvaluator, evaluate_template
from rollguard.gatekeeper.rego import TemplateSource, template_source
from rollguard.gatekeeper.schema import openapi_schema, structural_problems
from rollguard.gatekeeper.tree import (
    BUILD_COMMAND,
    HEADER,
    build_tree,
    default_fixtures,
    gatekeeper_policies,
    render,
    simulation_policies,
)

__all__ = [
    "BUILD_COMMAND",
    "HEADER",
    "KIND_GROUP_VERSIONS",
    "TemplateEvaluator",
    "TemplateSource",
    "build_tree",
    "constraint",
    "constraint_kind",
    "constraint_template",
    "default_fixtures",
    "evaluate_template",
    "gatekeeper_policies",
    "simulation_policies",
    "inventory_kinds",
    "openapi_schema",
    "render",
    "structural_problems",
    "sync_config",
    "synced_kinds",
    "template_code",
    "template_name",
    "template_source",
]
