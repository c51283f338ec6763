"""Cost labels and the billing budget of the gcp stacks (components/cluster/cost.py,
components/config/cost.py), on the mock engine: the inputs Google Cloud would receive."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pulumi_gcp import billing as gcp_billing

from components.cluster.cost import budget_amount, label_value
from components.cluster.create import create_cluster
from components.cluster.kubeconfig import ClusterInputs
from components.config.base import ConfigError
from components.config.cluster import GkeCluster
from components.config.stack import parse_config
from tests.components.config.test_stack import stack_binder_config, with_change
from tools.mockrun import MOCK_PROJECT_NUMBER, Recording, run_program

BUDGET = {"billingAccount": "01A2B3-C4D5E6-F7A8B9", "amount": 1500.5, "currency": "EUR"}
BUDGET_TYPE = "gcp:billing/budget:Budget"


def gke(raw: dict[str, Any]) -> GkeCluster:
    cluster = parse_config(raw).cluster
    assert isinstance(cluster, GkeCluster)
    return cluster


def record(cluster: GkeCluster, stack: str = "gcp") -> Recording:
    def program() -> None:
        create_cluster("cluster", cluster, ClusterInputs(gcp_project="proj-1",
                                                         gcp_location="europe-west1"))

    return run_program(program, stack=stack)


@pytest.fixture(scope="module")
def gcp() -> Recording:
    return record(gke(stack_binder_config("gcp")))


def test_cluster_and_pools_carry_the_cost_labels(gcp: Recording) -> None:
    cluster = gcp.one("gcp:container/cluster:Cluster").inputs
    name = gke(stack_binder_config("gcp")).name
    # Pulumi.gcp.yaml's own (cost-centre), and the program's.
    labels = {"cost-centre": "bioexcel", "binder-stack": "gcp", "binder-cluster": name}
    assert cluster["resourceLabels"] == labels
    assert cluster["costManagementConfig"] == {"enabled": True}
    for purpose in ("core", "user"):
        pool = gcp.one("gcp:container/nodePool:NodePool", f"cluster-{purpose}").inputs
        assert pool["nodeConfig"]["resourceLabels"] == {**labels, "binder-pool": purpose}
        # Kubernetes node labels are another thing, and stay as they were.
        assert "binder-pool" not in pool["nodeConfig"]["labels"]


def test_no_budget_unless_asked(gcp: Recording) -> None:
    assert gcp.of_type(BUDGET_TYPE) == []


def test_labels_of_the_stack_file_are_added_and_stack_names_made_valid() -> None:
    raw = with_change("gcp", "cluster.resourceLabels", {"cost-centre": "bioexcel", "team": ""})
    rec = record(gke(raw), stack="BioExcel.Prod")
    cluster = rec.one("gcp:container/cluster:Cluster").inputs
    assert cluster["resourceLabels"]["cost-centre"] == "bioexcel"
    assert cluster["resourceLabels"]["team"] == ""
    assert cluster["resourceLabels"]["binder-stack"] == "bioexcel-prod"
    user = rec.one("gcp:container/nodePool:NodePool", "cluster-user").inputs
    assert user["nodeConfig"]["resourceLabels"]["cost-centre"] == "bioexcel"
    assert label_value("x" * 80) == "x" * 63


def test_cost_allocation_can_be_switched_off() -> None:
    rec = record(gke(with_change("gcp", "cluster.costAllocation", False)))
    assert rec.one("gcp:container/cluster:Cluster").inputs["costManagementConfig"] == {
        "enabled": False}


def test_a_budget_of_the_project_by_number_with_sorted_thresholds() -> None:
    budget = {**BUDGET, "thresholds": [1.0, 0.5, 0.9], "forecastThresholds": [1.2, 0.9],
              "notificationChannels": ["projects/proj-1/notificationChannels/42"]}
    rec = record(gke(with_change("gcp", "cluster.budget", budget)))
    (component,) = rec.of_type("binder:cluster_cost:BillingBudget")
    assert component.name == "cluster-budget"
    inputs = rec.one(BUDGET_TYPE).inputs
    assert inputs["billingAccount"] == "01A2B3-C4D5E6-F7A8B9"
    assert inputs["displayName"].endswith("(stack gcp)")
    assert len(inputs["displayName"]) <= 60
    # By number: the API would turn an ID into the number (a diff on every refresh).
    assert inputs["budgetFilter"] == {
        "projects": [f"projects/{MOCK_PROJECT_NUMBER}"], "calendarPeriod": "MONTH",
        "creditTypesTreatment": "INCLUDE_ALL_CREDITS"}
    assert inputs["amount"] == {"specifiedAmount": {"currencyCode": "EUR", "units": "1500",
                                                    "nanos": 500_000_000}}
    # Ascending, as the API returns them (another order is a perpetual diff).
    assert inputs["thresholdRules"] == [
        {"thresholdPercent": 0.5, "spendBasis": "CURRENT_SPEND"},
        {"thresholdPercent": 0.9, "spendBasis": "CURRENT_SPEND"},
        {"thresholdPercent": 0.9, "spendBasis": "FORECASTED_SPEND"},
        {"thresholdPercent": 1.0, "spendBasis": "CURRENT_SPEND"},
        {"thresholdPercent": 1.2, "spendBasis": "FORECASTED_SPEND"},
    ]
    assert inputs["allUpdatesRule"] == {
        "monitoringNotificationChannels": ["projects/proj-1/notificationChannels/42"],
        "disableDefaultIamRecipients": False}


def test_the_default_thresholds() -> None:
    rec = record(gke(with_change("gcp", "cluster.budget", BUDGET)))
    rules = rec.one(BUDGET_TYPE).inputs["thresholdRules"]
    assert [(r["thresholdPercent"], r["spendBasis"]) for r in rules] == [
        (0.5, "CURRENT_SPEND"), (0.9, "CURRENT_SPEND"), (1.0, "CURRENT_SPEND"),
        (1.0, "FORECASTED_SPEND")]


@pytest.mark.parametrize(
    ("amount", "units", "nanos"),
    [(Decimal("200"), "200", 0), (Decimal("0.01"), "0", 10_000_000),
     (Decimal("99.99"), "99", 990_000_000)],
)
def test_amounts_are_units_and_nanos(amount: Decimal, units: str, nanos: int) -> None:
    specified = budget_amount(amount, "USD").specified_amount
    assert isinstance(specified, gcp_billing.BudgetAmountSpecifiedAmountArgs)
    assert (specified.currency_code, specified.units, specified.nanos) == ("USD", units, nanos)


def test_the_ebi_stack_has_no_budget_setting() -> None:
    """A budget is the gcp stacks' (provider gke): elsewhere the key is unknown."""
    with pytest.raises(ConfigError, match=r"binder:cluster.budget"):
        parse_config(with_change("ebi", "cluster.budget", BUDGET))
