"""The pull request's security comment (``scripts/security_diff.py``), from two synthesized
template fixtures (``tests/fixtures/iam_review``): what it shows, and what it leaves out."""

from __future__ import annotations

import contextlib
from pathlib import Path

from scripts.security_diff import MARKER, comment, main, security_changes, templates

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "iam_review"


def _changes() -> dict[str, tuple[str, str]]:
    found = security_changes(templates(FIXTURES / "base"), templates(FIXTURES / "head"))
    assert {stack for stack, *_ in found} == {"Agent"}
    return {logical_id: (rtype, diff) for _, logical_id, rtype, diff in found}


def test_security_relevant_changes_are_found_and_nothing_else() -> None:
    changes = _changes()
    assert {k: rtype for k, (rtype, _) in changes.items()} == {
        "ApiFunctionRoleDefaultPolicyB6F07BFD": "AWS::IAM::Policy",
        "StorageAccessLogs96FB524C": "AWS::S3::Bucket",
        "ApiinvokePOSTApiPermissionBedrockCodeExecAgentApiFE9CB0BCPOSTinvoke70F37142": (
            "AWS::Lambda::Permission"
        ),
        "ApiinvokePOSTFCA736F2": "AWS::ApiGateway::Method",
        "OpenSecurityGroup": "AWS::EC2::SecurityGroup",
    }  # the function's memory and the alarm's threshold changed too: not security


def test_each_change_is_a_unified_diff_of_its_security_properties() -> None:
    changes = _changes()
    assert (
        '+          "Action": "s3:DeleteObject",'
        in changes["ApiFunctionRoleDefaultPolicyB6F07BFD"][1]
    )
    assert '+    "AuthorizationType": "NONE"' in changes["ApiinvokePOSTFCA736F2"][1]
    assert '"CidrIp": "0.0.0.0/0"' in changes["OpenSecurityGroup"][1]
    removed = changes[
        "ApiinvokePOSTApiPermissionBedrockCodeExecAgentApiFE9CB0BCPOSTinvoke70F37142"
    ][1]
    assert all(not line.startswith("+ ") for line in removed.splitlines()[2:])


def test_the_comment_carries_the_marker_the_iam_diff_and_every_change(tmp_path: Path) -> None:
    base_iam, head_iam = tmp_path / "base.md", tmp_path / "head.md"
    base_iam.write_text("# IAM\n\n| role | actions |\n| Api | s3:GetObject |\n")
    head_iam.write_text("# IAM\n\n| role | actions |\n| Api | s3:GetObject, s3:DeleteObject |\n")
    out = tmp_path / "comment.md"
    args = [str(FIXTURES / "base"), str(FIXTURES / "head")]
    args += ["--iam-base", str(base_iam), "--iam-head", str(head_iam)]
    with out.open("w") as f, contextlib.redirect_stdout(f):
        assert main(args) == 0
    text = out.read_text()
    assert text.startswith(MARKER)
    assert "+| Api | s3:GetObject, s3:DeleteObject |" in text
    assert "-| Api | s3:GetObject |" in text
    assert "Security-relevant template changes (5)" in text
    assert "MemorySize" not in text and "Threshold" not in text


def test_no_change_says_so() -> None:
    same = templates(FIXTURES / "base")
    text = comment(security_changes(same, same), iam_base="x\n", iam_head="x\n")
    assert text.startswith(MARKER)
    assert "No change to `docs/iam.md` or to the security-relevant template resources." in text


def test_a_huge_diff_is_cut_below_githubs_limit() -> None:
    changes = [("Agent", f"Role{i}", "AWS::IAM::Role", "+x" * 500) for i in range(200)]
    text = comment(changes, iam_base="", iam_head="")
    assert len(text) <= 60_000 and text.rstrip().endswith(
        "*(cut: the full diff is in the workflow run's summary)*"
    )
