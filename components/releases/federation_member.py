"""What a federation member's BinderHub needs (``binder:binderhub.federation``; plain module,
no component): its badges and launch links name the front door, its events carry the front
door as their origin, and the front door's pages may call its build API.

BinderHub's settings, at our chart's commit
(https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/app.py):
``badge_base_url`` (L214-237, a trailing '/' added when missing; ``builder.py`` L388-393 takes
the launch host of the share links from it: ``binder_launch_host = badge_base_url or
<the request's own host>``), ``normalized_origin`` (L811-815, "Origin to use when emitting
events", ``builder.py`` L631-636) and ``cors_allow_origin`` (L240, the
Access-Control-Allow-Origin header of every handler). mybinder.org's members set the first
two and ``cors_allow_origin: "*"`` (``config/*.yaml``, ``mybinder/values.yaml`` L207); ours
allow only the front door.
The quota (``LaunchQuota.total_quota``) is required by the config model and set with the
other limits (:mod:`components.releases.limits`).
"""

from __future__ import annotations

from typing import Any

from components.config.federation import FederationMembership


def membership_values(membership: FederationMembership | None) -> dict[str, Any]:
    """The binderhub chart's ``config:`` of a member; empty for a BinderHub on its own."""
    if membership is None:
        return {}
    return {"config": {"BinderHub": {
        "badge_base_url": membership.front_door + "/",
        "normalized_origin": membership.host,
        "cors_allow_origin": membership.front_door,
    }}}
