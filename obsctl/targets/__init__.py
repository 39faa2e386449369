"""Targets: what each lifecycle stage means on `local`, `kubernetes` and `eks`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obsctl.config import Environment
    from obsctl.targets.base import Target


def get_target(env: Environment) -> Target:
    """The target implementation for an environment (imported lazily: start-up time)."""
    if env.target == "local":
        from obsctl.targets.local import LocalTarget

        return LocalTarget(env)
    if env.target == "kubernetes":
        from obsctl.targets.kubernetes import KubernetesTarget

        return KubernetesTarget(env)
    from obsctl.targets.eks import EksTarget

    return EksTarget(env)
