"""The load scenario of ``make load``, for locust (run with ``locust -f``, never imported).

Each locust user owns one named session and makes a fixed plan of requests in it, then
deletes it and stops; when every user has stopped (or the time limit passed) the test
ends by itself (:class:`OneSessionPerUser`). A plan mixes:

* ``POST /sessions/{id}/execute``: Python that counts its own runs in the kernel
  (``n += 1``) and prints the count, so a lost state, a run in another session or a run
  that should not have happened is seen in the next answer;
* ``POST /invoke``: the expense audit in PTC mode, its model turns replayed; with ``make
  local``'s tools bridged, every tool call in its cells is relayed out of the sandbox.
  Its last cell must print the recorded answer;
* for some sessions, a pair of requests made on purpose at the same time: two 3-second
  executes to the same session, the second sent 0.5 s after the first. Exactly one must
  run; the other must answer 409 Conflict, and is counted under its own name (a success
  only then). Whichever wins, the counter in the next answer shows that only one ran.

Each kind is its own request type in locust's statistics: the first execute of a session
(it starts the sandbox), the other executes, the invokes, the pair's execute that ran and
the one refused, and the ``DELETE``.

Every answer is checked; a wrong one is a failure with the reason, and so is one that took
longer than API Gateway's 29 s (the deployed API would have answered 504).

Settings (environment): ``LOAD_SESSIONS`` (20), ``LOAD_REQUESTS`` per session before the
delete (10, at least 4), ``LOAD_CONFLICT_EVERY`` (every 2nd session makes the concurrent
pair; 0: none), ``LOAD_TIME_LIMIT`` seconds (600), ``LOAD_RUN_ID`` (session id prefix;
random by default).
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, task
from locust.exception import StopUser

from bench.load.plan import (
    CONFLICT,
    DELETE,
    EXECUTE,
    INVOKE,
    NEW_SESSION,
    PAIR_RAN,
    LoadSettings,
    session_plan,
)
from devtools.bedrock_replay.fixtures import EXPENSE_TABLE, load_fixture

SETTINGS = LoadSettings.from_env(os.environ)
RUN_ID = os.environ.get("LOAD_RUN_ID") or uuid.uuid4().hex[:6]
_RECORDING = load_fixture("converse_expense_audit_ptc")
PROMPT = _RECORDING["calls"][0]["prompt"]
TOOLS = _RECORDING["calls"][0]["tools"]
HOLD_SECONDS = 3.0  # how long each execute of a concurrent pair holds its session
SECOND_AFTER = 0.5  # seconds between the two
GATEWAY_TIMEOUT_MS = 29_000  # API Gateway's integration timeout for a buffered request

_indexes = itertools.count()
_finished: set[int] = set()


class SessionUser(FastHttpUser):
    """One named session: its plan of requests, then ``DELETE``, then it stops."""

    network_timeout = 120.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        self.index = next(_indexes)
        self.session_id = f"load-{RUN_ID}-{self.index:02d}"
        self.count: int | None = None  # the kernel's counter; None before the first execute

    @task
    def run_plan(self) -> None:
        try:
            for step in session_plan(self.index, SETTINGS):
                if step in (NEW_SESSION, EXECUTE):
                    self._execute()
                elif step == INVOKE:
                    self._invoke()
                elif step == CONFLICT:
                    self._conflict()
            self._delete()
        finally:
            _finished.add(self.index)
        raise StopUser()

    # --- requests -------------------------------------------------------------------------

    def _execute(self, hold: float = 0.0, outcomes: list[int] | None = None) -> None:
        """One execute; with ``outcomes`` it is one of a concurrent pair: a 409 Conflict is
        then the expected answer of whichever of the two found the session busy."""
        sleep = f"import time\ntime.sleep({hold})\n" if hold else ""
        if self.count is None:  # the session's first request: start the counter
            code, expected = f"{sleep}n = 0\n", 0
        else:
            code, expected = f"{sleep}n += 1\n", self.count + 1
        code += f"print({self.session_id!r}, n)"
        name = NEW_SESSION if self.count is None else EXECUTE
        if outcomes is not None:
            name = PAIR_RAN  # renamed below if it is the one refused
        with self._post(f"/sessions/{self.session_id}/execute", {"code": code}, name) as r:
            body = _json(r)
            want = f"{self.session_id} {expected}\n"
            problem = None
            if outcomes is not None:
                outcomes.append(r.status_code)
            if outcomes is not None and r.status_code == 409:
                r.request_meta["name"] = CONFLICT  # counted apart: the deliberate 409s
                if (body.get("error") or {}).get("code") != "Conflict":  # the lease was held
                    problem = f"409 {_error(body)}"
            elif r.status_code != 200:
                problem = f"{r.status_code}: {_error(body)}"
            elif body.get("session_id") != self.session_id or body.get("stdout") != want:
                problem = f"expected stdout {want!r}, got {body.get('stdout')!r}"
            if r.status_code == 200:
                self.count = expected
            _judge(r, problem)

    def _invoke(self) -> None:
        request = {
            "prompt": PROMPT,
            "loop": "converse",
            "mode": "ptc",
            "tools": TOOLS,
            "session_id": self.session_id,
        }
        with self._post("/invoke", request, INVOKE) as r:
            body = _json(r)
            runs = body.get("code_runs") or [{}]
            problem = None
            if r.status_code != 200:
                problem = f"{r.status_code}: {_error(body)}"
            elif body.get("stop_reason") != "end_turn":
                problem = f"stop_reason {body.get('stop_reason')!r}: {str(body)[:300]}"
            elif runs[-1].get("stdout") != EXPENSE_TABLE:
                problem = f"last cell printed {runs[-1].get('stdout')!r}"
            _judge(r, problem)

    def _conflict(self) -> None:
        """Two executes on the session, the second sent while the first runs (it sleeps
        :data:`HOLD_SECONDS`): exactly one must run and the other answer 409."""
        outcomes: list[int] = []
        first = gevent.spawn(self._execute, HOLD_SECONDS, outcomes)
        gevent.sleep(SECOND_AFTER)
        self._execute(HOLD_SECONDS, outcomes)
        first.join()
        if sorted(outcomes) != [200, 409]:
            self.environment.events.request.fire(
                request_type="POST",
                name=CONFLICT,
                response_time=0,
                response_length=0,
                exception=AssertionError(f"a concurrent pair answered {sorted(outcomes)}"),
                context={},
            )

    def _delete(self) -> None:
        with self.client.delete(
            f"/sessions/{self.session_id}", name=DELETE, catch_response=True
        ) as r:
            body = _json(r)
            ok = r.status_code == 200 and body.get("stopped") is True
            _judge(r, None if ok else f"{r.status_code}: {body}")

    def _post(self, path: str, body: dict[str, Any], name: str) -> Any:
        return self.client.post(path, json=body, name=name, catch_response=True)


class OneSessionPerUser(LoadTestShape):
    """All sessions at once; the test ends when every one has finished, or at the limit."""

    def tick(self) -> tuple[int, float] | None:
        if len(_finished) >= SETTINGS.sessions or self.get_run_time() > SETTINGS.time_limit:
            return None
        return SETTINGS.sessions, float(SETTINGS.sessions)


def _judge(response: Any, problem: str | None) -> None:
    """Mark the request failed with ``problem``, or when it took longer than API Gateway
    lets a buffered request run (it would have answered 504 instead); else succeeded."""
    ms = response.request_meta["response_time"]
    if problem is None and ms > GATEWAY_TIMEOUT_MS:
        problem = f"took {ms / 1000:.1f} s: over API Gateway's 29 s limit (a 504 on AWS)"
    if problem:
        response.failure(problem)
    else:
        response.success()


def _json(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(body: dict[str, Any]) -> str:
    error = body.get("error") or {}
    return f"{error.get('code')}: {error.get('message')}" if error else str(body)[:300]
