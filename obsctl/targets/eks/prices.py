"""The hourly cost estimate `eks up` shows before it creates anything: a static on-demand
list-price table (changes when AWS prices or the Terraform's resources change), not a quote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obsctl.tools.aws import CostInputs

HOURS_PER_MONTH = 730
EKS_CONTROL_PLANE_HOUR = 0.10  # standard support; extended support is $0.60
PUBLIC_IPV4_HOUR = 0.005
KMS_KEY_MONTH = 1.0
BASTION_VOLUME_GIB = 10  # terraform/bastion.tf root_block_device
# region -> (NAT gateway per hour, gp3 per GiB-month, instance price factor vs us-east-1)
REGION_PRICES: dict[str, tuple[float, float, float]] = {
    "us-east-1": (0.045, 0.08, 1.00),
    "us-east-2": (0.045, 0.08, 1.00),
    "us-west-2": (0.045, 0.08, 1.00),
    "eu-west-1": (0.048, 0.088, 1.10),
    "eu-west-2": (0.050, 0.0928, 1.14),
    "eu-central-1": (0.052, 0.0952, 1.15),
    "eu-north-1": (0.046, 0.0836, 1.03),
    "ap-southeast-1": (0.059, 0.096, 1.26),
    "ap-northeast-1": (0.062, 0.096, 1.31),
}
# Linux on-demand per hour in us-east-1 (a small table: other types are reported as unknown).
INSTANCE_HOUR_US_EAST_1: dict[str, float] = {
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "t3.2xlarge": 0.3328,
    "t4g.micro": 0.0084,
    "t4g.small": 0.0168,
    "t4g.medium": 0.0336,
    "t4g.large": 0.0672,
    "t4g.xlarge": 0.1344,
    "m5.large": 0.096,
    "m5.xlarge": 0.192,
    "m6i.large": 0.096,
    "m6i.xlarge": 0.192,
    "m7i.large": 0.1008,
    "m6g.large": 0.077,
    "m7g.large": 0.0816,
    "c6i.large": 0.085,
    "r6i.large": 0.126,
}


@dataclass
class CostEstimate:
    """An ESTIMATE of what `up` creates, per hour, from a static on-demand price table."""

    region: str
    items: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def hourly(self) -> float:
        return sum(v for _, v in self.items)

    def summary(self) -> str:
        parts = ", ".join(f"{name} ${v:.3f}" for name, v in self.items)
        text = (
            f"estimated cost ≈ ${self.hourly:.2f}/hour (≈ ${self.hourly * HOURS_PER_MONTH:.0f}/month)"
            f" [{parts}] — an estimate from obsctl's static on-demand list-price table, before data"
            " transfer, logs and tax; not a quote"
        )
        return text + "".join(f"; {n}" for n in self.notes)


def estimate_cost(aws: Any, inputs: CostInputs | None = None) -> CostEstimate:
    """The hourly estimate for an `AwsSettings` (`aws`), with instance shapes from `inputs`."""
    est = CostEstimate(aws.region)
    prices = REGION_PRICES.get(aws.region)
    if prices is None:
        prices = REGION_PRICES["us-east-1"]
        est.notes.append(f"no prices for {aws.region} in the table: us-east-1 prices used")
    nat_hour, gp3_month, factor = prices

    def instance(name: str) -> float | None:
        base = INSTANCE_HOUR_US_EAST_1.get(name)
        return None if base is None else base * factor

    est.items.append(("EKS control plane", EKS_CONTROL_PLANE_HOUR))
    node_type = aws.node_instance_types[0]
    shape = ""
    if inputs and node_type in inputs.instance_types:
        it = inputs.instance_types[node_type]
        shape = f" ({it.vcpus} vCPU, {it.memory_mib // 1024} GiB)"
    node_price = instance(node_type)
    if node_price is None:
        est.notes.append(f"no price for node type {node_type} in the table: nodes not counted")
    else:
        est.items.append((f"{aws.node_desired_size} × {node_type}{shape}", aws.node_desired_size * node_price))
    volumes = aws.node_desired_size * aws.node_disk_size_gib + BASTION_VOLUME_GIB
    est.items.append((f"{volumes} GiB gp3", volumes * gp3_month / HOURS_PER_MONTH))
    nats = 1 if aws.single_nat_gateway else aws.az_count
    est.items.append((f"{nats} NAT gateway{'s' if nats > 1 else ''}", nats * nat_hour))
    bastion = instance(aws.bastion_instance_type)
    if bastion is None:
        est.notes.append(f"no price for bastion type {aws.bastion_instance_type} in the table")
    else:
        est.items.append((f"bastion {aws.bastion_instance_type}", bastion))
    est.items.append((f"{nats + 1} public IPv4", (nats + 1) * PUBLIC_IPV4_HOUR))
    est.items.append(("KMS key", KMS_KEY_MONTH / HOURS_PER_MONTH))
    return est
