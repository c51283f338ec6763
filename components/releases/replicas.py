"""Two BinderHub pods for an anonymous Binder (issue 22, item 7), and why a Binder with logins
keeps one.

What several BinderHub processes share and what each keeps to itself, read at the pinned
chart's commit (https://github.com/jupyterhub/binderhub/tree/b9fad995d5529e487c25a9f0795f4fe150a96f25):

* **Build tokens** (``binderhub/main.py`` ``RepoLaunchUIHandler.get``; ``base.py``
  ``check_build_token``): the launch page embeds a JWT signed with
  ``BinderHub.build_token_secret``, and the page's ``/build/`` request -- which the Service
  may send to the other pod -- is refused with 403 "Invalid build token" if that pod's key
  differs. Unset, each process draws its own random key (``app.py``
  ``_default_build_token_secret``). So every pod gets the same generated key
  (:func:`build_token_secret_values`), made of hex digits as the trait's validator expects
  of a string (``a2b_hex``, ``app.py`` ``_validate_build_token_secret``).
* **The hub API token** is one Secret key the chart gives every pod (``templates/
  deployment.yaml``, ``JUPYTERHUB_API_TOKEN`` from the hub Secret).
* **Builds** are pods named after the image: a second pod asked for the same build gets a
  409 from the API server and follows the running build (``build.py``
  ``KubernetesBuildExecutor.submit``, "Someone else created it!"). The build cleaner
  (``KubernetesCleaner``) runs in every pod and deletes the same old pods.
* **Launch quotas** count pods through the API server (``quota.py``), not in memory.
* **The rate limiter** (``ratelimit.py`` ``RateLimiter``, 10 requests an hour per address
  without a build token by default) is in memory: with N pods a client gets up to N times the
  limit. Launches from the web page carry a build token and skip it.
* **The cookie secret** is drawn at random by every process, whatever the configuration
  says (``app.py``: ``self.tornado_settings["cookie_secret"] = secrets.token_bytes(32)``
  after the settings are assembled). With logins (``auth_enabled``) BinderHub keeps the
  user's hub OAuth token and the OAuth state in cookies signed with it
  (``jupyterhub.services.auth.HubOAuth``), so a request that reaches the other pod is not
  logged in and the OAuth callback's state check fails. An authenticated Binder therefore
  stays at one pod; the plan refuses more.

The chart allows it: ``replicas`` (values.yaml), a PodDisruptionBudget with
``maxUnavailable: 1`` (templates/pdb.yaml, on by default) and, for more than one replica, the
Deployment's default rolling update (one pod at a time). Prometheus scrapes each pod through
the ``binder`` Service's EndpointSlices (:mod:`components.releases.monitoring`).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.config.releases import BinderHubConfig

#: BinderHub pods of an anonymous Binder unless ``binder:binderhub.replicas`` says otherwise.
ANONYMOUS_REPLICAS = 2


def binderhub_replicas(hub: BinderHubConfig) -> int:
    """The BinderHub pods: ``replicas`` if set, else two anonymous, one with logins."""
    if hub.replicas is not None:
        return hub.replicas
    return 1 if hub.auth.enabled else ANONYMOUS_REPLICAS


def replica_problems(hub: BinderHubConfig) -> list[str]:
    """The plan's problems: more than one pod behind logins."""
    if hub.auth.enabled and hub.replicas is not None and hub.replicas > 1:
        return [
            f"  binder:binderhub.replicas is {hub.replicas}, but binder:binderhub.auth.type "
            f"is '{hub.auth.type}': every BinderHub pod signs its login cookies with a key "
            "of its own (BinderHub draws its cookie secret at random on start), so a user "
            "sent to another pod is logged out mid-launch; set replicas to 1 (the default "
            "with logins), see docs/public.md"
        ]
    return []


def replica_values(hub: BinderHubConfig) -> dict[str, Any]:
    """Layer 3: ``replicas`` and, for more than one, a preference for separate nodes so
    that one node's loss leaves a pod serving (the chart passes ``extraPodSpec`` into the
    pod spec, templates/deployment.yaml)."""
    replicas = binderhub_replicas(hub)
    layer: dict[str, Any] = {"replicas": replicas}
    if replicas > 1:
        layer["extraPodSpec"] = {
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {
                                    "matchLabels": {"app": "binder", "component": "binder"}
                                },
                            },
                        }
                    ]
                }
            }
        }
    return layer


def build_token_secret_values(secret: pulumi.Output[str] | None) -> dict[str, Any]:
    """Layer 4: ``BinderHub.build_token_secret``, the same for every pod (hex digits,
    :class:`~components.secrets.deployment.Secrets`). The chart keeps ``config:`` in the
    Secret ``binder-secret``."""
    if secret is None:
        return {}
    return {"config": {"BinderHub": {"build_token_secret": secret}}}
