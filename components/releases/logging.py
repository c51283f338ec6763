"""Logging: Fluentd on every node, collecting every container's log.

The fluentd chart (https://github.com/fluent/helm-charts/tree/main/charts/fluentd) runs a
DaemonSet that tails ``/var/log/containers/*.log`` on its node and enriches each record with
its pod's Kubernetes metadata. It tolerates every taint, so it also runs on the tainted user
pool. The output (``binder:logging.output``) is stdout by default (read with ``kubectl logs``),
or an Elasticsearch / OpenSearch endpoint; the endpoint's password comes from the secrets,
into a Kubernetes Secret that the pods read as an environment variable -- it never appears in
the Helm values or the fluentd configuration.

Fluentd pods get our own PriorityClass, ``binder-node-critical`` (:data:`PRIORITY_CLASS`):
they should preempt ordinary pods on a full node (losing logs hides incidents), but the
built-in ``system-node-critical`` is not ours to use. Kubernetes lets a cluster limit the
``system-*-critical`` classes to namespaces holding a ResourceQuota scoped to them
(https://kubernetes.io/docs/concepts/policy/resource-quotas/#limit-priority-class-consumption-by-default),
and GKE does so, with such a quota (``gcp-critical-pods``) in ``kube-system`` only: the
DaemonSet's pods in ``logging`` would be rejected ("insufficient quota to match these scopes:
[{PriorityClass In [system-node-critical system-cluster-critical]}]",
https://github.com/open-policy-agent/gatekeeper/issues/1120), while ``skip_await`` let the
release report success.

Logging does not wait for BinderHub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs
from pulumi_kubernetes.scheduling.v1 import PriorityClass

from components.catalog import charts
from components.catalog.charts import FLUENTD_PRIORITY_CLASS
from components.config.base import ConfigError
from components.config.releases import LoggingConfig, LoggingOutput
from components.releases import events, helm
from components.secrets.deployment import DeploymentSecrets

#: Secret (in the release's namespace) and environment variable carrying the password.
CREDENTIALS_SECRET = "fluentd-output-credentials"  # noqa: S105 (a name)
PASSWORD_ENV = "FLUENT_OUTPUT_PASSWORD"  # noqa: S105 (a variable name)

#: PriorityClass of the fluentd pods. Its value is above every pod of the deployment (z2jh's
#: user pods run at 0 and below) and far below the system classes (2000000000+), so fluentd
#: preempts user pods, never the cluster's own; user-defined classes may go up to 1000000000.
#: https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/#priorityclass
PRIORITY_CLASS = FLUENTD_PRIORITY_CLASS  # the catalogue names it (the deploy agent writes it)
PRIORITY_VALUE = 1_000_000

#: Secret (in the release's namespace) holding the log store's CA certificate, if given, and
#: where the fluentd pods mount it.
CA_SECRET = "fluentd-output-ca"  # noqa: S105 (a name)
CA_DIR = "/etc/fluent/output-ca"

#: Image variant of fluent/fluentd-kubernetes-daemonset with the output's plugin, by log store
#: and major version. The chart builds the tag as
#: ``v<appVersion>-debian-<variant>-<variantVersion>`` (templates/_pod.tpl of the pinned
#: chart), e.g. ``v1.19.3-debian-elasticsearch8-1.1``: the ``elasticsearch8`` image carries
#: the Elasticsearch 8 client, which the ``elasticsearch7`` image (the chart's default) does
#: not. https://github.com/fluent/fluentd-kubernetes-daemonset#image-versions
VARIANTS: dict[tuple[str, int], str] = {
    ("elasticsearch", 7): "elasticsearch7",
    ("elasticsearch", 8): "elasticsearch8",
    ("opensearch", 1): "opensearch",
    ("opensearch", 2): "opensearch",
}


@dataclass(frozen=True, kw_only=True)
class LoggingArgs(helm.ReleasePlacement):
    """Inputs of :class:`Logging`; where the release goes is
    :class:`~components.releases.helm.ReleasePlacement`'s."""

    config: LoggingConfig
    """``binder:logging``: where the logs go."""
    secrets: DeploymentSecrets
    """The output's password (``loggingPassword``), if it needs one."""
    namespace: str = "logging"
    """Namespace of the release."""
    stack: str = ""
    """The stack's name: its launch events get indices of their own."""
    binder_namespace: str = "binder"
    """Namespace of the BinderHub release, whose launch events are routed apart."""


class Logging(pulumi.ComponentResource):
    """The Fluentd release and, for an authenticated output, its credentials Secret."""

    release: pulumi.CustomResource

    def __init__(self, name: str, args: LoggingArgs, opts: pulumi.ResourceOptions | None = None):
        output = args.config.output
        password = args.secrets.logging_password
        super().__init__("binder:logging:Logging", name, None, opts)
        priority = PriorityClass(
            f"{name}-priority",
            metadata=ObjectMetaArgs(name=PRIORITY_CLASS),
            value=PRIORITY_VALUE,
            global_default=False,
            preemption_policy="PreemptLowerPriority",
            description=(
                "Fluentd log collectors of the BinderHub deployment: run before user pods "
                "on a full node."
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Pods naming a PriorityClass that does not exist yet are rejected.
        depends: list[pulumi.Resource] = [priority]
        uses_password = output.type != "stdout" and password is not None
        ca = args.secrets.logging_ca_certificate if output.type != "stdout" else None
        if ca is not None:
            depends.append(
                args.opaque_secret(
                    f"{name}-ca", self, secret_name=CA_SECRET, key="ca.crt", value=ca
                )
            )
        if uses_password and password is not None:
            depends.append(
                args.opaque_secret(
                    f"{name}-credentials",
                    self,
                    secret_name=CREDENTIALS_SECRET,
                    key="password",
                    value=password,
                )
            )
        self.release = args.helm_release(
            f"{name}-release",
            charts.FLUENTD,
            parent=self,
            computed=fluentd_values(
                output,
                with_password=uses_password,
                with_ca=ca is not None,
                launch_events=(
                    LaunchEvents(
                        binder_namespace=args.binder_namespace,
                        index_prefix=args.config.events.index_prefix
                        or events.events_index_prefix(output, args.stack),
                    )
                    if args.config.events.enabled
                    else None
                ),
            ),
            depends_on=depends,
            timeout=300,
            # Nothing to roll back to that is better: a failed logging upgrade is fixed forward.
            atomic=False,
            cleanup_on_fail=True,
            # Do not wait: a DaemonSet on an autoscaling pool (nodes coming and going, each
            # pulling the image) can stay "not ready" for long, and logs are not on the
            # service's critical path.
            skip_await=True,
            holds_secrets=False,
        )
        self.register_outputs({"output": output.type})


def check_output_credentials(output: LoggingOutput, has_password: bool) -> None:
    """The output's account and its password come together; a ConfigError naming the setting
    otherwise. Pure (looks only at whether a password is given, never at it): called by
    :func:`components.releases.plan.check_release_secrets` before any resource."""
    if output.type == "stdout":
        return
    if output.user and not has_password:
        raise ConfigError(
            f"binder:logging.output.user is set for the {output.type} output but there is no "
            "password; set the secret binder:loggingPassword (`pulumi config set --secret "
            "binder:loggingPassword`) or logging.password in a secrets file "
            "(binder:secretsFiles), or remove binder:logging.output.user"
        )
    if has_password and not output.user:
        raise ConfigError(
            "a logging password is given (binder:loggingPassword or logging.password in a "
            f"secrets file) but binder:logging.output.user is not set; set the {output.type} "
            "account name it belongs to"
        )


@dataclass(frozen=True)
class LaunchEvents:
    """Where BinderHub's launch events come from and go (:mod:`components.releases.events`)."""

    binder_namespace: str
    index_prefix: str
    """Their own indices (Elasticsearch/OpenSearch)."""


def output_config(
    output: LoggingOutput,
    *,
    with_password: bool,
    with_ca: bool = False,
    launch_events: LaunchEvents | None = None,
) -> str:
    """The ``04_outputs.conf`` of the chart: where the ``@OUTPUT`` label sends records, and,
    with ``launch_events``, BinderHub's launch events to an output of their own.

    Fluentd's own logs are routed to ``@FLUENT_LOG`` by the chart's filters, so writing to
    stdout does not feed them back into the pipeline.
    """
    body = _output_body(output, with_password=with_password, with_ca=with_ca)
    if launch_events is None:
        return f"<label @OUTPUT>\n  <match **>\n{body}\n  </match>\n</label>"
    events_body = _output_body(
        output, with_password=with_password, with_ca=with_ca,
        index_prefix=launch_events.index_prefix, buffer="launch-events", buffer_mb=64,
    )
    return events.events_route(
        body, namespace=launch_events.binder_namespace, events_body=events_body
    )


def _output_body(
    output: LoggingOutput,
    *,
    with_password: bool,
    with_ca: bool,
    index_prefix: str | None = None,
    buffer: str = "output",
    buffer_mb: int | None = None,
) -> str:
    """The inside of a ``<match>``: the store (its own ``index_prefix`` and buffer file for
    the launch events), or stdout -- the events as bare JSON lines."""
    if output.type == "stdout":
        if index_prefix is not None:
            return "\n".join(["    @type stdout", "    <format>", "      @type json",
                              "    </format>"])
        body = "    @type stdout"
    else:
        version = output.store_version
        es = output.type == "elasticsearch"
        lines = [
            # https://github.com/uken/fluent-plugin-elasticsearch#configuration
            # https://github.com/fluent/fluent-plugin-opensearch#configuration
            f"    @type {output.type}",
            f'    host "{output.host}"',
            f"    port {output.port}",
            f"    scheme {output.scheme}",
            "    logstash_format true",
            f'    logstash_prefix "{index_prefix or output.index_prefix}"',
            "    include_tag_key true",
            # The plugin asks the server for its version at start and fails loudly on a
            # mismatch; without an answer it assumes `default_*_version`, whose own default
            # (Elasticsearch 5, OpenSearch 1) makes it send the `_type` field that
            # Elasticsearch 8 rejects. https://github.com/uken/fluent-plugin-elasticsearch#verify_es_version_at_startup
            # and https://github.com/fluent/fluent-plugin-opensearch#verify_os_version_at_startup
            f"    verify_{'es' if es else 'os'}_version_at_startup true",
            f"    default_{'elasticsearch' if es else 'opensearch'}_version {version}",
            # Never send a mapping type (removed in Elasticsearch 8 and OpenSearch 2).
            # https://github.com/uken/fluent-plugin-elasticsearch#suppress_type_name
            "    suppress_type_name true",
        ]
        if output.scheme == "https":
            # Verify the store's certificate (against the given CA, else the image's
            # system CAs), TLS 1.2 at least. https://github.com/uken/fluent-plugin-elasticsearch#ssl_verify
            lines += ["    ssl_verify true", "    ssl_min_version TLSv1_2"]
            if with_ca:
                lines.append(f'    ca_file "{CA_DIR}/ca.crt"')
        if output.user:
            lines.append(f'    user "{output.user}"')
        if with_password:
            # Read from the environment when fluentd starts; never written in the config.
            lines.append(f"    password \"#{{ENV['{PASSWORD_ENV}']}}\"")
        lines += [
            # On the node's disk (/var/log is the chart's hostPath mount), so logs survive a
            # fluentd restart; at most `buffer_limit_mb`, then the oldest chunks are dropped
            # rather than the node's disk filled or the pipeline blocked.
            # https://docs.fluentd.org/configuration/buffer-section#buffering-parameters
            "    <buffer>",
            "      @type file",
            f"      path /var/log/fluentd-buffers/{buffer}.buffer",
            "      chunk_limit_size 8MB",
            f"      total_limit_size {buffer_mb or output.buffer_limit_mb}MB",
            "      flush_interval 10s",
            "      flush_thread_count 2",
            "      retry_type exponential_backoff",
            "      retry_max_interval 60s",
            "      retry_forever true",
            "      overflow_action drop_oldest_chunk",
            "    </buffer>",
        ]
        body = "\n".join(line for line in lines if line)
    return body


def fluentd_values(
    output: LoggingOutput,
    *,
    with_password: bool,
    with_ca: bool = False,
    launch_events: LaunchEvents | None = None,
) -> dict[str, Any]:
    """Layer 3 of the fluentd values: a DaemonSet everywhere, and its output."""
    computed: dict[str, Any] = {
        "kind": "DaemonSet",
        "priorityClassName": PRIORITY_CLASS,
        # Every node, including the tainted user pool and control-plane nodes that run pods.
        "tolerations": [{"operator": "Exists"}],
        "fileConfigs": {
            "04_outputs.conf": output_config(
                output, with_password=with_password, with_ca=with_ca, launch_events=launch_events
            )
        },
    }
    version = output.store_version
    if version is not None:
        computed["variant"] = VARIANTS[(output.type, version)]
    if with_ca:
        computed["volumes"] = [{"name": "output-ca", "secret": {"secretName": CA_SECRET}}]
        computed["volumeMounts"] = [{"name": "output-ca", "mountPath": CA_DIR, "readOnly": True}]
    if with_password:
        computed["env"] = [
            {
                "name": PASSWORD_ENV,
                "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": "password"}},
            }
        ]
    return computed
