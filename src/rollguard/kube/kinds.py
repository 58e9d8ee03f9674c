"""One table of the Kubernetes kinds rollguard knows: API group, version, plural and scope.

The inventory (which kinds are cluster-scoped), the Gatekeeper sync config (group and
version), the webhook's rules (group and plural) and the live sync (the list path) all read
it, so a kind is described once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindApi:
    """Where the API server serves one kind."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """`group/version`, or the bare version for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path(self) -> str:
        """The collection path across all namespaces."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{root}/{self.plural}"


def _kinds(*apis: KindApi) -> dict[str, KindApi]:
    return {api.kind: api for api in apis}


_CORE, _APPS, _RBAC, _STORAGE = "", "apps", "rbac.authorization.k8s.io", "storage.k8s.io"
_ADMISSION, _FLOW, _ARGO = "admissionregistration.k8s.io", "flowcontrol.apiserver.k8s.io", "argoproj.io"

# Versions are the ones served today (PodSecurityPolicy: the last one that was).
KINDS: dict[str, KindApi] = _kinds(
    KindApi("Namespace", _CORE, "v1", "namespaces", namespaced=False),
    KindApi("Node", _CORE, "v1", "nodes", namespaced=False),
    KindApi("PersistentVolume", _CORE, "v1", "persistentvolumes", namespaced=False),
    KindApi("ComponentStatus", _CORE, "v1", "componentstatuses", namespaced=False),
    KindApi("Pod", _CORE, "v1", "pods", namespaced=True),
    KindApi("Service", _CORE, "v1", "services", namespaced=True),
    KindApi("ServiceAccount", _CORE, "v1", "serviceaccounts", namespaced=True),
    KindApi("ConfigMap", _CORE, "v1", "configmaps", namespaced=True),
    KindApi("ReplicationController", _CORE, "v1", "replicationcontrollers", namespaced=True),
    KindApi("LimitRange", _CORE, "v1", "limitranges", namespaced=True),
    KindApi("ResourceQuota", _CORE, "v1", "resourcequotas", namespaced=True),
    KindApi("Deployment", _APPS, "v1", "deployments", namespaced=True),
    KindApi("StatefulSet", _APPS, "v1", "statefulsets", namespaced=True),
    KindApi("DaemonSet", _APPS, "v1", "daemonsets", namespaced=True),
    KindApi("ReplicaSet", _APPS, "v1", "replicasets", namespaced=True),
    KindApi("Job", "batch", "v1", "jobs", namespaced=True),
    KindApi("CronJob", "batch", "v1", "cronjobs", namespaced=True),
    KindApi("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers", namespaced=True),
    KindApi("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", namespaced=True),
    KindApi("PodSecurityPolicy", "policy", "v1beta1", "podsecuritypolicies", namespaced=False),
    KindApi("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", namespaced=True),
    KindApi("Ingress", "networking.k8s.io", "v1", "ingresses", namespaced=True),
    KindApi("IngressClass", "networking.k8s.io", "v1", "ingressclasses", namespaced=False),
    KindApi("RuntimeClass", "node.k8s.io", "v1", "runtimeclasses", namespaced=False),
    KindApi("PriorityClass", "scheduling.k8s.io", "v1", "priorityclasses", namespaced=False),
    KindApi("StorageClass", _STORAGE, "v1", "storageclasses", namespaced=False),
    KindApi("CSIDriver", _STORAGE, "v1", "csidrivers", namespaced=False),
    KindApi("CSINode", _STORAGE, "v1", "csinodes", namespaced=False),
    KindApi("VolumeAttachment", _STORAGE, "v1", "volumeattachments", namespaced=False),
    KindApi("CustomResourceDefinition", "apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False),
    KindApi("APIService", "apiregistration.k8s.io", "v1", "apiservices", namespaced=False),
    KindApi("CertificateSigningRequest", "certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False),
    KindApi("FlowSchema", _FLOW, "v1", "flowschemas", namespaced=False),
    KindApi("PriorityLevelConfiguration", _FLOW, "v1", "prioritylevelconfigurations", namespaced=False),
    KindApi("MutatingWebhookConfiguration", _ADMISSION, "v1", "mutatingwebhookconfigurations", namespaced=False),
    KindApi("ValidatingWebhookConfiguration", _ADMISSION, "v1", "validatingwebhookconfigurations", namespaced=False),
    KindApi("ValidatingAdmissionPolicy", _ADMISSION, "v1", "validatingadmissionpolicies", namespaced=False),
    KindApi(
        "ValidatingAdmissionPolicyBinding", _ADMISSION, "v1", "validatingadmissionpolicybindings", namespaced=False
    ),
    KindApi("Role", _RBAC, "v1", "roles", namespaced=True),
    KindApi("RoleBinding", _RBAC, "v1", "rolebindings", namespaced=True),
    KindApi("ClusterRole", _RBAC, "v1", "clusterroles", namespaced=False),
    KindApi("ClusterRoleBinding", _RBAC, "v1", "clusterrolebindings", namespaced=False),
    KindApi("Rollout", _ARGO, "v1alpha1", "rollouts", namespaced=True),
    KindApi("AnalysisTemplate", _ARGO, "v1alpha1", "analysistemplates", namespaced=True),
    KindApi("ClusterAnalysisTemplate", _ARGO, "v1alpha1", "clusteranalysistemplates", namespaced=False),
    KindApi("DeploymentConfig", "apps.openshift.io", "v1", "deploymentconfigs", namespaced=True),
    KindApi("ClusterIssuer", "cert-manager.io", "v1", "clusterissuers", namespaced=False),
    KindApi("ConstraintTemplate", "templates.gatekeeper.sh", "v1", "constrainttemplates", namespaced=False),
)

CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset(k for k, api in KINDS.items() if not api.namespaced)
