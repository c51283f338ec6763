"""Cost settings of the ``gcp`` stacks (``binder:cluster`` with ``provider: gke``): the labels
Google Cloud bills by, and an optional billing budget (docs/day-two.md "Cost labels and a
budget"; built by :mod:`components.cluster.cost`).

Google Cloud labels: keys of 1-63 characters that start with a lowercase letter, values of
0-63 characters, both of lowercase letters, digits, ``_`` and ``-``; at most 64 per resource
(https://cloud.google.com/resource-manager/docs/labels-overview#requirements; international
letters are allowed too, we keep to ASCII).
"""

from __future__ import annotations

import re
from decimal import Decimal

from pydantic import Field, field_validator, model_validator

from components.config.base import Model

GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
#: The labels the program sets itself (components/cluster/cost.py).
PROGRAM_LABELS = ("binder-stack", "binder-cluster", "binder-pool")
#: Room left for the program's labels and GKE's own (``goog-k8s-*``).
MAX_LABELS = 50


def gcp_label_problems(labels: dict[str, str]) -> list[str]:
    """What is wrong with ``labels`` as Google Cloud labels, in our words."""
    problems = []
    if len(labels) > MAX_LABELS:
        problems.append(f"has {len(labels)} labels; at most {MAX_LABELS} fit beside ours")
    for key, value in labels.items():
        if not GCP_LABEL_KEY.match(key):
            problems.append(
                f"label key '{key}' must start with a lowercase letter and have at most 63 "
                "lowercase letters, digits, '_' or '-'"
            )
        elif key in PROGRAM_LABELS:
            problems.append(f"label '{key}' is set by the program; remove it")
        if not isinstance(value, str) or not GCP_LABEL_VALUE.match(value):
            problems.append(
                f"the value of label '{key}' must have at most 63 lowercase letters, digits, "
                "'_' or '-' (quote it in YAML if it is a number)"
            )
    return problems


class BudgetConfig(Model):
    """A monthly Cloud Billing budget of the stack's project, with alert thresholds."""

    billing_account: str
    """The billing account ID, ``XXXXXX-XXXXXX-XXXXXX`` (``gcloud billing accounts list``)."""
    amount: Decimal = Field(gt=0, lt=10**12)
    """The monthly amount, in ``currency``."""
    currency: str = "EUR"
    """ISO 4217; must be the billing account's own currency."""
    thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.9, 1.0], min_length=1)
    """Fractions of ``amount`` whose actual spend sends an alert (1.0 = 100 %)."""
    forecast_thresholds: list[float] = Field(default_factory=lambda: [1.0])
    """Fractions of ``amount`` whose forecast spend for the month sends an alert."""
    notification_channels: list[str] = Field(default_factory=list, max_length=5)
    """Cloud Monitoring channels (``projects/<p>/notificationChannels/<id>``) alerted besides
    the billing account's administrators."""
    notify_billing_admins: bool = True
    """Also e-mail the billing account's administrators and users (Google's default)."""

    @field_validator("billing_account")
    @classmethod
    def _account(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}", value):
            raise ValueError(
                "must be a billing account ID such as 01A2B3-C4D5E6-F7A8B9 (three groups of six "
                "uppercase hex digits; `gcloud billing accounts list` shows it)"
            )
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError("must be a number, e.g. 1500 or 1500.50")
        if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?", value.strip()):
            raise ValueError("must be a number, e.g. 1500 or 1500.50, without the currency")
        return value

    @field_validator("amount")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("must have at most two decimals, e.g. 1500 or 1500.50")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(
                "must be an ISO 4217 code in capitals, e.g. EUR, GBP or USD: the billing "
                "account's own currency"
            )
        return value

    @field_validator("thresholds", "forecast_thresholds")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < v <= 10 for v in value):
            raise ValueError("each threshold is a fraction of the amount: 0.5 is 50 %, at most 10")
        if len(set(value)) != len(value):
            raise ValueError("a threshold appears twice; list each once")
        return value

    @field_validator("notification_channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not re.fullmatch(r"projects/[^/]+/notificationChannels/[^/]+", channel):
                raise ValueError(
                    f"'{channel}' is not a Cloud Monitoring channel; write "
                    "projects/<project>/notificationChannels/<id>"
                )
        return value

    @model_validator(mode="after")
    def _someone_is_told(self) -> BudgetConfig:
        if not self.notify_billing_admins and not self.notification_channels:
            raise ValueError(
                "notifyBillingAdmins is false and there are no notificationChannels: no one "
                "would be alerted; add a channel or drop notifyBillingAdmins"
            )
        return self
