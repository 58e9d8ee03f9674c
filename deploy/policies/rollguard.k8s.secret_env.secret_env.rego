# METADATA
# title: Secrets are mounted, not passed as environment variables
# description: >-
#   Environment variables are read once, when the container starts. A Secret
#   consumed through env or envFrom therefore keeps its old value until every
#   pod is restarted, so rotating a credential needs a rollout of its own (and a
#   revoked credential stays in use until then); environment variables also
#   leak into crash dumps, `kubectl describe` output and child processes. A
#   Secret mounted as a volume is updated in place by the kubelet. Reports every
#   env entry with valueFrom.secretKeyRef and every envFrom entry with
#   secretRef, in every container, init container and ephemeral container of
#   Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
#   ReplicationControllers, Jobs, CronJobs, Argo Rollouts and DeploymentConfigs.
#   Low because it is a rotation and exposure concern, not a rollout risk: the
#   Secret works, and a rotation needs a restart.
# scope: package
# custom:
#   id: k8s.secret_env
#   severity: low
#   controls: ["CIS-K8S:5.4.1", "NIST-800-53:IA-5", "ISO27001:A.5.17"]
#   remediation: >-
#     Mount Secret {{ secret }} into container {{ container }} as a volume
#     (volumes: [{name: db, secret: {secretName: db-credentials}}] and a
#     volumeMount with readOnly: true, without subPath, which is never
#     refreshed) and have the application read, and re-read, the file.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       volumeMounts: [{name: db, mountPath: /etc/db, readOnly: true}]
#     volumes:
#     - name: db
#       secret: {secretName: db-credentials}
#   example_disallowed: |
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       env:
#       - name: DB_PASSWORD
#         valueFrom:
#           secretKeyRef: {name: db-credentials, key: password}
package rollguard.k8s.secret_env

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": d} if {
	some c in k8s.obj_all_containers
	is_array(c.env)
	some i, e in c.env
	ref := e.valueFrom.secretKeyRef
	is_object(ref)
	d := {
		"container": c.name,
		"source": "env",
		"env": object.get(e, "name", null),
		"secret": object.get(ref, "name", null),
		"key": object.get(ref, "key", null),
		"path": k8s.container_field_path(c, sprintf("env[%d]", [i])),
	}
	msg := sprintf("container %q reads key %v of Secret %v into env var %v: rotating the Secret needs a restart", [c.name, d.key, d.secret, d.env])
}

violation contains {"msg": msg, "details": d} if {
	some c in k8s.obj_all_containers
	is_array(c.envFrom)
	some i, src in c.envFrom
	ref := src.secretRef
	is_object(ref)
	d := {
		"container": c.name,
		"source": "envFrom",
		"secret": object.get(ref, "name", null),
		"path": k8s.container_field_path(c, sprintf("envFrom[%d]", [i])),
	}
	msg := sprintf("container %q loads Secret %v into its environment (envFrom): rotating the Secret needs a restart", [c.name, d.secret])
}
