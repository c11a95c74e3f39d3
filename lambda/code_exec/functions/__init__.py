"""Entry modules of the Lambda functions that serve no HTTP route: one per function.

| module | function | handler |
|---|---|---|
| ``job_function`` | JobFunction (the job machine's RunJob task) | ``job_handler`` |
| ``cleanup_function`` | CleanupFunction (Cleanup step, EventBridge rule) | ``cleanup_handler`` |
| ``sweeper_function`` | SweeperFunction (EventBridge schedule) | ``sweeper_handler`` |

The HTTP functions' entry modules live with their routes: ``code_exec.api.handler``
(``api_handler``), ``code_exec.api.streamed`` (``stream_handler``) and
``code_exec.anthropic.authorizer`` (``handler``). Each entry module builds its own
``services`` (one Lambda execution environment each) and imports only what its function
runs: ``bench/cold_start.py`` measures it, ``tests/bench/test_cold_start.py`` bounds it.
Nothing is imported here.
"""
