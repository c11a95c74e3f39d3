"""Routes come from botocore's service model; what the emulator lacks fails loudly."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from emulators.code_interpreter.responses import OPERATIONS
from emulators.code_interpreter.routes import match, request_path, service_model

MODEL = service_model()
NOT_IMPLEMENTED = sorted(set(MODEL.operation_names) - set(OPERATIONS))
_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/rt-1"


def _labels(operation: str) -> dict[str, str]:
    uri = MODEL.operation_model(operation).http["requestUri"].split("?")[0]
    names = re.findall(r"\{(\w+)\+?\}", uri)
    return {n: _ARN if n.endswith("Arn") else f"{n}-1" for n in names}


@pytest.mark.parametrize("operation", MODEL.operation_names)
def test_every_operation_of_the_model_routes_to_itself(operation: str) -> None:
    labels = _labels(operation)
    method, path = request_path(operation, **labels)
    route = match(method, path)
    assert route is not None and (route.operation, route.params) == (operation, labels)


def test_the_emulator_serves_exactly_the_code_interpreter_data_plane_and_web_search() -> None:
    """Each implemented operation is one of the model's, and every code interpreter and web
    search operation of the model is implemented (a new one in botocore fails here first)."""
    assert set(OPERATIONS) <= set(MODEL.operation_names)
    served = {
        name
        for name in MODEL.operation_names
        if MODEL.operation_model(name)
        .http["requestUri"]
        .startswith(("/code-interpreters/", "/web-search/"))
    }
    assert set(OPERATIONS) == served
    assert "InvokeWebSearch" in served


@pytest.mark.sandbox
def test_every_operation_the_emulator_lacks_fails_loudly(emulator_url: str) -> None:
    assert len(NOT_IMPLEMENTED) > 50  # the rest of bedrock-agentcore: memory, browser, ...
    for operation in NOT_IMPLEMENTED:
        method, path = request_path(operation, **_labels(operation))
        data = b"{}" if method in ("POST", "PUT") else None
        req = urllib.request.Request(emulator_url + path, data=data, method=method)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 501, operation
        assert e.value.headers["x-amzn-ErrorType"] == "NotImplementedException"
        message = json.loads(e.value.read())["message"]
        assert message == f"{operation} is not implemented by the code interpreter emulator"


@pytest.mark.sandbox
def test_a_request_no_operation_matches_is_unknown(emulator_url: str) -> None:
    req = urllib.request.Request(emulator_url + "/code-interpreters/x/sessions/pause", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert (e.value.code, e.value.headers["x-amzn-ErrorType"]) == (404, "UnknownOperationException")
