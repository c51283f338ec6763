"""``binder:monitoring.alerts``: where Alertmanager sends the alerts of
``helm_configs/monitoring/alerts.rules.yaml`` (issue 11).

The components that use them live in :mod:`components.releases.alerting`.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from components.config.base import Model
from components.config.credential_shapes import credential_shapes

#: An e-mail address, as components.config.access checks one.
_ALERT_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SMARTHOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?:[0-9]{1,5}$")


class AlertEmail(Model):
    """``binder:monitoring.alerts.email``: Alertmanager sends alerts by mail.
    https://prometheus.io/docs/alerting/latest/configuration/#email_config"""

    to: list[str] = Field(min_length=1)
    """Recipients."""
    sender: str = Field(alias="from")
    """The ``From:`` address."""
    smarthost: str
    """SMTP server as ``host:port``, e.g. ``smtp.example.org:587``."""
    username: str | None = None
    """SMTP account; its password is the secret ``alertmanagerCredential``."""
    require_tls: bool = True
    """STARTTLS required (Alertmanager's default)."""

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [i for i, address in enumerate(value) if not _ALERT_EMAIL.match(address)]
        if bad:
            raise ValueError(f"entries {bad} are not e-mail addresses such as ops@example.org")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _ALERT_EMAIL.match(value):
            raise ValueError("must be an e-mail address such as binder@example.org")
        return value

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, value: str) -> str:
        if not _SMARTHOST.match(value):
            raise ValueError("must be host:port, e.g. smtp.example.org:587")
        return value


class AlertWebhook(Model):
    """``binder:monitoring.alerts.webhook``: Alertmanager POSTs alerts as JSON to a URL.
    https://prometheus.io/docs/alerting/latest/configuration/#webhook_config"""

    url: str | None = None
    """The receiver's https URL. It is not secret (it sits in Alertmanager's ConfigMap): a
    receiver that needs a credential gets the secret ``alertmanagerCredential`` as a bearer
    token, never inside the URL. Omit it when the URL itself is the secret (Slack, Discord,
    Teams: their path is the credential): the whole URL is then the secret
    ``alertmanagerCredential``, read by Alertmanager from a file (``url_file``, Alertmanager
    0.25+, https://github.com/prometheus/alertmanager/pull/3223; the chart ships 0.34)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL")
        if credential_shapes({"url": value}):
            raise ValueError(
                "holds its secret in its path (a Slack, Discord or Teams webhook): it would "
                "sit in plaintext in the stack file and Alertmanager's ConfigMap; remove "
                "webhook.url and store the whole URL as the secret "
                "binder:alertmanagerCredential"
            )
        if parts.username or parts.password or parts.query:
            raise ValueError(
                "must not carry a credential (user:password@ or a query string): it would sit "
                "in plaintext in Alertmanager's ConfigMap; give the token as the secret "
                "binder:alertmanagerCredential, sent as `Authorization: Bearer`"
            )
        return value


class AlertsConfig(Model):
    """``binder:monitoring.alerts``: where Alertmanager sends the alerts of
    helm_configs/monitoring/alerts.rules.yaml. ``none`` keeps Alertmanager running (its UI
    lists the alerts) without sending them anywhere."""

    receiver: Literal["none", "email", "webhook"] = "none"
    email: AlertEmail | None = None
    webhook: AlertWebhook | None = None

    @model_validator(mode="after")
    def _receiver_settings(self) -> AlertsConfig:
        if self.receiver == "email" and self.email is None:
            raise ValueError("receiver is 'email' but no email settings are given; add email:")
        if self.receiver == "webhook" and self.webhook is None:
            raise ValueError(
                "receiver is 'webhook' but no webhook settings are given; add webhook: with "
                "its url (or webhook: {} and the URL as the secret binder:alertmanagerCredential)"
            )
        return self
