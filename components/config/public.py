"""Settings of a public Binder against its users (issue 22): ``binder:binderhub.egress``
(where user and build code may connect) and its sibling models.

Defaults follow mybinder.org-deploy @ 95860dbc (``mybinder/values.yaml``,
``mybinder/templates/netpol.yaml``); docs/public.md has each setting against theirs. The
components that use them: :mod:`components.releases.egress`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date

from pydantic import Field, field_validator, model_validator

from components.config.base import Model

#: The TCP ports user pods may reach on the internet by default: mybinder.org's list
#: (``binderhub.networkPolicy.egress.tcpPorts`` in mybinder/values.yaml L154-168 @ 95860dbc,
#: https://github.com/jupyterhub/mybinder.org-deploy/blob/95860dbcba2031b930020dbd856e76cd37ba34c8/mybinder/values.yaml#L154-L168):
#: http, https, git, rsync, xroot (2), Wolfram Engine on-demand licensing, IPFS. No SMTP (25),
#: no SSH (22): a public Binder is not a mail relay nor a scanner.
MYBINDER_TCP_PORTS = (80, 443, 9418, 873, 1094, 1095, 16286, 4001)

#: A ``tc`` rate, as mybinder.org's ``EGRESS_BANDWIDTH: 1mbit``
#: (https://man7.org/linux/man-pages/man8/tc.8.html, "RATES").
_TC_RATE = re.compile(r"^\d+(\.\d+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$")
#: An image reference with a tag or a digest (never an implied ``latest``).
_IMAGE = re.compile(
    r"^[^\s:@/]+(:[0-9]+)?(/[^\s:@/]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$"
)


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cidr)
    except ValueError:
        raise ValueError(
            f"'{cidr}' is not a network in CIDR notation such as 203.0.113.0/24 (a single "
            "address is 203.0.113.7/32; host bits must be zero)"
        ) from None


class EgressConfig(Model):
    """Where code run by users may connect: user pods and, for the banned networks, builds.

    User pods reach the internet only on ``tcpPorts``; never the internal ranges
    (``builder.internalNetworks``) nor the cloud metadata endpoints; DNS only inside the
    internal ranges. Builds keep every port (repo2docker fetches from anywhere) under the
    same internal-range rules."""

    tcp_ports: list[int] = Field(
        default_factory=lambda: sorted(MYBINDER_TCP_PORTS), min_length=1
    )
    """TCP ports user pods may reach on the internet (mybinder.org's list by default)."""
    banned_cidrs: list[str] = Field(default_factory=list)
    """Destinations neither user pods nor builds may reach (abused services, a partner's
    network), as mybinder.org's ``bannedIps``."""
    bandwidth: str | None = None
    """Cap on each user pod's upload rate, a ``tc`` rate such as ``1mbit`` (mybinder.org's);
    traffic to the internal ranges is not capped. Needs ``bandwidthImage``."""
    bandwidth_image: str | None = None
    """An image with ``/bin/sh`` and ``tc`` (iproute2), run as the user pod's init container
    with ``NET_ADMIN``, e.g. mybinder.org's ``jupyterhub/mybinder.org-tc-init:<tag>``
    (alpine + iproute2). Pin a tag or digest."""

    @field_validator("tcp_ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        wrong = [port for port in value if not 1 <= port <= 65535]
        if wrong:
            raise ValueError(f"ports must be 1-65535, not {', '.join(map(str, wrong))}")
        return sorted(set(value))

    @field_validator("banned_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return [str(_network(cidr)) for cidr in value]

    @field_validator("bandwidth")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None and not _TC_RATE.match(value):
            raise ValueError(
                f"must be a tc rate such as 1mbit or 500kbit (bits) or 1mbps (bytes), not '{value}'"
            )
        return value

    @field_validator("bandwidth_image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and (not _IMAGE.match(value) or value.endswith(":latest")):
            raise ValueError(
                "must be an image with a tag or digest, such as "
                f"'registry.example.org/tools/tc:3.20', not '{value}'"
            )
        return value

    @model_validator(mode="after")
    def _bandwidth_needs_image(self) -> EgressConfig:
        if self.bandwidth is not None and self.bandwidth_image is None:
            raise ValueError(
                "bandwidth needs bandwidthImage: an image with tc (iproute2) for the init "
                "container that sets the cap, e.g. mybinder.org's "
                "jupyterhub/mybinder.org-tc-init with a pinned tag"
            )
        if self.bandwidth_image is not None and self.bandwidth is None:
            raise ValueError("bandwidthImage is only used with bandwidth; set both or neither")
        return self


class QuotaRaise(Model):
    """A temporary per-repository quota (a class, a workshop), as mybinder.org keeps them in
    ``GitHubRepoProvider.spec_config`` with the date in a comment (``mybinder/values.yaml``
    L181-200 @ 95860dbc). Here the date is a setting: after ``until`` the plan drops the
    entry with a warning, so nobody has to remember to remove it."""

    pattern: str
    """A regular expression matched (case-insensitively, from the start) against the spec:
    ``owner/repo/ref`` on GitHub; on GitLab and Git the repository part is URL-escaped
    (``group%2Fproject/ref``), see docs/public.md."""
    quota: int = Field(ge=0)
    """Most servers running at once from matching repositories (``config.quota``)."""
    until: date
    """Last day (UTC) the raise applies, e.g. the workshop's date: ``2026-12-24``."""
    reason: str | None = None
    """Who asked and why (an issue link), for the next operator."""

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        return regex_or_error(value)


def regex_or_error(pattern: str) -> str:
    """``pattern`` if Python compiles it (BinderHub uses ``re.match``), else a ValueError."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"'{pattern}' is not a regular expression: {exc}") from None
    return pattern


class IdleCulling(Model):
    """Idle kernels and servers stopped *inside* each user server, as mybinder.org does
    (``etcJupyter`` in ``mybinder/values.yaml`` L111-133 @ 95860dbc): the hub's culler only
    sees HTTP activity, so a browser tab left open keeps a server (and a kernel spinning a
    CPU) alive; the server's own culler closes idle kernels even with a tab connected, after
    which the server shuts itself down when nothing is active.
    https://jupyter-server.readthedocs.io/en/latest/other/full-config.html"""

    enabled: bool = True
    kernel_idle_seconds: int = Field(default=600, ge=60)
    """``MappingKernelManager.cull_idle_timeout``: an idle kernel is shut down after this."""
    check_every_seconds: int = Field(default=60, ge=10)
    """``MappingKernelManager.cull_interval``."""
    cull_connected: bool = True
    """``MappingKernelManager.cull_connected``: an idle kernel with a tab open counts as idle."""
    server_idle_seconds: int = Field(default=600, ge=60)
    """``ServerApp.shutdown_no_activity_timeout``: the server stops after this long with no
    kernel, terminal or request."""


#: BinderHub's repository providers, by class name (binderhub repoproviders.py @ b9fad995):
#: the keys of ``limits.bannedSpecsByProvider``, as BinderHub's own config sections.
REPO_PROVIDERS = (
    "GitHubRepoProvider",
    "GistRepoProvider",
    "GitLabRepoProvider",
    "GitRepoProvider",
    "ZenodoProvider",
    "FigshareProvider",
    "HydroshareProvider",
    "DataverseProvider",
    "CKANProvider",
)


def banned_networks_or_error(value: dict[str, str]) -> dict[str, str]:
    """``BinderHub.ban_networks``: CIDR -> label; the CIDRs normalised, a ValueError naming
    a bad one."""
    networks = {}
    for cidr, label in value.items():
        if not label.strip():
            raise ValueError(f"'{cidr}': give a label (shown in the 403 page and the log)")
        networks[str(_network(cidr))] = label
    return networks


def banned_by_provider_or_error(value: dict[str, list[str]]) -> dict[str, list[str]]:
    unknown = sorted(set(value) - set(REPO_PROVIDERS))
    if unknown:
        raise ValueError(
            f"unknown provider {', '.join(unknown)}; use BinderHub's class names: "
            + ", ".join(REPO_PROVIDERS)
        )
    for patterns in value.values():
        for pattern in patterns:
            regex_or_error(pattern)
    return value


class CryptnonoConfig(Model):
    """``binder:cryptnono``: the cryptnono release (miner detection), as mybinder.org and
    2i2c run it (``mybinder/values.yaml`` L10-42 @ 95860dbc)."""

    enabled: bool | None = None
    """Default: on for a public (anonymous) Binder, off for an authenticated one."""
    banned_command_strings: list[str] = Field(default_factory=list)
    """More strings execwhacker kills a process for when its command line contains one
    (``detectors.execwhacker.configs``), beside the chart's own list."""
    flow_killer: bool = True
    """tcpflowkiller: kill a process that connects to too many destinations, as mybinder.org
    (``unique_destinations_threshold: 24``)."""

    @field_validator("banned_command_strings")
    @classmethod
    def _plain(cls, value: list[str]) -> list[str]:
        for text in value:
            if not text.strip() or len(text) < 4:
                raise ValueError(
                    f"'{text}' is too short: execwhacker kills every process whose command "
                    "line contains it; give at least 4 characters"
                )
        return value

    def on(self, public: bool) -> bool:
        """Whether the release is installed, for a public (anonymous) Binder or not."""
        return public if self.enabled is None else self.enabled
