"""Helm values the program computes from a setting of the stack (layer 3), so a values file
that sets them is silently overridden: :func:`owned_problems` refuses such a value at plan time,
naming the setting that owns it (issue 21).

``tests/components/releases/test_owned_values.py`` keeps :data:`OWNED` complete: every value of
a committed stack's release that the program sets differently from its values files is in it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Paths (from the top of a release's values) the program sets, by release, and the setting
#: that owns each. A values file may set neither the path nor anything under it.
OWNED: Mapping[str, Mapping[tuple[str, ...], str]] = {
    "binderhub": {
        ("config", "BinderHub", "hub_url"): "binder:binderhub.hubHost and binder:tls",
        ("config", "BinderHub", "use_registry"): "binder:registry",
        ("config", "BinderHub", "image_prefix"): "binder:registry.prefix",
        ("config", "BinderHub", "auth_enabled"): "binder:binderhub.auth",
        ("config", "BinderHub", "banner_message"): "binder:binderhub.bannerMessage",
        ("config", "BinderHub", "build_node_selector"): (
            "binder:cluster (the user pool's labels)"
        ),
        ("config", "BinderHub", "per_repo_quota"): "binder:binderhub.limits.perRepo",
        ("config", "BinderHub", "per_repo_quota_higher"): "binder:binderhub.limits.perRepoHigher",
        ("config", "RepoProvider"): "binder:binderhub.limits (bannedSpecs, highQuotaSpecs)",
        ("config", "LaunchQuota"): "binder:binderhub.limits.totalPods",
        ("config", "KubernetesBuildExecutor"): (
            "binder:binderhub.builder.buildPod and buildPodDisk"
        ),
        ("config", "DockerRegistry"): "binder:registry",
        ("registry",): "binder:registry and the registry secrets",
        ("imageBuilderType",): "binder:binderhub.imageBuilderType",
        ("replicas",): "binder:binderhub.replicas",
        ("config", "BinderHub", "about_message"): "binder:binderhub.site.about",
        ("config", "BinderHub", "default_opengraph_title"): "binder:binderhub.site.name",
        ("config", "BinderHub", "template_variables"): "binder:binderhub.site",
        ("config", "BinderHub", "template_path"): "helm_configs/<stack>/templates/",
        ("config", "BinderHub", "extra_static_path"): "helm_configs/<stack>/static/",
        ("extraVolumes",): "helm_configs/<stack>/templates/ and static/ (the site's files)",
        ("extraVolumeMounts",): "helm_configs/<stack>/templates/ and static/ (the site's files)",
        ("podAnnotations", "checksum/site"): "the site's files",
        ("jupyterhub", "hub", "extraVolumes"): "helm_configs/<stack>/hub-templates/",
        ("jupyterhub", "hub", "extraVolumeMounts"): "helm_configs/<stack>/hub-templates/",
        ("jupyterhub", "hub", "annotations", "checksum/site"): "the site's hub templates",
        ("jupyterhub", "hub", "config", "JupyterHub", "template_paths"): (
            "helm_configs/<stack>/hub-templates/"
        ),
        ("jupyterhub", "hub", "config", "JupyterHub", "template_vars"): "binder:binderhub.site",
        ("extraPodSpec", "affinity"): "binder:binderhub.replicas (two pods, spread)",
        ("dind", "resources"): "binder:binderhub.builder.dind",
        ("dind", "hostLibDir"): "binder:binderhub.builder.dataDir",
        ("dind", "daemonset", "extraArgs"): (
            "binder:binderhub.builder.mtu and registryMirrors"
        ),
        ("imageCleaner",): "binder:binderhub.imageBuilderType and builder (the program's)",
        ("ingress", "hosts"): "binder:binderhub.host",
        ("ingress", "ingressClassName"): "binder:ingress.className",
        ("ingress", "tls"): "binder:tls",
        ("jupyterhub", "ingress", "hosts"): "binder:binderhub.hubHost",
        ("jupyterhub", "ingress", "ingressClassName"): "binder:ingress.className",
        ("jupyterhub", "ingress", "tls"): "binder:tls",
        ("jupyterhub", "singleuser", "cpu"): "binder:binderhub.userResources.cpu",
        ("jupyterhub", "singleuser", "memory"): "binder:binderhub.userResources.memory",
        ("jupyterhub", "singleuser", "nodeSelector"): "binder:cluster (the user pool's labels)",
        ("jupyterhub", "imagePullSecret"): "binder:registry and the registry secrets",
        ("jupyterhub", "imagePullSecrets"): "binder:registry and the dockerHub secrets",
    },
}


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    else:
        yield path


def owned_problems(release: str, layer: Mapping[str, Any], source: str) -> list[str]:
    """A message per value of ``layer`` (a values file of ``release``) that the program sets."""
    owned = OWNED.get(release, {})
    problems = []
    for leaf in _leaves(layer):
        for path, setting in owned.items():
            if leaf[: len(path)] == path or path[: len(leaf)] == leaf:
                problems.append(
                    f"  {source} sets {'.'.join(leaf)}, which the program sets from {setting} "
                    "(the file's value would be silently replaced): remove it there and use "
                    "that setting"
                )
                break
    return problems
