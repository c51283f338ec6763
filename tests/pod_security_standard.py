"""Which Pod Security Standard a pod spec needs: the checks Pod Security Admission makes.

A paraphrase, for tests, of the controls of
https://kubernetes.io/docs/concepts/security/pod-security-standards/ (``baseline`` and
``restricted``, current version). :func:`needed_level` returns the least privileged level
that admits a pod spec, with the reasons it cannot be lower. AppArmor, SELinux and sysctl
controls are not checked: a check the rendered charts never trigger would pass by default, so
:func:`unchecked_fields` reports any pod that sets those fields instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Capabilities baseline allows to add.
BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
     "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)
#: Volume types restricted allows.
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
     "projected", "secret"}
)
_UNCHECKED = ("appArmorProfile", "seLinuxOptions", "sysctls", "windowsOptions")


def pod_specs(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The pod specs a workload object creates pods from."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield spec["template"]["spec"]
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        *(pod.get("initContainers") or []),
        *(pod.get("containers") or []),
        *(pod.get("ephemeralContainers") or []),
    ]


def _baseline_violations(pod: Mapping[str, Any]) -> list[str]:
    found = [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    found += [
        f"hostPath volume {v['name']}" for v in pod.get("volumes") or [] if "hostPath" in v
    ]
    pod_ctx = pod.get("securityContext") or {}
    for c in _containers(pod):
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            found.append(f"{c['name']}: privileged")
        added = set((ctx.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            found.append(f"{c['name']}: adds capabilities {sorted(added)}")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            found.append(f"{c['name']}: hostPort")
        if ctx.get("procMount") not in (None, "Default"):
            found.append(f"{c['name']}: procMount {ctx['procMount']}")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp == "Unconfined":
            found.append(f"{c['name']}: seccomp Unconfined")
    return found


def _restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    found = [
        f"volume {v['name']} is not of a restricted type"
        for v in pod.get("volumes") or []
        if not set(v) - {"name"} <= RESTRICTED_VOLUMES
    ]
    pod_ctx = pod.get("securityContext") or {}
    for c in _containers(pod):
        ctx = c.get("securityContext") or {}
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{c['name']}: allowPrivilegeEscalation is not false")
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{c['name']}: runAsNonRoot is not true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            found.append(f"{c['name']}: runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{c['name']}: no RuntimeDefault/Localhost seccomp profile")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{c['name']}: does not drop ALL capabilities")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{c['name']}: adds capabilities beyond NET_BIND_SERVICE")
    return found


def needed_level(pod: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The least privileged Pod Security level that admits ``pod``, and why not lower."""
    baseline = _baseline_violations(pod)
    if baseline:
        return "privileged", baseline
    restricted = _restricted_violations(pod)
    if restricted:
        return "baseline", restricted
    return "restricted", []


def unchecked_fields(pod: Mapping[str, Any]) -> list[str]:
    """Security fields this paraphrase does not judge, where a pod sets them."""
    contexts = [pod.get("securityContext") or {}]
    contexts += [c.get("securityContext") or {} for c in _containers(pod)]
    return sorted({key for ctx in contexts for key in _UNCHECKED if ctx.get(key)})
