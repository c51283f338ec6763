"""Harbor: a registry in the cluster for the images BinderHub builds, with retention (issue 21,
item 8; ``binder:harbor``, off by default).

Docker Hub keeps every image BinderHub pushes, forever; Artifact Registry (``gcp``) has a
cleanup policy, the other stacks had nothing. mybinder.org's federation runs Harbor for every
member (mybinder.org-deploy ``terraform/modules/harbor/main.tf``, see
../shared/notes/operators.md): one project with a storage quota, a retention policy that
deletes images not pulled for 30 days, a garbage-collection schedule that frees their blobs,
and robot accounts ``builder`` (push) and ``user-puller`` (pull). This module does the same:

* the ``harbor`` chart (https://github.com/goharbor/harbor-helm @ v1.19.1, pinned in
  :mod:`components.catalog.charts`), exposed through our Ingress controller with our
  certificate source, with a generated admin password and secret key;
* through the ``pulumiverse-harbor`` provider (https://github.com/pulumiverse/pulumi-harbor,
  3.10.21), talking to that Harbor's API as ``admin``: the project, its quota, the retention
  policy, the garbage-collection schedule, and the two robot accounts, whose secrets we
  generate (``RobotAccount.secret``) so that they are Pulumi secrets from the start.

BinderHub pushes with the ``builder`` robot (:attr:`Harbor.push_credentials`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_random as random
import pulumiverse_harbor as harbor

from components.catalog import charts
from components.config.harbor import HarborConfig
from components.releases import helm
from components.releases.ingress_tls import (
    INSTITUTION_SECRET,
    IngressTls,
    institution_tls_secret,
)
from components.secrets.deployment import RegistryCredentials, TlsCertificate

#: Harbor's built-in administrator (the chart's ``harborAdminPassword`` is theirs).
ADMIN_USER = "admin"
#: The Secret cert-manager fills for Harbor's Ingress (``expose.tls.secret.secretName``).
TLS_SECRET = "harbor-tls"  # noqa: S105 (a Secret's name, not a secret)
#: The robots' names, as mybinder.org's (``harbor_robot_account`` ``builder`` and
#: ``user-puller`` in terraform/modules/harbor/main.tf @ 0e7f826c, there prefixed per member).
PUSH_ROBOT = "builder"
PULL_ROBOT = "user-puller"
#: The chart's ``secretKey`` "must be a string of 16 chars" (values.yaml L378 @ v1.19.1): it
#: is the AES key core and jobservice encrypt stored credentials with.
SECRET_KEY_LENGTH = 16
#: Robot secrets are generated with upper- and lower-case letters and digits, the character
#: classes Harbor asks of a robot secret it is given; Harbor's own rule (length, classes) was
#: not read at source here: a secret it refused would fail the RobotAccount on `pulumi up`.
ROBOT_SECRET_LENGTH = 32


def harbor_values(
    config: HarborConfig, *, tls: IngressTls, ingress_class: str
) -> dict[str, Any]:
    """Layer 3 of the harbor values: exposed by our Ingress controller at
    ``binder:harbor.hostname`` with our certificate source, and the registry's volume size.
    Keys from the chart's values.yaml @ v1.19.1 (``expose.*``, ``externalURL``,
    ``persistence.persistentVolumeClaim.registry.size``);
    tests/components/releases/test_harbor.py renders them with the pinned chart."""
    host = config.hostname or ""
    annotations = tls.annotations()
    certificate: dict[str, Any] = {"enabled": tls.enabled}
    if tls.enabled:
        # `secret`: the chart mounts a Secret we name instead of generating a self-signed
        # one on every render (`auto`). cert-manager fills `harbor-tls` from the Ingress'
        # cluster-issuer annotation; an institution certificate is already stored as
        # `institution-tls` in the namespace (components/releases/ingress_tls.py).
        name = INSTITUTION_SECRET if tls.source == "institution" else TLS_SECRET
        certificate.update({"certSource": "secret", "secret": {"secretName": name}})
    return {
        "expose": {
            "type": "ingress",
            "tls": certificate,
            "ingress": {
                "hosts": {"core": host},
                "className": ingress_class,
                "annotations": annotations,
            },
        },
        # What Harbor tells clients its address is (token realm, pull URLs).
        "externalURL": tls.url(host),
        "persistence": {
            "enabled": True,
            # Keep the images when the release is deleted (the chart's default, kept on
            # purpose): a rebuild of everything costs hours.
            "resourcePolicy": "keep",
            "persistentVolumeClaim": {"registry": {"size": config.storage_size}},
        },
        # Images are scanned on demand only: BinderHub's images are the users' own code.
        "trivy": {"enabled": False},
    }


@dataclass(frozen=True, kw_only=True)
class HarborArgs(helm.ReleasePlacement):
    """Inputs of :class:`Harbor`; where the release goes is
    :class:`~components.releases.helm.ReleasePlacement`'s."""

    config: HarborConfig
    """``binder:harbor`` (enabled, with a hostname)."""
    tls: IngressTls
    """The stack's certificate source; Harbor's Ingress uses it like every public host."""
    ingress_class: str
    """The IngressClass of our Traefik."""
    institution_certificate: TlsCertificate | None = None
    """With ``binder:tls.source: institution``: the certificate, stored in Harbor's
    namespace for its Ingress."""
    namespace: str = "harbor"


class Harbor(pulumi.ComponentResource):
    """The Harbor release and, through its API, the project BinderHub pushes to."""

    def __init__(
        self, name: str, args: HarborArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:harbor:Harbor", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)

        def generated(part: str, length: int) -> pulumi.Output[str]:
            password = random.RandomPassword(
                f"{name}-{part}", random.RandomPasswordArgs(length=length, special=False,
                min_upper=1, min_lower=1, min_numeric=1), opts=child,
            )
            # `result` is a secret output of the provider; said here too, so that no code
            # path (nor a mock engine) sees it as plain.
            return pulumi.Output.secret(password.result)

        admin_password = generated("admin-password", 32)
        waits: list[pulumi.Resource] = []
        if args.tls.source == "institution" and args.institution_certificate is not None:
            waits.append(institution_tls_secret(
                f"{name}-tls", args.namespace, args.institution_certificate,
                args.in_namespace(self),
            ))
        self.release = args.helm_release(
            f"{name}-release",
            charts.HARBOR,
            parent=self,
            computed=harbor_values(config, tls=args.tls, ingress_class=args.ingress_class),
            # The chart's defaults are well-known passwords (values.yaml @ v1.19.1:
            # `harborAdminPassword: "Harbor12345"`, `secretKey: "not-a-secure-key"`, the
            # internal database's `changeit`, the registry's `harbor_registry_password`):
            # each one that applies to our setup is generated here.
            secrets={
                "harborAdminPassword": admin_password,
                "secretKey": generated("secret-key", SECRET_KEY_LENGTH),
                "database": {"internal": {"password": generated("database-password", 32)}},
                "registry": {"credentials": {"password": generated("registry-password", 32)}},
            },
            depends_on=waits,
            # Five Deployments and two StatefulSets with volumes: the first install pulls
            # and initialises the database; the API must answer before the project is made.
            timeout=900,
            atomic=False,
            cleanup_on_fail=False,
            skip_await=False,
            holds_secrets=True,
        )
        url = args.tls.url(config.hostname or "")
        # The provider talks to Harbor's API through its public URL, as mybinder.org's
        # terraform does; the password is a secret input, never in plain state.
        # https://github.com/pulumiverse/pulumi-harbor (Provider: url, username, password)
        self.provider = harbor.Provider(
            f"{name}-api",
            harbor.ProviderArgs(url=url, username=ADMIN_USER, password=admin_password),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        api = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.project = harbor.Project(
            f"{name}-project",
            harbor.ProjectArgs(
                name=config.project,
                # Private: nodes pull with the user-puller robot's pull Secret.
                public=False,
                storage_quota=config.quota_gb,  # in GB (the provider's `storage_quota`)
                vulnerability_scanning=False,
            ),
            opts=api,
        )
        # mybinder.org's rules (terraform/modules/harbor/main.tf @ 0e7f826c, resource
        # harbor_retention_policy.builds): Harbor retains what any rule matches -- pulled in
        # the last N days, or pushed in the last M -- in every repository and tag, untagged
        # artifacts not retained; everything else goes.
        # https://github.com/pulumiverse/pulumi-harbor (RetentionPolicyRule).
        self.retention = harbor.RetentionPolicy(
            f"{name}-retention",
            harbor.RetentionPolicyArgs(
                scope=self.project.id,
                schedule=config.retention_schedule,
                rules=[
                    harbor.RetentionPolicyRuleArgs(
                        n_days_since_last_pull=config.retention_days,
                        repo_matching="**", tag_matching="**", untagged_artifacts=False,
                    ),
                    harbor.RetentionPolicyRuleArgs(
                        n_days_since_last_push=config.retention_push_days,
                        repo_matching="**", tag_matching="**", untagged_artifacts=False,
                    ),
                ],
            ),
            opts=api,
        )
        # Retention deletes artifacts; only garbage collection frees their blobs on disk.
        self.gc = harbor.GarbageCollection(
            f"{name}-gc",
            harbor.GarbageCollectionArgs(schedule=config.gc_schedule, delete_untagged=True),
            opts=api,
        )
        self.push_credentials = self._robot(name, config.project, PUSH_ROBOT,
                                            ["push", "pull"], generated, api)
        self.pull_credentials = self._robot(name, config.project, PULL_ROBOT,
                                            ["pull"], generated, api)
        self.register_outputs({"url": url, "project": config.project})

    def _robot(self, name: str, project: str, robot: str, actions: list[str],
               generated: Any, api: pulumi.ResourceOptions) -> RegistryCredentials:
        secret = generated(f"{robot}-secret", ROBOT_SECRET_LENGTH)
        account = harbor.RobotAccount(
            f"{name}-{robot}",
            harbor.RobotAccountArgs(
                name=robot,
                level="project",
                description=f"BinderHub ({', '.join(actions)})",
                secret=secret,
                permissions=[
                    harbor.RobotAccountPermissionArgs(
                        kind="project",
                        namespace=project,
                        accesses=[
                            harbor.RobotAccountPermissionAccessArgs(
                                action=action, resource="repository"
                            )
                            for action in actions
                        ],
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(
                api, pulumi.ResourceOptions(additional_secret_outputs=["secret"])
            ),
        )
        # `full_name` is the login Harbor gives the robot, read back rather than composed
        # here; mybinder.org hands out the same (output "registry_creds" of main.tf).
        login = account.full_name.apply(lambda full: full or "")
        return RegistryCredentials(login, secret)
