"""What each Magnum Kubernetes driver really honours: labels, template fields, images, nodes.

One place for the facts read in the drivers' own sources, so ``binder:cluster`` can refuse,
before any resource, a label a driver would silently ignore, a Kubernetes version the driver
would not use, or an image it cannot boot. Magnum removed its own Heat driver in 2026
(openstack/magnum commit 31b84327, "Remove Heat driver and k8s_fedora_coreos_v1 driver"); clouds
now run one of two Cluster API drivers:

* ``capi-helm``: StackHPC/Azimuth ``magnum-capi-helm`` (the ``openstack-cluster`` Helm chart of
  azimuth-cloud/capi-helm-charts). Labels are the options of its ``[capi_helm_cluster_labels]``
  group, plus their deprecated names: magnum_capi_helm/conf.py
  https://opendev.org/openstack/magnum-capi-helm/src/branch/master/magnum_capi_helm/conf.py
  (driver.py ``_label`` raises on any other name it is asked for; a label the user adds that is
  not registered is silently ignored). The Kubernetes version is the image's ``kube_version``
  property and the OS its ``os_distro`` property (driver.py ``_get_kube_version``,
  ``_get_os_distro``); there is no ``kube_tag``. ``provides``: os ``ubuntu`` or ``flatcar``.
* ``cluster-api``: Vexxhost ``magnum-cluster-api``. Labels from its docs/user/labels.md and the
  names its code reads (``get_cluster_label*``, ``labels.get``), in
  https://github.com/vexxhost/magnum-cluster-api/blob/main/docs/user/labels.md and
  magnum_cluster_api/utils.py; ``kube_tag`` picks the Kubernetes version (default ``v1.25.3``,
  utils.get_kube_tag) and must match the image's. ``provides``: ubuntu, ubuntu-focal, debian,
  flatcar, rockylinux (driver.py).
* ``heat``: the removed ``k8s_fedora_coreos_v1`` driver, for an old cloud that still runs it.
  Labels from the table of Magnum's user guide
  https://docs.openstack.org/magnum/2024.2/user/index.html#labels ; hyperkube images are
  ``rancher/hyperkube:<kube_tag>`` and published with a ``-rancherN`` suffix only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

MagnumDriver = Literal["capi-helm", "cluster-api", "heat"]


@dataclass(frozen=True)
class DriverFacts:
    """What one driver does with a ClusterTemplate, a Cluster and its NodeGroups."""

    name: MagnumDriver
    docs: str
    """The source the facts come from."""
    labels: frozenset[str]
    """Cluster/template labels the driver reads. Anything else is ignored by it."""
    os_distros: frozenset[str]
    """``os_distro`` values of images the driver serves (its ``provides``)."""
    kube_tag: Literal["required", "forbidden", "optional"]
    """``required``: ``kube_tag`` picks the version; ``forbidden``: the image does."""
    ignored_template_fields: frozenset[str]
    """ClusterTemplate fields (our camelCase keys) the driver does not read."""
    network_drivers: frozenset[str]
    """CNIs it can deploy."""
    node_group_label: str
    """Node label the driver puts on every node of a node group; ``{name}``/``{role}`` are
    the group's."""
    node_group_labels: frozenset[str]
    """NodeGroup labels the driver reads (the rest is ignored)."""
    taints_node_groups: bool
    """Whether it can taint a node group's nodes. None of the three can."""
    default_node_cidr: str | None = None
    """The nodes' subnet when the cluster makes its own network (``fixed_subnet_cidr``)."""


CAPI_HELM = DriverFacts(
    name="capi-helm",
    docs="https://opendev.org/openstack/magnum-capi-helm/src/branch/master/magnum_capi_helm/conf.py",
    labels=frozenset(
        {
            "etcd_blockdevice_size",
            "etcd_blockdevice_type",
            "etcd_blockdevice_volume_type",
            "etcd_blockdevice_volume_az",
            "etcd_volume_size",
            "etcd_volume_type",
            "monitoring_enabled",
            "kube_dashboard_enabled",
            "auto_healing_enabled",
            "auto_scaling_enabled",
            "min_node_count",
            "max_node_count",
            "keystone_auth_enabled",
            "csi_cinder_availability_zone",
            "csi_cinder_reclaim_policy",
            "csi_cinder_volume_binding_mode",
            "csi_cinder_fstype",
            "csi_cinder_allow_volume_expansion",
            "octavia_provider",
            "octavia_lb_algorithm",
            "octavia_lb_healthcheck",
            "master_lb_floating_ip_enabled",
            "fixed_subnet_cidr",
            "api_master_lb_allowed_cidrs",
            "extra_network_names",
            "extra_network_name",  # deprecated name of extra_network_names
            "boot_volume_type",
            "boot_volume_size",
            "capi_helm_chart_version",
        }
    ),
    os_distros=frozenset({"ubuntu", "flatcar"}),
    kube_tag="forbidden",
    # driver.py reads image, flavors, keypair, external network, dns_nameserver,
    # network_driver and labels; the API load balancer always exists and nodes get no
    # floating IPs; Docker volumes and volume drivers are Heat-era fields.
    ignored_template_fields=frozenset(
        {"dockerVolumeSize", "volumeDriver", "floatingIpEnabled", "masterLbEnabled"}
    ),
    # capi-helm-charts cluster-addons values.yaml: "supported values are calico or cilium".
    network_drivers=frozenset({"calico", "cilium"}),
    # openstack-cluster chart, node-group/kubeadm-config-template.yaml: every node of a group
    # is labelled `<projectPrefix>/node-group: <name>`, projectPrefix `capi.stackhpc.com`,
    # the name sanitised by driver_utils.sanitized_name.
    node_group_label="capi.stackhpc.com/node-group={name}",
    # driver.py _process_node_groups passes name, flavor, count and autoscaling only.
    node_group_labels=frozenset(),
    taints_node_groups=False,
    default_node_cidr="10.0.0.0/24",  # conf.py fixed_subnet_cidr default
)

CLUSTER_API = DriverFacts(
    name="cluster-api",
    docs="https://github.com/vexxhost/magnum-cluster-api/blob/main/docs/user/labels.md",
    labels=frozenset(
        {
            "admission_control_list",
            "api_server_cert_sans",
            "api_server_floating_ip",
            "api_server_tls_cipher_suites",
            "audit_log_enabled",
            "audit_log_max_age",
            "audit_log_max_backup",
            "audit_log_max_size",
            "audit_log_maxage",
            "audit_log_maxbackup",
            "audit_log_maxsize",
            "auto_healing_enabled",
            "auto_scaling_enabled",
            "availability_zone",
            "boot_volume_availability_zone",
            "boot_volume_size",
            "boot_volume_type",
            "calico_ipv4pool",
            "calico_tag",
            "cilium_hubble_ui_enabled",
            "cilium_ipv4pool",
            "cinder_csi_plugin_tag",
            "cloud_provider_tag",
            "container_infra_prefix",
            "control_plane_availability_zones",
            "different_failure_domain",
            "dns_cluster_domain",
            "docker_volume_type",
            "etcd_volume_size",
            "etcd_volume_type",
            "fixed_subnet_cidr",
            "keystone_auth_enabled",
            "kube_tag",
            "kubelet_tls_cipher_suites",
            "manila_csi_plugin_tag",
            "manila_csi_share_network_id",
            "master_lb_floating_ip_enabled",
            "max_node_count",
            "min_node_count",
            "octavia_lb_algorithm",
            "octavia_lb_healthcheck",
            "octavia_provider",
            "oidc_client_id",
            "oidc_groups_claim",
            "oidc_groups_prefix",
            "oidc_issuer_url",
            "oidc_username_claim",
            "oidc_username_prefix",
            "server_group_policies",
            "service_cluster_ip_range",
        }
    ),
    os_distros=frozenset({"ubuntu", "ubuntu-focal", "debian", "flatcar", "rockylinux"}),
    kube_tag="required",
    ignored_template_fields=frozenset({"dockerVolumeSize", "volumeDriver"}),
    network_drivers=frozenset({"calico", "cilium"}),
    # resources.py mutate_machine_deployment: node labels `node-role.kubernetes.io/<role>`
    # and `node.cluster.x-k8s.io/nodegroup: <name>`.
    node_group_label="node.cluster.x-k8s.io/nodegroup={name}",
    # utils.py / resources.py read these NodeGroup labels.
    node_group_labels=frozenset(
        {
            "availability_zone",
            "boot_volume_size",
            "boot_volume_type",
            "max_node_count",
            "server_group_policies",
        }
    ),
    taints_node_groups=False,
    default_node_cidr="10.0.0.0/24",  # docs/user/labels.md fixed_subnet_cidr default
)

HEAT = DriverFacts(
    name="heat",
    docs="https://docs.openstack.org/magnum/2024.2/user/index.html#labels",
    labels=frozenset(
        {
            "admission_control_list",
            "auto_healing_controller",
            "auto_healing_enabled",
            "auto_scaling_enabled",
            "autoscaler_tag",
            "availability_zone",
            "boot_volume_size",
            "boot_volume_type",
            "calico_ipv4pool",
            "calico_ipv4pool_ipip",
            "calico_tag",
            "cert_manager_api",
            "cgroup_driver",
            "cinder_csi_enabled",
            "cloud_provider_enabled",
            "cloud_provider_tag",
            "container_infra_prefix",
            "container_runtime",
            "containerd_tarball_sha256",
            "containerd_tarball_url",
            "containerd_version",
            "coredns_tag",
            "docker_volume_type",
            "draino_tag",
            "etcd_tag",
            "etcd_volume_size",
            "etcd_volume_type",
            "fixed_subnet_cidr",
            "flannel_backend",
            "flannel_cni_tag",
            "flannel_network_subnetlen",
            "flannel_tag",
            "heat_container_agent_tag",
            "hyperkube_prefix",
            "ingress_controller",
            "ingress_controller_role",
            "k8s_keystone_auth_tag",
            "keystone_auth_enabled",
            "kube_dashboard_enabled",
            "kube_tag",
            "kubeapi_options",
            "kubecontroller_options",
            "kubelet_options",
            "kubeproxy_options",
            "kubescheduler_options",
            "magnum_auto_healer_tag",
            "master_lb_allowed_cidrs",
            "master_lb_floating_ip_enabled",
            "max_node_count",
            "metrics_server_enabled",
            "min_node_count",
            "monitoring_enabled",
            "node_problem_detector_tag",
            "npd_enabled",
            "octavia_ingress_controller_tag",
            "selinux_mode",
            "service_cluster_ip_range",
            "use_podman",
        }
    ),
    os_distros=frozenset({"fedora-coreos"}),
    kube_tag="required",
    ignored_template_fields=frozenset(),
    network_drivers=frozenset({"calico", "flannel"}),
    # https://docs.openstack.org/magnum/2024.2/user/index.html#node-groups
    node_group_label="magnum.openstack.org/role={role}",
    node_group_labels=frozenset({"availability_zone"}),
    taints_node_groups=False,
)

DRIVERS: dict[str, DriverFacts] = {d.name: d for d in (CAPI_HELM, CLUSTER_API, HEAT)}


@dataclass(frozen=True)
class CapiHelmChart:
    """One version of azimuth-cloud/capi-helm-charts, the charts the capi-helm driver
    installs a cluster with: what it ships and what its CI tests. Read at the chart's tag in
    https://github.com/azimuth-cloud/capi-helm-charts (``charts/cluster-addons/values.yaml``,
    ``charts/cluster-addons/templates/cni/calico.yaml``, ``charts/openstack-cluster/values.yaml``,
    ``.github/workflows/test.yaml``)."""

    version: str
    tested_minors: frozenset[int]
    """Kubernetes minors its CI deploys or upgrades to (``test.yaml``), with those
    magnum-capi-helm's own CI runs on it (``zuul.d/tempest-jobs-v1-*.yaml``)."""
    occm_chart: str
    """The openstack-cloud-controller-manager chart it installs (``openstack.ccm.chart``)."""
    occm_proxy_protocol_values: frozenset[str]
    """Values of ``loadbalancer.openstack.org/proxy-protocol`` that OCCM turns into a PROXY
    listener. Before OCCM chart 2.31.0 (kubernetes/cloud-provider-openstack commit bcd8033c,
    "octavia proxy protocol v2 support") the annotation was read as a boolean and any other
    value, ``v1`` included, fell back to no PROXY protocol (``getBoolFromServiceAnnotation``);
    since, ``getProxyProtocolFromServiceAnnotation`` takes ``true``, ``v1`` and ``v2``.
    https://github.com/kubernetes/cloud-provider-openstack/blob/master/pkg/openstack/loadbalancer.go"""
    pods_cidr: str
    """``kubeNetwork.pods.cidrBlocks`` of the openstack-cluster chart: where pod addresses
    (and Calico's VXLAN tunnel addresses, which kube-proxy's SNAT uses) come from."""
    cni_overhead: int
    """Bytes the CNI's encapsulation takes from the node network's MTU: Calico with
    ``encapsulation: VXLAN`` (calico.yaml), 50 bytes
    (https://docs.tigera.io/calico/latest/networking/configuring/mtu)."""


#: The chart versions whose facts are recorded. magnum-capi-helm's own default is 0.10.1
#: (``default_helm_chart_version`` in magnum_capi_helm/conf.py at 1.4.0); a cluster template
#: picks another with the ``capi_helm_chart_version`` label; its CI runs 0.23.0
#: (zuul.d/base.yaml) with Kubernetes 1.34 and 1.35.
CAPI_HELM_CHARTS: dict[str, CapiHelmChart] = {
    "0.10.1": CapiHelmChart(
        "0.10.1", frozenset({29, 30, 31}), "2.30.2", frozenset({"true"}), "172.16.0.0/13", 50
    ),
    "0.23.0": CapiHelmChart(
        "0.23.0",
        frozenset({32, 33, 34, 35}),
        "2.35.0",
        frozenset({"true", "v1", "v2"}),
        "172.16.0.0/13",
        50,
    ),
    "0.27.0": CapiHelmChart(
        "0.27.0",
        frozenset({33, 34, 35, 36}),
        "2.36.0",
        frozenset({"true", "v1", "v2"}),
        "172.16.0.0/13",
        50,
    ),
}
#: magnum_capi_helm/conf.py: ``default_helm_chart_version``.
CAPI_HELM_DEFAULT_CHART = "0.10.1"


def capi_helm_chart(labels: Mapping[str, str]) -> CapiHelmChart | None:
    """The chart version the capi-helm driver uses for these template labels (None: one
    whose facts are not recorded here)."""
    return CAPI_HELM_CHARTS.get(labels.get("capi_helm_chart_version", CAPI_HELM_DEFAULT_CHART))

#: Image names as the drivers' image builders publish them: Azimuth's
#: ``ubuntu-jammy-kube-v1.31.4-<date>``, Vexxhost capo-image-elements' ``ubuntu-24.04-v1.31.4``,
#: ``fedora-coreos-40`` for Heat. Glance cannot be asked here, so the name is what we check:
#: a Fedora CoreOS image cannot serve a Cluster API driver, and an image named for another
#: Kubernetes version than ``kubernetesVersion`` would bring that version.
_COREOS = re.compile(r"(?i)fedora[-_]?coreos|coreos|atomic")
_IMAGE_VERSION = re.compile(r"(?<![\d.])v?1\.(\d+)(?:\.\d+)?(?![\d])")
#: kube_tag of a Cluster API driver: an exact release (``v1.31.4``).
_EXACT_TAG = re.compile(r"^v1\.(\d+)\.\d+$")
#: The Heat driver's hyperkube images: ``docker.io/rancher/hyperkube:v1.21.11-rancher1``.
_RANCHER_TAG = re.compile(r"^v1\.(\d+)\.\d+-rancher\d+$")


def driver_problems(
    facts: DriverFacts,
    *,
    kubernetes_version: str,
    image: str,
    os_distro: str | None,
    labels: Mapping[str, str],
    template_fields_set: set[str],
    network_driver: str,
    node_group_labels: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """Every way the settings disagree with what ``facts.name`` honours, as messages naming
    the key (relative to ``binder:cluster``) and the fix. Empty when they agree."""
    problems: list[str] = []
    where = f"driver '{facts.name}' ({facts.docs})"
    minor = kubernetes_version.split(".")[1]
    unknown = sorted(set(labels) - facts.labels)
    if "kube_tag" in unknown and facts.kube_tag == "forbidden":
        unknown.remove("kube_tag")
        problems.append(
            "template.labels.kube_tag: the capi-helm driver ignores it and takes the Kubernetes "
            "version from the image's kube_version property; remove kube_tag and choose an "
            f"image built for Kubernetes {kubernetes_version}"
        )
    if unknown:
        problems.append(
            f"template.labels: {', '.join(unknown)} "
            + ("is" if len(unknown) == 1 else "are")
            + f" not read by the {where}, so it would be silently ignored; remove "
            + ("it" if len(unknown) == 1 else "them")
            + " or choose the driver that reads "
            + ("it" if len(unknown) == 1 else "them")
        )
    tag = labels.get("kube_tag")
    if facts.kube_tag == "required":
        if not tag:
            problems.append(
                f"template.labels.kube_tag: required by the {facts.name} driver, which picks "
                f"the Kubernetes version from it; set it to the exact release of the image, "
                f"such as 'v{kubernetes_version}.4'"
                + ("-rancher1" if facts.name == "heat" else "")
            )
        else:
            rancher = facts.name == "heat" and "hyperkube_prefix" not in labels
            match = (_RANCHER_TAG if rancher else _EXACT_TAG).match(tag)
            if not match:
                problems.append(
                    f"template.labels.kube_tag '{tag}' is not a release the {facts.name} driver "
                    "can run; "
                    + (
                        "its hyperkube images are published as vX.Y.Z-rancherN (e.g. "
                        f"'v{kubernetes_version}.4-rancher1'), or set hyperkube_prefix to a "
                        "registry that has the bare tag"
                        if facts.name == "heat"
                        else f"give the exact release, such as 'v{kubernetes_version}.4'"
                    )
                )
            elif match.group(1) != minor:
                problems.append(
                    f"template.labels.kube_tag '{tag}' does not match kubernetesVersion "
                    f"'{kubernetes_version}'; make them agree"
                )
    if facts.name == "capi-helm":
        given = labels.get("capi_helm_chart_version")
        chart = capi_helm_chart(labels)
        if chart is None:
            problems.append(
                f"template.labels.capi_helm_chart_version '{given}' is not a capi-helm-charts "
                "version whose facts components/config/magnum_drivers.py records ("
                + ", ".join(sorted(CAPI_HELM_CHARTS))
                + "); use one of those, or record the new one (its OCCM, pod network and "
                "tested Kubernetes versions) first"
            )
        elif int(minor) not in chart.tested_minors:
            which = (
                f"template.labels.capi_helm_chart_version '{given}'"
                if given
                else f"the capi-helm driver's default chart {chart.version} (no "
                "template.labels.capi_helm_chart_version)"
            )
            tested = ", ".join(f"1.{m}" for m in sorted(chart.tested_minors))
            others = [
                c.version for c in CAPI_HELM_CHARTS.values() if int(minor) in c.tested_minors
            ]
            fix = (
                f"set template.labels.capi_helm_chart_version to {' or '.join(others)}, which "
                "tests it, or choose a tested Kubernetes version"
                if others
                else "no recorded chart tests it: choose a tested Kubernetes version"
            )
            problems.append(
                f"kubernetesVersion '{kubernetes_version}' is not one {which} is tested with "
                f"({tested}); {fix}"
            )
    image_is_coreos = bool(_COREOS.search(image))
    if facts.name == "heat" and not image_is_coreos:
        problems.append(
            f"template.image '{image}': the heat driver (k8s_fedora_coreos_v1) boots only "
            "Fedora CoreOS images; choose one, or the Cluster API driver this image is for"
        )
    if facts.name != "heat" and image_is_coreos:
        problems.append(
            f"template.image '{image}' is a Fedora CoreOS image, which only Magnum's removed "
            f"heat driver boots; the {facts.name} driver needs an image with Kubernetes baked "
            f"in and os_distro one of {', '.join(sorted(facts.os_distros))}: ask the cloud's "
            "operators for its name"
        )
    versioned = _IMAGE_VERSION.search(image)
    if facts.name != "heat" and versioned and versioned.group(1) != minor:
        problems.append(
            f"template.image '{image}' is named for Kubernetes 1.{versioned.group(1)}, but "
            f"kubernetesVersion is '{kubernetes_version}'; the {facts.name} driver runs the "
            "image's version, so choose the image of that version or change kubernetesVersion"
        )
    if os_distro is not None and os_distro not in facts.os_distros:
        problems.append(
            f"template.osDistro '{os_distro}': Magnum gives images of that os_distro to another "
            f"driver; the {facts.name} driver serves {', '.join(sorted(facts.os_distros))}"
        )
    ignored = sorted(template_fields_set & facts.ignored_template_fields)
    if ignored:
        problems.append(
            f"template: {', '.join(ignored)} "
            + ("is" if len(ignored) == 1 else "are")
            + f" ignored by the {where}; remove "
            + ("it" if len(ignored) == 1 else "them")
        )
    if network_driver not in facts.network_drivers:
        problems.append(
            f"template.networkDriver '{network_driver}': the {facts.name} driver deploys "
            f"{' or '.join(sorted(facts.network_drivers))}"
        )
    for group, group_labels in node_group_labels.items():
        unread = sorted(set(group_labels) - facts.node_group_labels)
        if unread:
            problems.append(
                f"nodeGroups[{group}].labels: {', '.join(unread)} not read by the {facts.name} "
                "driver (node groups are placed by the node label "
                f"'{facts.node_group_label}'); remove them"
            )
    return problems
