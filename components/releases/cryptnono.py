"""cryptnono: cryptocurrency miners killed on the nodes that run user code (issue 22, item 3).

A public Binder is free compute for anyone, and miners come within days (mybinder.org-deploy
issues; 2i2c runs it on every hub). cryptnono (https://github.com/cryptnono/cryptnono) is a
privileged DaemonSet of eBPF detectors: ``execwhacker`` kills a process whose command line
holds a banned string, ``monero`` kills processes that use Monero's mining syscall pattern,
and ``tcpflowkiller`` kills a process that opens connections to too many destinations. We
run it as mybinder.org does (``cryptnono:`` in ``mybinder/values.yaml`` L10-42 @ 95860dbc):
every detector on, the container lookups pointed at containerd and at dind's socket (builds
run there), ``unique_destinations_threshold: 24``, and metrics through the chart's
OpenTelemetry collector, whose pod carries ``prometheus.io/scrape`` annotations
(templates/daemonset.yaml) that our Prometheus' ``kubernetes-pods`` job follows. The alert
``CryptominerKilled`` watches the kill counters (scripts/execwhacker.py and flowkiller.py at
the pinned commit: ``cryptnono_execwhacker_processes_killed_total``,
``cryptnono_flowkiller_processes_killed_total``).

It runs in BinderHub's namespace, which is ``privileged`` for dind already, on every node:
the user nodes (user pods) and wherever dind runs (builds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.catalog import charts
from components.config.public import CryptnonoConfig
from components.releases import helm
from components.releases.builder import DIND_SOCKET_DIR

#: Where containerd's socket is on GKE's and the Cluster API images' nodes (the chart's
#: default, ``detectors.*.containerdHostPath``).
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
#: mybinder.org's threshold: "most pods killed by the default of 15 look like
#: false-positives, e.g. parallel package installers or emulated browsers".
UNIQUE_DESTINATIONS_THRESHOLD = 24
#: The name of our execwhacker configuration beside the chart's ``default-test``.
EXECWHACKER_CONFIG = "binder"


def cryptnono_values(config: CryptnonoConfig, *, dind: bool, metrics: bool) -> dict[str, Any]:
    """Layer 3 of the cryptnono values: the container runtimes' sockets, the detectors and
    metrics."""
    docker = f"{DIND_SOCKET_DIR}/docker.sock" if dind else ""
    execwhacker: dict[str, Any] = {
        "containerdHostPath": CONTAINERD_SOCKET,
        "dockerHostPath": docker,
    }
    if config.banned_command_strings:
        execwhacker["configs"] = {
            EXECWHACKER_CONFIG: {"bannedCommandStrings": list(config.banned_command_strings)}
        }
    values: dict[str, Any] = {
        "detectors": {
            "execwhacker": execwhacker,
            "monero": {"enabled": True},
            "tcpflowkiller": {
                "enabled": config.flow_killer,
                "containerdHostPath": CONTAINERD_SOCKET,
                "dockerHostPath": docker,
                "config": {
                    "FlowKiller": {
                        "unique_destinations_threshold": UNIQUE_DESTINATIONS_THRESHOLD,
                        "banned_ipv4_file_globs": ["/ban-config/*"],
                    }
                },
            },
        },
        "metrics": {"enabled": metrics, "collector": {"enabled": metrics}},
    }
    # Every node, user nodes included: no nodeSelector, and the chart's default tolerations
    # (`operator: Exists, effect: NoSchedule`) take the user pool's taint. User code runs in
    # user pods on the user nodes and in builds, whose dind runs wherever BinderHub's
    # build_node_selector puts it (every node by default).
    return values


@dataclass(frozen=True, kw_only=True)
class CryptnonoArgs(helm.ReleasePlacement):
    """Inputs of :class:`Cryptnono`; where the release goes is
    :class:`~components.releases.helm.ReleasePlacement`'s."""

    config: CryptnonoConfig
    """``binder:cryptnono``."""
    dind: bool
    """BinderHub builds in dind: its socket is where build containers are looked up."""
    metrics: bool
    """Our Prometheus scrapes the collector (``binder:monitoring.enabled``)."""
    namespace: str = "binder"


class Cryptnono(pulumi.ComponentResource):
    """The cryptnono release."""

    def __init__(
        self, name: str, args: CryptnonoArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:cryptnono:Cryptnono", name, None, opts)
        self.release = args.helm_release(
            f"{name}-release",
            charts.CRYPTNONO,
            parent=self,
            computed=cryptnono_values(args.config, dind=args.dind, metrics=args.metrics),
            timeout=300,
            atomic=False,
            cleanup_on_fail=True,
            # A DaemonSet on an autoscaled pool: every new node pulls the images and builds
            # its kernel headers first; the service does not wait for it.
            skip_await=True,
            holds_secrets=False,
        )
        self.register_outputs({})
