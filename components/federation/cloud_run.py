"""The front door on Cloud Run (``frontDoor.platform: cloudRun``): a platform of its own, up
whichever member is down.

* A Cloud Run service runs the redirector image (by digest) under a service account of its
  own that holds no role, its configuration in ``$FEDERATION_CONFIG_JSON`` (a change makes a
  new revision, rolled out by Cloud Run), at least ``minInstances`` warm instances with
  **CPU always allocated** (``cpu_idle: false``): the health loops run between requests,
  which Cloud Run's default request-based billing would throttle
  (https://cloud.google.com/run/docs/configuring/billing-settings). Its ingress is
  ``INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER``: reachable only through the load balancer
  (https://cloud.google.com/run/docs/securing/ingress), and invokable by ``allUsers`` (a
  public service).
* Google's global external Application Load Balancer in front of it: a serverless network
  endpoint group, a backend service, URL maps (HTTPS; HTTP answered with a redirect to
  HTTPS), a Google-managed certificate for the front door's host, and a global static
  address (:mod:`components.network.global_address`) that the DNS record names
  (https://cloud.google.com/load-balancing/docs/https/setup-global-ext-https-serverless).
* The A record in Cloud DNS (``frontDoor.dns``, by :class:`components.network.dns.
  DnsRecords`), or the ``dns_records`` output to create by hand. The certificate is issued
  once the name resolves to the address.

Arguments are the SDK's typed ``*Args`` classes, so a misspelled field fails at once; the
tests pin the registered inputs (tests/components/federation/). What Google accepts stays
unverified here (README, "What stays unverifiable").
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config.federation import CloudRunFrontDoor as CloudRunConfig
from components.federation.plan import FederationPlan
from components.network.global_address import global_address

PORT = 8080
#: The service account's ID (6-30 characters).
SERVICE_ACCOUNT = "binder-front-door"


@dataclass(frozen=True)
class CloudRunFrontDoorArgs:
    """Inputs of :class:`CloudRunFrontDoor`."""

    plan: FederationPlan
    document: pulumi.Input[str]
    """The redirector's configuration (JSON)."""


class CloudRunFrontDoor(pulumi.ComponentResource):
    """The redirector on Cloud Run behind a global HTTPS load balancer."""

    address: pulumi.Output[str]
    service: gcp.cloudrunv2.Service

    def __init__(self, name: str, args: CloudRunFrontDoorArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("binder:federation:CloudRunFrontDoor", name, None, opts)
        plan, cfg = args.plan, args.plan.config
        door = cfg.front_door
        assert isinstance(door, CloudRunConfig)  # noqa: S101 (the caller's choice)
        project, region = plan.gcp_project, door.region
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-sa", account_id=SERVICE_ACCOUNT, project=project,
            display_name="Binder federation front door (no roles)", opts=child)
        probe = gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
            path="/health", port=PORT)
        self.service = gcp.cloudrunv2.Service(
            f"{name}-service",
            name="binder-front-door", location=region, project=project,
            ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
            # Pulumi's `protect` is this project's guard; the provider's own would make
            # every `destroy` fail half-way.
            deletion_protection=False,
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=account.email,
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=door.min_instances,
                    max_instance_count=door.max_instances),
                containers=[gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    image=cfg.image,
                    envs=[gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                        name="FEDERATION_CONFIG_JSON", value=args.document)],
                    ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(
                        container_port=PORT),
                    resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                        limits={"cpu": door.cpu, "memory": door.memory}, cpu_idle=False),
                    startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                        http_get=probe, period_seconds=2, failure_threshold=15),
                    liveness_probe=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                        http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                            path="/health", port=PORT),
                        period_seconds=15, failure_threshold=4),
                )],
            ),
            opts=child)
        gcp.cloudrunv2.ServiceIamMember(
            f"{name}-public", name=self.service.name, location=region, project=project,
            role="roles/run.invoker", member="allUsers", opts=child)
        endpoints = gcp.compute.RegionNetworkEndpointGroup(
            f"{name}-neg", name="binder-front-door", region=region, project=project,
            network_endpoint_type="SERVERLESS",
            cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(
                service=self.service.name),
            opts=child)
        backend = gcp.compute.BackendService(
            f"{name}-backend", name="binder-front-door", project=project,
            load_balancing_scheme="EXTERNAL_MANAGED", protocol="HTTPS",
            backends=[gcp.compute.BackendServiceBackendArgs(group=endpoints.id)],
            opts=child)
        https_map = gcp.compute.URLMap(
            f"{name}-https", name="binder-front-door", project=project,
            default_service=backend.id, opts=child)
        certificate = gcp.compute.ManagedSslCertificate(
            f"{name}-certificate", name="binder-front-door", project=project,
            managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[cfg.host]),
            # A new certificate for a new host, in place before the old one goes.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False))
        https_proxy = gcp.compute.TargetHttpsProxy(
            f"{name}-https-proxy", name="binder-front-door", project=project,
            url_map=https_map.id, ssl_certificates=[certificate.id], opts=child)
        self.address = global_address(
            f"{name}-address", address_name="binder-front-door", project=project,
            description=f"Public address of the Binder federation front door {cfg.host}",
            opts=child)
        gcp.compute.GlobalForwardingRule(
            f"{name}-https-rule", name="binder-front-door-https", project=project,
            load_balancing_scheme="EXTERNAL_MANAGED", ip_address=self.address,
            port_range="443", target=https_proxy.id, opts=child)
        redirect_map = gcp.compute.URLMap(
            f"{name}-http", name="binder-front-door-http", project=project,
            default_url_redirect=gcp.compute.URLMapDefaultUrlRedirectArgs(
                https_redirect=True, strip_query=False,
                redirect_response_code="MOVED_PERMANENTLY_DEFAULT"),
            opts=child)
        http_proxy = gcp.compute.TargetHttpProxy(
            f"{name}-http-proxy", name="binder-front-door-http", project=project,
            url_map=redirect_map.id, opts=child)
        gcp.compute.GlobalForwardingRule(
            f"{name}-http-rule", name="binder-front-door-http", project=project,
            load_balancing_scheme="EXTERNAL_MANAGED", ip_address=self.address,
            port_range="80", target=http_proxy.id, opts=child)
        self.register_outputs({"address": self.address, "service": self.service.uri})
