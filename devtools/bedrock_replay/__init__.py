"""Replay recorded Bedrock model turns through the REAL boto3 ``bedrock-runtime`` client.

A fixture (``tests/fixtures/bedrock/*.json``) is a list of turns. Each turn holds the
HTTP response exactly as Bedrock sends it (status, headers, JSON body of
``InvokeModel`` or ``Converse``) and an ``expect`` block: what must be in the request
that this response answers. The double hooks botocore's ``before-send`` event, so the
whole client stack runs and only the socket is replaced. It works for any client,
including the one inside a Strands ``BedrockModel``.

It is not a fake that always answers right: a request that does not contain what the
recorded turn expects (the real stdout of the previous cell, the error flag of a tool
result, the tools offered, cache points, ...) fails the test with a message saying what
was missing. The code the recorded model writes is executed for real in the sandbox,
so the next request carries real output.

The streamed operations (``InvokeModelWithResponseStream``, ``ConverseStream``) are
answered from the same turns: with the turn's recorded ``stream`` frames when it has them,
else with its buffered body split into a stream the way Bedrock sends one.

One module per job:

* :mod:`.replay` — :class:`BedrockReplay`, the double (wiring, serving, pacing);
* :mod:`.conversations` — :class:`ConversationReplay`, many conversations at once, each
  answered by its place in its recording (``make local`` under load);
* :mod:`.expect` — the ``expect`` keys and :func:`check_expectations`;
* :mod:`.wire` — a call as sent (:class:`Exchange`) and views of its request;
* :mod:`.stream` — Bedrock's event-stream replies (:func:`stream_frames`, :class:`FrameStream`);
* :mod:`.fixtures` — where recordings live and how they are named;
* :mod:`.play` — :func:`play`, ``run_agent`` driven by a fixture's calls.

Usage::

    with BedrockReplay("messages_expense_audit_ptc").attach(client) as replay:
        run_agent(...)
    # leaving the block asserts every turn was served and every expectation held
"""

from __future__ import annotations

from devtools.bedrock_replay.conversations import ConversationReplay
from devtools.bedrock_replay.expect import check_expectations
from devtools.bedrock_replay.fixtures import (
    DEFAULT_MODEL_ID,
    EXPENSE_TABLE,
    FIXTURES,
    LOOPS,
    fixture_name,
    load_fixture,
)
from devtools.bedrock_replay.play import Played, bedrock_client, emulated_sandbox, play
from devtools.bedrock_replay.replay import BedrockReplay
from devtools.bedrock_replay.stream import FrameStream, stream_frames
from devtools.bedrock_replay.wire import BUFFERED, Exchange, ReplayMismatch

__all__ = [
    "BUFFERED",
    "DEFAULT_MODEL_ID",
    "EXPENSE_TABLE",
    "FIXTURES",
    "LOOPS",
    "BedrockReplay",
    "ConversationReplay",
    "Exchange",
    "FrameStream",
    "Played",
    "ReplayMismatch",
    "bedrock_client",
    "check_expectations",
    "emulated_sandbox",
    "fixture_name",
    "load_fixture",
    "play",
    "stream_frames",
]
