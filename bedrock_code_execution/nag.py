"""cdk-nag 3.x: register the AwsSolutions pack and acknowledge findings one by one.

In cdk-nag 3.x findings are CDK policy-validation violations: ``cdk synth`` fails with a report
(``cdk.out/validation-report.json``) unless each one is acknowledged on its construct with
``Validations.of(construct).acknowledge(...)`` and a reason. Every acknowledgment in the stacks
goes through :func:`acknowledge`, so they are easy to list and review.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

__all__ = ["acknowledge", "add_checks"]


def add_checks(app: IConstruct) -> None:
    """Run the AwsSolutions rules over the whole app at synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (``RuleId`` or ``RuleId[Finding]``) with its reason."""
    if len(reason) < 20:
        raise ValueError(f"acknowledgment of {rule} needs a real reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
