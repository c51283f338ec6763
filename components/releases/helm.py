"""The Helm releases of the program: a ``helm.v3.Release`` of a pinned chart
(:mod:`components.catalog.charts`), and where each component puts its release(s).

Each release is a ``kubernetes.helm.v3.Release`` (Helm run by the provider), not a
``helm.v4.Chart`` (templates rendered by Pulumi): JupyterHub relies on Helm hooks
(``pre-install``/``pre-upgrade`` image pullers, hub DB upgrade) that ``Chart`` does not run.
https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.core.v1 import Secret, SecretInitArgs
from pulumi_kubernetes.helm.v3 import Release, ReleaseArgs, RepositoryOptsArgs
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.catalog.charts import ChartPin, local_chart_path
from components.releases import values

#: Helm keeps one Secret per revision, each holding the full values (tokens included):
#: bound the history so old credentials do not pile up in the cluster.
MAX_HISTORY = 10


def helm_release(
    name: str,
    pin: ChartPin,
    *,
    namespace: str,
    values: pulumi.Input[dict],
    create_namespace: bool,
    timeout: int,
    atomic: bool,
    cleanup_on_fail: bool,
    skip_await: bool,
    holds_secrets: bool,
    opts: pulumi.ResourceOptions,
    chart_directory: str | None = None,
) -> Release:
    """A ``helm.v3.Release`` of ``pin``. Every behaviour option is a required argument so that
    each call site chooses (and comments) it deliberately.

    ``allow_null_values`` is on: a ``null`` in our values must reach Helm, which then deletes
    that key from the chart's defaults (https://helm.sh/docs/chart_template_guide/values_files/).

    ``holds_secrets``: the values carry secret leaves. The provider echoes ``values`` back as
    an output; marking that whole output secret keeps tokens out of the state in plaintext
    even if a provider version drops nested secret markers
    (https://github.com/pulumi/pulumi-kubernetes/issues/2003).

    ``chart_directory`` (``binder:charts.directory``): the chart is read from its directory
    there, and no repository is named. A repository URL would make the provider download the
    chart even when a directory of that name exists (``locateChart`` looks for a local chart
    only when ``RepoURL`` is empty:
    https://github.com/pulumi/pulumi-kubernetes/blob/v4.25.0/provider/pkg/provider/helm_release.go).
    """
    if chart_directory is None:
        source: dict[str, Any] = {
            "chart": pin.chart,
            "version": pin.version,
            "repository_opts": RepositoryOptsArgs(repo=pin.repo),
        }
    else:
        source = {"chart": local_chart_path(chart_directory, pin)}
    if holds_secrets:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["values"])
        )
    return Release(
        name,
        ReleaseArgs(
            name=pin.release,
            **source,
            namespace=namespace,
            create_namespace=create_namespace,
            values=values,
            allow_null_values=True,
            timeout=timeout,
            atomic=atomic,
            cleanup_on_fail=cleanup_on_fail,
            skip_await=skip_await,
            max_history=MAX_HISTORY,
        ),
        opts=opts,
    )


@dataclass(frozen=True, kw_only=True)
class ReleasePlacement:
    """Where a component's Helm release(s) go: the base of every release component's ``Args``.

    Keyword-only, so that each component's own fields (required ones included) can follow,
    and each component re-declares ``namespace`` with its own default.
    """

    file_values: Mapping[str, Sequence[values.Values]]
    """Layers 1 and 2 of each release's values (``helm_configs/base/<release>.yaml``, then
    ``helm_configs/<stack>/<release>.yaml``), by release name, as the plan read and checked
    them (:attr:`components.releases.plan.ReleasesPlan.file_values`)."""
    namespace: str
    """Namespace of the component's release(s) and of the objects made for them."""
    namespace_resources: Sequence[pulumi.Resource] = ()
    """What the bootstrap makes of the namespace (the Namespace and its quota/limits); the
    release waits for all of it. Empty: Helm creates the namespace."""
    chart_directory: str | None = None
    """``binder:charts.directory``: install the charts from there, not their repositories."""

    def opaque_secret(
        self,
        name: str,
        parent: pulumi.Resource,
        *,
        secret_name: str,
        key: str,
        value: pulumi.Input[str],
    ) -> Secret:
        """An Opaque Secret ``secret_name`` in :attr:`namespace` holding ``value`` under ``key``
        (for a pod of the release to mount). ``string_data`` is a secret Output: never
        plaintext in inputs or state."""
        return Secret(
            name,
            SecretInitArgs(
                metadata=ObjectMetaArgs(name=secret_name, namespace=self.namespace),
                type="Opaque",
                string_data={key: pulumi.Output.secret(value)},
            ),
            opts=self.in_namespace(parent),
        )

    def in_namespace(
        self, parent: pulumi.Resource, *depends_on: pulumi.Resource
    ) -> pulumi.ResourceOptions:
        """Options of a child of ``parent`` in :attr:`namespace`: it waits for the namespace
        (:attr:`namespace_resources`) and for ``depends_on``."""
        return pulumi.ResourceOptions(
            parent=parent, depends_on=[*self.namespace_resources, *depends_on]
        )

    def helm_release(
        self,
        name: str,
        pin: ChartPin,
        *,
        parent: pulumi.Resource,
        computed: values.Layer,
        secrets: Mapping[str, Any] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        timeout: int,
        atomic: bool,
        cleanup_on_fail: bool,
        skip_await: bool,
        holds_secrets: bool,
    ) -> Release:
        """:func:`helm_release` of ``pin`` in this placement: values from the base and stack
        files, ``computed`` and ``secrets`` (:func:`components.releases.values.release_values`);
        Helm creates the namespace only if the bootstrap does not; the release waits for the
        namespace and ``depends_on``. The behaviour options stay required, so each call site
        chooses (and comments) them."""
        return helm_release(
            name,
            pin,
            namespace=self.namespace,
            values=values.release_values(
                self.file_values[pin.release], computed=computed, secrets=secrets
            ),
            create_namespace=not self.namespace_resources,
            timeout=timeout,
            atomic=atomic,
            cleanup_on_fail=cleanup_on_fail,
            skip_await=skip_await,
            holds_secrets=holds_secrets,
            opts=self.in_namespace(parent, *depends_on),
            chart_directory=self.chart_directory,
        )
