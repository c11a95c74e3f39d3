"""One grantable for the bridged tools: what it is granted, every function running them gets.

Bridged tools run inside three functions (API, stream, jobs), each with its own role. A grant
to :class:`ToolsGrantable` (``table.grant_read_data(code_execution.tools_grantable)``) lands in
one IAM policy attached to all three roles, created on the first grant, so a deployment without
tool grants has no extra resource.
"""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

__all__ = ["ToolsGrantable"]


class _ToolsPrincipal(iam.PrincipalBase):
    """The roles that run bridged tools, as one principal whose policy is shared."""

    def __init__(self, scope: Construct, roles: Sequence[iam.IRole]) -> None:
        super().__init__()
        self._scope = scope
        self._roles = list(roles)
        self._policy: iam.Policy | None = None

    @property
    def policy_fragment(self) -> iam.PrincipalPolicyFragment:
        return iam.PrincipalPolicyFragment({"AWS": [r.role_arn for r in self._roles]})

    @property
    def principal_account(self) -> str | None:
        return Stack.of(self._scope).account

    def add_to_principal_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToPrincipalPolicyResult:
        if self._policy is None:
            self._policy = iam.Policy(self._scope, "Policy", roles=self._roles)
        self._policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self._policy)

    def dedupe_string(self) -> str | None:
        return f"ToolsPrincipal:{self._scope.node.path}"

    def to_string(self) -> str:
        return f"ToolsPrincipal({self._scope.node.path})"


@jsii.implements(iam.IGrantable)
class ToolsGrantable(Construct):
    """Grant to this what the deployment's bridged tools need.

    Attributes:
        grant_principal: the principal grants go to (the tool-running functions' roles).
        policy: the shared IAM policy, once something was granted (else None).
    """

    def __init__(self, scope: Construct, construct_id: str, *, roles: Sequence[iam.IRole]) -> None:
        super().__init__(scope, construct_id)
        self._principal = _ToolsPrincipal(self, roles)

    @property
    def grant_principal(self) -> iam.IPrincipal:
        return self._principal

    @property
    def policy(self) -> iam.Policy | None:
        return self._principal._policy
