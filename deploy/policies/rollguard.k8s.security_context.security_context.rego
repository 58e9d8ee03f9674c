# METADATA
# title: Containers run unprivileged and locked down
# description: >-
#   Every rollout starts fresh pods from the manifest, so the manifest is where
#   a container's privileges are decided. A container that may run as root,
#   gain privileges, write its root filesystem or keep Linux capabilities, or a
#   pod sharing the node's network, PID or IPC namespace, turns one compromised
#   release into a compromised node; a rollout spreads it to every replica.
#   Reports, per container (init and ephemeral included), runAsNonRoot not true
#   (container value, else pod value), allowPrivilegeEscalation not false,
#   privileged true, readOnlyRootFilesystem not true and capabilities.drop
#   without ALL; and, once per pod, hostNetwork, hostPID or hostIPC true.
#   Judges Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
#   ReplicationControllers, Jobs, CronJobs, Argo Rollouts and DeploymentConfigs.
#   Medium for the hardening settings (runAsNonRoot, allowPrivilegeEscalation,
#   readOnlyRootFilesystem, dropping ALL capabilities), which limit what a
#   compromise can do; high for a privileged container (case privileged) and a
#   pod in the node's network, PID or IPC namespace (case host_namespace), which
#   hand a compromised container the node.
# scope: package
# custom:
#   id: k8s.security_context
#   severity: medium
#   case_severity: {privileged: high, host_namespace: high}
#   controls: ["NIST-800-53:AC-6", "NIST-800-53:CM-7", "ISO27001:A.8.2", "CIS-K8S:5.2.2", "CIS-K8S:5.2.3", "CIS-K8S:5.2.4", "CIS-K8S:5.2.5", "CIS-K8S:5.2.6", "CIS-K8S:5.2.7", "CIS-K8S:5.2.9"]
#   remediation: >-
#     Set {{ field }} of container {{ container }} to its hardened value:
#     runAsNonRoot: true (on the pod or the container), allowPrivilegeEscalation:
#     false, readOnlyRootFilesystem: true (mount an emptyDir where the
#     application writes) and capabilities: {drop: [ALL]} (add back single
#     capabilities such as NET_BIND_SERVICE only if needed).
#   case_remediation:
#     privileged: >-
#       Remove privileged: true from the securityContext of container
#       {{ container }}; add back only the capabilities it needs
#       (capabilities.add) and drop ALL others.
#     host_namespace: >-
#       Remove {{ field }} from the pod spec (it defaults to false): reach the
#       pods through a Service and their container ports, not through the
#       node's network, process or IPC namespace.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     securityContext: {runAsNonRoot: true}
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       securityContext:
#         allowPrivilegeEscalation: false
#         readOnlyRootFilesystem: true
#         capabilities: {drop: [ALL]}
#   example_disallowed: |
#     hostNetwork: true
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       securityContext: {privileged: true}
package rollguard.k8s.security_context

import data.rollguard.lib.k8s

# One pass over the containers (init and ephemeral included) for the five settings below; a
# container locked down in the usual way (hardened) is cleared without judging each setting.
violation contains f if {
	some c in k8s.obj_all_containers
	not hardened(c)
	some field in ["runAsNonRoot", "allowPrivilegeEscalation", "privileged", "readOnlyRootFilesystem", "capabilities.drop"]
	f := finding(c, field)
}

finding(c, "runAsNonRoot") := {"msg": msg, "details": object.union(details(c, "runAsNonRoot", v, true), {"path": run_as_non_root_path(c)})} if {
	object.get(c, ["securityContext", "runAsNonRoot"], null) != true
	v := run_as_non_root(c)
	v != true
	msg := sprintf("container %q does not set runAsNonRoot: true (pod or container securityContext)", [c.name])
}

finding(c, "allowPrivilegeEscalation") := {"msg": msg, "details": details(c, "allowPrivilegeEscalation", v, false)} if {
	v := object.get(c, ["securityContext", "allowPrivilegeEscalation"], null)
	v != false
	msg := sprintf("container %q does not set allowPrivilegeEscalation: false", [c.name])
}

finding(c, "privileged") := {"msg": msg, "details": object.union(details(c, "privileged", true, false), {"case": "privileged"})} if {
	object.get(c, ["securityContext", "privileged"], null) == true
	msg := sprintf("container %q runs privileged", [c.name])
}

finding(c, "readOnlyRootFilesystem") := {"msg": msg, "details": details(c, "readOnlyRootFilesystem", v, true)} if {
	v := object.get(c, ["securityContext", "readOnlyRootFilesystem"], null)
	v != true
	msg := sprintf("container %q does not set readOnlyRootFilesystem: true", [c.name])
}

finding(c, "capabilities.drop") := {"msg": msg, "details": details(c, "capabilities.drop", v, ["ALL"])} if {
	v := object.get(c, ["securityContext", "capabilities", "drop"], null)
	not drops_all(v)
	msg := sprintf("container %q does not drop ALL capabilities", [c.name])
}

violation contains {"msg": msg, "details": d} if {
	spec := k8s.obj_pod_spec
	is_object(spec)
	some field, value in object.filter(spec, {"hostNetwork", "hostPID", "hostIPC"})
	value == true
	d := {
		"field": field,
		"value": true,
		"expected": false,
		"case": "host_namespace",
		"path": sprintf("%s.%s", [k8s.obj_pod_spec_path, field]),
	}
	msg := sprintf("pod shares the node's namespace: %s is true", [field])
}

# Every container-level setting at its hardened value, spelled the common way (runAsNonRoot
# may come from the pod): the quick test that clears nearly every container. Anything else, such
# as capability "all" or a pod-level runAsNonRoot of a container that sets null, is left to the
# findings above.
hardened(c) if {
	sc := c.securityContext
	is_object(sc)
	# A subset of an array is a subsequence: drop lists ALL, among others or alone.
	object.subset(sc, {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}})
	object.get(sc, "runAsNonRoot", object.get(k8s.obj_pod_spec, ["securityContext", "runAsNonRoot"], null)) == true
	object.get(sc, "privileged", false) != true
}

details(c, field, v, expected) := {
	"container": c.name,
	"field": concat(".", ["securityContext", field]),
	"value": v,
	"expected": expected,
	"path": k8s.container_field_path(c, concat(".", ["securityContext", field])),
}

# Container-level value, else null (these fields do not exist at pod level).
setting(c, field) := object.get(c, ["securityContext", field], null)

# Where the runAsNonRoot in force is: the container's, else the pod's; the container's when
# neither sets it.
run_as_non_root_path(c) := sprintf("%s.securityContext.runAsNonRoot", [k8s.obj_pod_spec_path]) if {
	setting(c, "runAsNonRoot") == null
	is_object(k8s.obj_pod_spec.securityContext)
	k8s.obj_pod_spec.securityContext.runAsNonRoot != null
} else := k8s.container_field_path(c, "securityContext.runAsNonRoot")

# Container-level runAsNonRoot overrides the pod-level one.
run_as_non_root(c) := setting(c, "runAsNonRoot") if {
	setting(c, "runAsNonRoot") != null
} else := k8s.obj_pod_spec.securityContext.runAsNonRoot if {
	is_object(k8s.obj_pod_spec.securityContext)
	k8s.obj_pod_spec.securityContext.runAsNonRoot != null
} else := null


# Container runtimes compare "ALL" case-insensitively.
drops_all(caps) if {
	is_array(caps)
	some cap in caps
	is_string(cap)
	upper(cap) == "ALL"
}
