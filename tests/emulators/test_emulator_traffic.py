"""Data-plane calls counted per session, and request-rate throttling shaped like the service's."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from emulators.code_interpreter.admin import session_calls
from emulators.code_interpreter.config import ConfigError, EmulatorConfig
from emulators.code_interpreter.exceptions import ThrottlingException
from emulators.code_interpreter.traffic import RateLimiter, Traffic


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_holds_one_seconds_worth_and_refills_at_the_rate() -> None:
    clock = _Clock()
    limiter = RateLimiter(4, clock=clock)
    assert [limiter.allow("s") for _ in range(5)] == [True, True, True, True, False]
    assert limiter.allow("other")  # buckets are per key
    clock.now += 0.25  # one token back
    assert [limiter.allow("s") for _ in range(2)] == [True, False]
    clock.now += 10  # never more than the capacity
    assert sum(limiter.allow("s") for _ in range(10)) == 4
    assert all(RateLimiter(0).allow("s") for _ in range(1000))  # 0: no limit


def test_the_limits_apply_per_session_and_per_account() -> None:
    clock = _Clock()
    traffic = Traffic(per_session=2, per_account=3, clock=clock)
    for _ in range(2):
        traffic.admit("InvokeCodeInterpreter", "s1", "AKID1")
    with pytest.raises(ThrottlingException):
        traffic.admit("InvokeCodeInterpreter", "s1", "AKID1")  # the session's 3rd this second
    with pytest.raises(ThrottlingException):
        traffic.admit("InvokeCodeInterpreter", "s2", "AKID1")  # the account's 4th
    traffic.admit("InvokeCodeInterpreter", "s2", "AKID2")  # another account
    traffic.admit("GetCodeInterpreterSession", "s1", "AKID1")  # only invocations are limited
    assert traffic.of("s1").to_dict() == {
        "calls": 4,
        "operations": {"InvokeCodeInterpreter": 3, "GetCodeInterpreterSession": 1},
        "tools": {},
        "throttled": 1,
    }
    assert traffic.throttled == 2
    clock.now += 1.0
    traffic.admit("InvokeCodeInterpreter", "s1", "AKID1")  # refilled


def test_rate_settings_are_validated() -> None:
    env = {"CODE_INTERPRETER_EMULATOR_MAX_RPS_PER_SESSION": "20"}
    assert EmulatorConfig.from_env(env).max_rps_per_session == 20.0
    assert EmulatorConfig.from_env({}).max_rps_per_account == 0.0  # off unless asked for
    with pytest.raises(ConfigError, match="MAX_RPS_PER_ACCOUNT"):
        EmulatorConfig.from_env({"CODE_INTERPRETER_EMULATOR_MAX_RPS_PER_ACCOUNT": "-1"})


def _throttling_status_in_the_model() -> int:
    model = botocore.session.get_session().get_service_model("bedrock-agentcore")
    op = model.operation_model("InvokeCodeInterpreter")
    (shape,) = [e for e in op.error_shapes if e.name == "ThrottlingException"]
    return int(shape.metadata["error"]["httpStatusCode"])


def _unpaced(url: str) -> Any:
    """A client that sends as fast as it can, retries off."""
    from botocore.config import Config

    from emulators.code_interpreter.spawn import agentcore_client

    return agentcore_client(url, Config(retries={"mode": "standard", "total_max_attempts": 1}))


@pytest.mark.sandbox
def test_over_the_session_rate_the_emulator_throttles_like_the_service(
    new_session: Any, emulator_url: str
) -> None:
    """The test emulator allows 20 requests a second per session: a burst gets the
    service's ThrottlingException (HTTP status from botocore's model), before any stream."""
    agentcore_client = _unpaced(emulator_url)
    sid = new_session()
    sent, refused = 0, []
    while not refused and sent < 400:
        sent += 1
        try:
            agentcore_client.invoke_code_interpreter(
                codeInterpreterIdentifier="aws.codeinterpreter.v1",
                sessionId=sid,
                name="listFiles",
                arguments={"directoryPath": ""},
            )
        except ClientError as e:
            refused.append(e)
    assert refused, f"{sent} requests in a burst were never throttled"
    (error,) = refused
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == _throttling_status_in_the_model()
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == (
        "ThrottlingException"
    )
    counts = session_calls(emulator_url, sid)
    assert counts["calls"] == sent and counts["throttled"] == 1
    assert counts["tools"] == {"listFiles": sent - 1}  # a refused request ran no tool


@pytest.mark.sandbox
def test_the_runtime_client_absorbs_throttling(new_session: Any, emulator_url: str) -> None:
    """SandboxClient retries a throttled request (it was refused, so retrying is safe)."""
    from code_exec.sandbox.client import SandboxClient

    sandbox = SandboxClient(
        "aws.codeinterpreter.v1", client=_unpaced(emulator_url), max_attempts=8, backoff_base=0.05
    )
    sid = new_session()
    made = 0
    while made < 400 and (made % 20 or not session_calls(emulator_url, sid)["throttled"]):
        assert sandbox.list_files(sid) == []  # never raises: throttled requests are retried
        made += 1
    counts = session_calls(emulator_url, sid)
    assert counts["throttled"] > 0
    assert counts["tools"] == {"listFiles": made}


@pytest.mark.sandbox
def test_a_paced_client_is_never_throttled(
    agentcore_client: Any, new_session: Any, emulator_url: str
) -> None:
    """The tests' own client keeps under the rate (it waits), so with retries off a test
    only meets the throttling it asks for."""
    sid = new_session()
    for _ in range(30):
        agentcore_client.invoke_code_interpreter(
            codeInterpreterIdentifier="aws.codeinterpreter.v1",
            sessionId=sid,
            name="listFiles",
            arguments={"directoryPath": ""},
        )
    assert session_calls(emulator_url, sid) == {
        "sessionId": sid,
        "calls": 30,
        "operations": {"InvokeCodeInterpreter": 30},
        "tools": {"listFiles": 30},
        "throttled": 0,
    }
