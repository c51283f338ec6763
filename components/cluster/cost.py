"""What the ``gcp`` stacks cost, and who is told: the labels Google Cloud bills by, and an
optional Cloud Billing budget of the project (``binder:cluster.budget``).

Labels: the cluster (``resource_labels``) and each node pool's VMs and disks
(``node_config.resource_labels``) carry ``binder-stack``, ``binder-cluster`` and, on the
pools, ``binder-pool``, plus ``binder:cluster.resourceLabels``; they appear in the billing
export and its reports, as 2i2c labels its pools (``terraform/gcp/cluster.tf``,
``resource_labels``). GKE cost allocation (``cost_management_config``) adds each workload's
cluster, namespace and Kubernetes labels to the billing export
(https://www.pulumi.com/registry/packages/gcp/api-docs/container/cluster/#costmanagementconfig;
https://www.pulumi.com/registry/packages/gcp/api-docs/container/nodepool/#resource_labels_python).

Budget: as 2i2c's ``terraform/gcp/budget-alerts.tf``, a ``google_billing_budget`` on the
billing account whose filter is the project by **number** (the API turns a project ID into
its number, so an ID would show a change on every refresh: terraform-provider-google issue
8444), with threshold rules **in ascending order** (the API returns them sorted; another
order is a perpetual diff, same issue). The amount is ``units`` (whole currency units, a
string) and ``nanos``
(https://www.pulumi.com/registry/packages/gcp/api-docs/billing/budget/). The deploying
account needs ``roles/billing.costsManager`` on the billing account and the Billing Budget
API (``billingbudgets.googleapis.com``) enabled in the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pulumi
import pulumi_gcp as gcp

from components.config.cost import BudgetConfig


def label_value(text: str) -> str:
    """``text`` as a Google Cloud label value: lowercase; characters other than letters,
    digits, ``_`` and ``-`` become ``-``; at most 63."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def cost_labels(stack: str, cluster: str, extra: dict[str, str]) -> dict[str, str]:
    """The labels of the cluster (and, with ``binder-pool``, of its pools)."""
    return {**extra, "binder-stack": label_value(stack), "binder-cluster": label_value(cluster)}


def pool_labels(labels: dict[str, str], purpose: str) -> dict[str, str]:
    return {**labels, "binder-pool": purpose}


def budget_amount(amount: Decimal, currency: str) -> gcp.billing.BudgetAmountArgs:
    """``specified_amount``: whole units as a string, the rest in nanos."""
    units = int(amount)
    return gcp.billing.BudgetAmountArgs(
        specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
            currency_code=currency, units=str(units),
            nanos=int((amount - units) * 1_000_000_000),
        )
    )


def threshold_rules(config: BudgetConfig) -> list[gcp.billing.BudgetThresholdRuleArgs]:
    """Ascending by percent, actual spend before forecast at the same percent."""
    rules = [(p, "CURRENT_SPEND") for p in config.thresholds]
    rules += [(p, "FORECASTED_SPEND") for p in config.forecast_thresholds]
    return [gcp.billing.BudgetThresholdRuleArgs(threshold_percent=p, spend_basis=basis)
            for p, basis in sorted(rules)]


@dataclass(frozen=True)
class BillingBudgetArgs:
    """Inputs of :class:`BillingBudget`."""

    config: BudgetConfig
    """``binder:cluster.budget``."""
    project: str
    """The project whose spend counts (``gcp:project``)."""
    display_name: str
    """Shown in the console and the alert e-mails (at most 60 characters)."""


class BillingBudget(pulumi.ComponentResource):
    """A monthly budget of one project on its billing account, with alert thresholds."""

    def __init__(
        self, name: str, args: BillingBudgetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:cluster_cost:BillingBudget", name, None, opts)
        cfg = args.config
        number = gcp.organizations.get_project_output(project_id=args.project).number
        self.budget = gcp.billing.Budget(
            f"{name}-budget",
            billing_account=cfg.billing_account,
            display_name=args.display_name[:60],
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[number.apply(lambda n: f"projects/{n}")],
                calendar_period="MONTH",
                credit_types_treatment="INCLUDE_ALL_CREDITS",
            ),
            amount=budget_amount(cfg.amount, cfg.currency),
            threshold_rules=threshold_rules(cfg),
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=cfg.notification_channels or None,
                disable_default_iam_recipients=not cfg.notify_billing_admins,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"budget": self.budget.name})
