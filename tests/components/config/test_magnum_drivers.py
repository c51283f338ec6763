"""The Magnum driver families: each driver's labels, fields, images and node labels, and every
bad combination refused by the configuration (so before any resource)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config.base import ConfigError
from components.config.cluster import MagnumCluster
from components.config.magnum_drivers import CAPI_HELM, CLUSTER_API, DRIVERS, HEAT
from components.config.stack import parse_config
from tests.components.config.test_stack import stack_binder_config


def ebi(**cluster: Any) -> dict[str, Any]:
    """The ebi stack's config with ``binder:cluster`` keys replaced (None deletes)."""
    raw = copy.deepcopy(stack_binder_config("ebi"))
    for key, value in cluster.items():
        if value is None:
            raw["cluster"].pop(key, None)
        else:
            raw["cluster"][key] = value
    return raw


def template(**changes: Any) -> dict[str, Any]:
    tpl = copy.deepcopy(stack_binder_config("ebi")["cluster"]["template"])
    for key, value in changes.items():
        if value is None:
            tpl.pop(key, None)
        else:
            tpl[key] = value
    return tpl


def cluster_of(raw: dict[str, Any]) -> MagnumCluster:
    cluster = parse_config(raw).cluster
    assert isinstance(cluster, MagnumCluster)
    return cluster


# ---- facts read in the drivers' sources (see the module's links) -------------------------


def test_capi_helm_facts() -> None:
    # magnum_capi_helm/conf.py [capi_helm_cluster_labels]; driver.py _get_kube_version.
    assert {"octavia_provider", "capi_helm_chart_version", "monitoring_enabled",
            "extra_network_names", "fixed_subnet_cidr", "api_master_lb_allowed_cidrs",
            "csi_cinder_volume_binding_mode"} <= CAPI_HELM.labels
    assert "kube_tag" not in CAPI_HELM.labels
    assert CAPI_HELM.kube_tag == "forbidden"
    assert "container_runtime" not in CAPI_HELM.labels  # Heat-era
    assert CAPI_HELM.os_distros == {"ubuntu", "flatcar"}  # Driver.provides
    assert CAPI_HELM.node_group_label == "capi.stackhpc.com/node-group={name}"
    assert CAPI_HELM.default_node_cidr == "10.0.0.0/24"
    assert not CAPI_HELM.node_group_labels  # _process_node_groups sends none


def test_cluster_api_facts() -> None:
    # vexxhost docs/user/labels.md; utils.get_kube_tag; resources.mutate_machine_deployment.
    assert {"kube_tag", "octavia_provider", "fixed_subnet_cidr", "oidc_issuer_url"} <= (
        CLUSTER_API.labels
    )
    assert CLUSTER_API.kube_tag == "required"
    assert CLUSTER_API.node_group_label == "node.cluster.x-k8s.io/nodegroup={name}"
    assert {"ubuntu", "flatcar", "rockylinux"} <= CLUSTER_API.os_distros


def test_heat_facts() -> None:
    assert {"kube_tag", "container_runtime", "cinder_csi_enabled", "hyperkube_prefix"} <= (
        HEAT.labels
    )
    assert HEAT.os_distros == {"fedora-coreos"}
    assert HEAT.node_group_label == "magnum.openstack.org/role={role}"


def test_no_driver_taints_node_groups() -> None:
    assert not any(d.taints_node_groups for d in DRIVERS.values())


# ---- what each driver gets -------------------------------------------------------------


def test_ebi_is_on_capi_helm_with_a_user_group_selected_by_its_node_label() -> None:
    cluster = cluster_of(stack_binder_config("ebi"))
    assert cluster.driver == "capi-helm"
    assert cluster.user_node_selector == {"capi.stackhpc.com/node-group": "user"}
    assert not cluster.user_nodes_tainted
    assert cluster.node_cidr == "10.0.0.0/24"


def test_driver_defaults_to_capi_helm() -> None:
    assert cluster_of(ebi(driver=None)).driver == "capi-helm"


def test_cluster_api_driver_with_kube_tag() -> None:
    labels = {"kube_tag": "v1.36.3", "octavia_provider": "ovn", "keystone_auth_enabled": "true"}
    cluster = cluster_of(
        ebi(driver="cluster-api", template=template(image="ubuntu-24.04-v1.36.3", labels=labels))
    )
    assert cluster.user_node_selector == {"node.cluster.x-k8s.io/nodegroup": "user"}


def test_heat_driver_still_possible_on_an_old_cloud() -> None:
    labels = {"kube_tag": "v1.36.3-rancher1", "container_runtime": "containerd",
              "cinder_csi_enabled": "true", "keystone_auth_enabled": "true"}
    cluster = cluster_of(
        ebi(driver="heat", template=template(image="fedora-coreos-40", labels=labels,
                                             osDistro="fedora-coreos", dockerVolumeSize=100,
                                             volumeDriver="cinder"))
    )
    assert cluster.user_node_selector == {"magnum.openstack.org/role": "user"}


def test_capi_helm_group_name_is_sanitised_as_the_driver_does() -> None:
    raw = ebi()
    raw["cluster"]["nodeGroups"][0]["name"] = "user-pool"
    assert cluster_of(raw).user_node_selector == {"capi.stackhpc.com/node-group": "user-pool"}


BAD: list[Any] = [
    pytest.param(
        ebi(template=template(labels={"container_runtime": "containerd",
                                      "keystone_auth_enabled": "true"})),
        ["binder:cluster", "container_runtime", "not read by the driver 'capi-helm'"],
        id="heat-label-on-capi-helm",
    ),
    pytest.param(
        ebi(template=template(labels={"kube_tag": "v1.36.3", "keystone_auth_enabled": "true"})),
        ["kube_tag", "kube_version property"], id="kube-tag-on-capi-helm",
    ),
    pytest.param(
        ebi(template=template(image="fedora-coreos-40")),
        ["template.image 'fedora-coreos-40'", "Fedora CoreOS", "capi-helm"],
        id="coreos-image-on-capi-helm",
    ),
    pytest.param(
        ebi(template=template(image="ubuntu-jammy-kube-v1.29.8")),
        ["named for Kubernetes 1.29", "kubernetesVersion is '1.36'"], id="image-version",
    ),
    pytest.param(
        ebi(template=template(osDistro="fedora-coreos")),
        ["template.osDistro 'fedora-coreos'", "flatcar, ubuntu"], id="os-distro",
    ),
    pytest.param(
        ebi(template=template(dockerVolumeSize=100)),
        ["template: dockerVolumeSize is ignored"], id="docker-volume-on-capi",
    ),
    pytest.param(
        ebi(template=template(networkDriver="flannel")),
        ["networkDriver 'flannel'", "calico or cilium"], id="flannel-on-capi",
    ),
    pytest.param(
        ebi(nodeGroups=[{"name": "user", "purpose": "user", "labels": {"role": "x"}}]),
        ["nodeGroups[user].labels: role", "capi.stackhpc.com/node-group"],
        id="node-group-labels-on-capi-helm",
    ),
    pytest.param(
        ebi(nodeGroups=[{"name": "user", "purpose": "user", "dockerVolumeSize": 200}]),
        ["nodeGroups[user].dockerVolumeSize is ignored"], id="node-group-docker-volume",
    ),
    pytest.param(
        ebi(driver="cluster-api", template=template(
            image="ubuntu-24.04-v1.36.3", labels={"keystone_auth_enabled": "true"})),
        ["kube_tag: required by the cluster-api driver"], id="cluster-api-without-kube-tag",
    ),
    pytest.param(
        ebi(driver="cluster-api", template=template(
            image="ubuntu-24.04-v1.36.3",
            labels={"kube_tag": "v1.35.2", "keystone_auth_enabled": "true"})),
        ["kube_tag 'v1.35.2' does not match kubernetesVersion '1.36'"],
        id="cluster-api-kube-tag-mismatch",
    ),
    pytest.param(
        ebi(driver="cluster-api", template=template(
            image="ubuntu-24.04-v1.36.3",
            labels={"kube_tag": "1.31", "keystone_auth_enabled": "true"})),
        ["kube_tag '1.31' is not a release"], id="cluster-api-kube-tag-not-exact",
    ),
    pytest.param(
        ebi(driver="heat", template=template(
            image="fedora-coreos-40",
            labels={"kube_tag": "v1.36.3", "keystone_auth_enabled": "true"})),
        ["kube_tag 'v1.36.3'", "-rancherN"], id="heat-bare-kube-tag",
    ),
    pytest.param(
        ebi(driver="heat", template=template(labels={"kube_tag": "v1.36.3-rancher1",
                                                     "keystone_auth_enabled": "true"})),
        ["heat driver (k8s_fedora_coreos_v1) boots only Fedora CoreOS"], id="heat-ubuntu-image",
    ),
    pytest.param(
        ebi(driver="kubespray"), ["binder:cluster.driver", "'capi-helm'"], id="unknown-driver",
    ),
]


@pytest.mark.parametrize(("raw", "words"), BAD)
def test_bad_combination_is_one_clear_error(raw: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    for word in words:
        assert word in str(raised.value)


def test_dind_uses_a_docker_volume_only_on_the_heat_driver() -> None:
    from components.config.service import BuilderConfig
    from components.releases.builder import dind_data_dir

    assert dind_data_dir(BuilderConfig(), cluster_of(stack_binder_config("ebi"))) == (
        "/var/lib/dind"
    )
    labels = {"kube_tag": "v1.36.3-rancher1", "keystone_auth_enabled": "true"}
    heat = cluster_of(
        ebi(driver="heat", template=template(image="fedora-coreos-40", labels=labels,
                                             osDistro="fedora-coreos", dockerVolumeSize=100))
    )
    assert dind_data_dir(BuilderConfig(), heat) == "/var/lib/docker/dind"


def test_defaults_written_out_are_not_refused() -> None:
    """A dumped and re-read config (defaults written out) stays valid."""
    cluster_of(ebi(template=template(masterLbEnabled=True, floatingIpEnabled=False)))
    with pytest.raises(ConfigError, match="floatingIpEnabled, masterLbEnabled are ignored"):
        cluster_of(ebi(template=template(masterLbEnabled=False, floatingIpEnabled=True)))


# ---- the capi-helm driver's chart version (issue 21) ------------------------------------


def test_capi_helm_chart_facts() -> None:
    from components.config.magnum_drivers import CAPI_HELM_CHARTS, CAPI_HELM_DEFAULT_CHART

    # magnum_capi_helm/conf.py default_helm_chart_version at 1.4.0.
    assert CAPI_HELM_DEFAULT_CHART == "0.10.1"
    # charts/cluster-addons/values.yaml openstack.ccm.chart.version at each tag, and the
    # versions .github/workflows/test.yaml deploys (0.23.0: with magnum-capi-helm's CI,
    # zuul.d/base.yaml default_helm_chart_version 0.23.0, tempest jobs v1-34 and v1-35).
    assert {v: c.occm_chart for v, c in CAPI_HELM_CHARTS.items()} == {
        "0.10.1": "2.30.2", "0.23.0": "2.35.0", "0.27.0": "2.36.0"}
    assert {v: sorted(c.tested_minors) for v, c in CAPI_HELM_CHARTS.items()} == {
        "0.10.1": [29, 30, 31], "0.23.0": [32, 33, 34, 35], "0.27.0": [33, 34, 35, 36]}
    # OCCM before chart 2.31.0 reads the proxy-protocol annotation as a boolean: `v1` is
    # "not a boolean" and falls back to no PROXY protocol. `true` works in every version.
    assert CAPI_HELM_CHARTS["0.10.1"].occm_proxy_protocol_values == {"true"}
    assert all("true" in c.occm_proxy_protocol_values for c in CAPI_HELM_CHARTS.values())
    # openstack-cluster values.yaml kubeNetwork.pods; calico.yaml `encapsulation: VXLAN`.
    assert {c.pods_cidr for c in CAPI_HELM_CHARTS.values()} == {"172.16.0.0/13"}
    assert {c.cni_overhead for c in CAPI_HELM_CHARTS.values()} == {50}


def test_the_ebi_stack_pins_a_chart_tested_with_its_version() -> None:
    cluster = cluster_of(ebi())
    assert cluster.template.labels["capi_helm_chart_version"] == "0.27.0"
    assert cluster.kubernetes_version == "1.36"


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        ({}, ["the capi-helm driver's default chart 0.10.1", "(1.29, 1.30, 1.31)",
              "capi_helm_chart_version to 0.27.0"]),
        ({"capi_helm_chart_version": "0.23.0"},
         ["capi_helm_chart_version '0.23.0' is tested with (1.32, 1.33, 1.34, 1.35)"]),
        ({"capi_helm_chart_version": "0.99.0"},
         ["'0.99.0' is not a capi-helm-charts version", "0.10.1, 0.23.0, 0.27.0"]),
    ],
    ids=["driver-default", "untested", "unknown"],
)
def test_a_chart_version_not_tested_with_the_kubernetes_version_is_refused(
    labels: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        cluster_of(ebi(template=template(labels={"keystone_auth_enabled": "true", **labels})))
    for word in words:
        assert word in str(raised.value)
