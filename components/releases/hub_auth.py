"""An authenticated BinderHub (``binder:binderhub.auth``): its JupyterHub logs users in through
an OAuth provider and is itself BinderHub's OAuth provider.

Follows BinderHub's "Enabling authentication"
(https://binderhub.readthedocs.io/en/latest/authentication.html) and OAuthenticator
(https://oauthenticator.readthedocs.io/en/latest/). Used by
:mod:`components.releases.binderhub` (the values) and the plan (the OAuth client check).
"""

from __future__ import annotations

from typing import Any

from components.config.base import ConfigError
from components.config.releases import AuthConfig
from components.releases.ingress_tls import IngressTls

#: ``binder:binderhub.auth.type`` -> (JupyterHub ``authenticator_class`` entry point, the
#: OAuthenticator class whose ``hub.config`` section configures it).
#: https://oauthenticator.readthedocs.io/en/latest/reference/api/gen/oauthenticator.github.html
#: https://oauthenticator.readthedocs.io/en/latest/reference/api/gen/oauthenticator.generic.html
AUTHENTICATORS: dict[str, tuple[str, str]] = {
    "github": ("github", "GitHubOAuthenticator"),
    "generic": ("generic-oauth", "GenericOAuthenticator"),
}
#: OAuth client id of the BinderHub service *at the hub* (JupyterHub is BinderHub's OAuth
#: provider). Internal to the hub and not a credential; the chart hands it to BinderHub.
BINDER_HUB_CLIENT_ID = "service-binderhub"
#: Where the hub's OAuth provider sends users back (OAuthenticator's default path).
HUB_CALLBACK_PATH = "/hub/oauth_callback"


def oauth_callback_url(tls: IngressTls, hub_host: str) -> str:
    """The callback URL to register with the OAuth provider."""
    return tls.url(hub_host) + HUB_CALLBACK_PATH


def check_oauth_client(auth: AuthConfig, has_client: bool, callback_url: str) -> None:
    """An authenticated hub needs its OAuth client; a ConfigError naming the setting and the
    two ways of giving the credentials otherwise. Never reads (or echoes) a secret value."""
    if not auth.enabled or has_client:
        return
    raise ConfigError(
        f"binder:binderhub.auth.type is '{auth.type}', but no OAuth client credentials were "
        "given. Register an OAuth app with the provider (callback URL "
        f"{callback_url}) and give its ID and secret as secrets, either\n"
        "  pulumi config set --secret binder:oauthClientId <id> and "
        "pulumi config set --secret binder:oauthClientSecret (reads the value from stdin), or\n"
        "  `oauth: {clientId: ..., clientSecret: ...}` in a SOPS file listed in "
        "binder:secretsFiles (`sops <file>`; see docs/secrets.md),\n"
        "or set binder:binderhub.auth.type to 'none' for an anonymous Binder."
    )


def authenticated_hub_values(
    auth: AuthConfig, *, binder_url: str, callback_url: str
) -> dict[str, Any]:
    """The ``jupyterhub:`` values of an authenticated BinderHub, without the OAuth client.

    Follows BinderHub's "Enabling authentication"
    (https://binderhub.readthedocs.io/en/latest/authentication.html): the hub logs users in
    through the OAuth provider and is itself BinderHub's OAuth provider (the ``binder``
    service's client); users keep their accounts (no culling of users), and user servers run
    ``jupyterhub-singleuser`` so that they check the hub's login too. The authenticator's
    settings are OAuthenticator's (https://oauthenticator.readthedocs.io/en/latest/).
    """
    entry_point, authenticator_class = AUTHENTICATORS[auth.type]
    authenticator: dict[str, Any] = {"oauth_callback_url": callback_url}
    if auth.allow_all:
        authenticator["allow_all"] = True
    if auth.allowed_users:
        authenticator["allowed_users"] = list(auth.allowed_users)
    if auth.admin_users:
        authenticator["admin_users"] = list(auth.admin_users)
    if auth.type == "github":
        scopes = auth.scopes
        if scopes is None:
            # Private organization memberships are only visible with read:org.
            scopes = ["read:org"] if auth.allowed_organizations else []
        if auth.allowed_organizations:
            authenticator["allowed_organizations"] = list(auth.allowed_organizations)
    else:
        scopes = auth.scopes if auth.scopes is not None else ["openid", "profile", "email"]
        authenticator.update(
            {
                "authorize_url": auth.authorize_url,
                "token_url": auth.token_url,
                "userdata_url": auth.userdata_url,
                "username_claim": auth.username_claim,
            }
        )
        if auth.login_service:
            authenticator["login_service"] = auth.login_service
        if auth.allowed_groups:
            # oauthenticator >= 17: groups come from the userinfo claims kept in auth_state
            # under `oauth_user`, and only count when the authenticator manages groups.
            authenticator.update(
                {
                    "manage_groups": True,
                    "auth_state_groups_key": f"oauth_user.{auth.groups_claim}",
                    "allowed_groups": list(auth.allowed_groups),
                }
            )
    if scopes:
        authenticator["scope"] = list(scopes)
    return {
        # Authenticated users are people with accounts: stop idle servers, keep the users.
        "cull": {"users": False},
        "hub": {
            "config": {
                "BinderSpawner": {"auth_enabled": True},
                "JupyterHub": {
                    "authenticator_class": entry_point,
                    # Back to BinderHub after login, not to a (not yet started) server.
                    "redirect_to_server": False,
                },
                authenticator_class: authenticator,
            },
            "services": {
                "binder": {
                    "oauth_client_id": BINDER_HUB_CLIENT_ID,
                    "oauth_no_confirm": True,
                    "oauth_redirect_uri": f"{binder_url}/oauth_callback",
                }
            },
            # Users may reach their own servers and the binder service, nothing else.
            "loadRoles": {
                "user": {"scopes": ["self", "access:services!service=binder"]},
            },
        },
        "singleuser": {"cmd": "jupyterhub-singleuser"},
    }
