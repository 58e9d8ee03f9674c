package rollguard.governance.change_approval_test

import data.rollguard.governance.change_approval

workload(name, service) := {"kind": "Deployment", "namespace": "shop", "name": name, "service": service}

drop := {"name": "V8__drop_nickname.sql", "phase": "expand", "operations": ["drop_column"]}

contract := {"name": "V9__contract.sql", "phase": "contract", "operations": ["update"]}

additive := {"name": "V7__add_email.sql", "phase": "expand", "operations": ["add_column"]}

request(workloads, services, migrations, waived, approval) := {
	"kind": "ChangeRequest",
	"metadata": {"name": "prod"},
	"workloads": workloads,
	"services": services,
	"migrations": migrations,
	"waived_critical": waived,
	"approval": approval,
}

run(change, risk, parameters) := v if {
	v := change_approval.violation with input as {"artifact": change, "parameters": parameters}
		with data.rollguard.context as {"environment": {"name": "prod", "risk": risk}, "now_ns": 0}
}

big := request(
	[workload("web", "web"), workload("api", "api")],
	["api", "web"],
	[drop, additive],
	[{"policy": "k8s.security_context", "resource": "Deployment shop/web", "waiver": "WVR-1"}],
	null,
)

test_score_at_threshold_needs_approval if {
	# high 5 + 2 workloads 2 + 1 extra service 1 + 1 destructive migration 4 + 1 waived critical 3 = 15
	run(big, "high", {}) == {{
		"msg": "change to prod scores 15 (threshold 10) and has no change-approval reference: risk high 5 + 2 workload(s) 2 + 1 service(s) beyond the first 1 + 1 destructive migration(s) 4 + 1 waived critical finding(s) 3; pass --approval <reference> or annotate an object with rollguard.io/change-approval",
		"details": {
			"environment": "prod",
			"score": 15,
			"threshold": 10,
			"parts": {"risk": 5, "workloads": 2, "services": 1, "destructive_migrations": 4, "waived_critical": 3},
			"workloads": 2,
			"services": 2,
			"destructive_migrations": ["V8__drop_nickname.sql"],
			"waived_critical": 1,
		},
	}}
}

test_exactly_at_threshold if {
	# high 5 + 1 workload 1 + 1 destructive 4 = 10
	change := request([workload("web", "web")], ["web"], [drop], [], null)
	[found] := [x | some x in run(change, "high", {})]
	found.details.score == 10
	count(run(change, "medium", {})) == 0 # 2 + 1 + 4 = 7
}

test_below_threshold if {
	count(run(request([workload("web", "web")], ["web"], [additive], [], null), "high", {})) == 0
}

test_approval_from_the_change if {
	approved := object.union(big, {"approval": {"reference": "CHG-1234", "source": "command line", "file": null, "line": null}})
	count(run(approved, "high", {})) == 0
	blank := object.union(big, {"approval": {"reference": "", "source": "command line", "file": null, "line": null}})
	count(run(blank, "high", {})) == 1
}

test_contract_phase_is_destructive if {
	change := request([workload("web", "web")], ["web"], [contract, drop], [], null)
	[found] := [x | some x in run(change, "high", {})]
	found.details.destructive_migrations == ["V8__drop_nickname.sql", "V9__contract.sql"]
	found.details.parts.destructive_migrations == 8
}

test_parameters if {
	small := request([workload("web", "web")], ["web"], [], [], null)
	count(run(small, "low", {"threshold": 1})) == 1
	count(run(small, "low", {"threshold": 2})) == 0
	count(run(small, "low", {"threshold": 2, "workload_weight": 2})) == 1
	count(run(small, "low", {"threshold": 3, "risk_weights": {"low": 2, "medium": 3, "high": 4}})) == 1
	only_add := request([workload("web", "web")], ["web"], [additive], [], null)
	count(run(only_add, "low", {"threshold": 4, "destructive_operations": ["add_column"]})) == 1
	count(run(only_add, "low", {"threshold": 4})) == 0
}
