"""Anthropic's Messages API on Bedrock: ``/v1/messages``, ``/v1/files``, ``/v1/models``.

Code execution and programmatic tool calling are emulated: the model on Bedrock sees client
tools that stand for the server tool (:mod:`.tools`), the client sees Anthropic's server tool
blocks (:mod:`.results`), and a paused cell is resumed from DynamoDB and the sandbox by
whichever Lambda gets the next request (:mod:`.client_tool_relay`, :mod:`.ptc`,
:mod:`.containers`).

| module | one job |
|---|---|
| ``wire`` | the request body, validated as strictly as Anthropic validates it |
| ``tools`` | code execution version, client and programmatic tools, what Bedrock is sent |
| ``history`` | the client's conversation -> the Bedrock conversation |
| ``turn`` | the server-side loop (a generator of items: blocks as they are written) |
| ``sampling`` / ``bedrock`` | one model call, streamed (``InvokeModelWithResponseStream``) |
| ``server_tool_runner`` | one server tool use (bash, text editor, code) run in the sandbox |
| ``client_tool_relay`` | Python cells that pause on client tools, driven step by step |
| ``ptc`` | calls from code <-> ``tool_use`` blocks with a ``caller`` |
| ``containers`` / ``files`` | containers and the Files API (S3 + DynamoDB) |
| ``stream`` / ``usage`` / ``results`` | the response: message, SSE events, usage, result blocks |
| ``create_message`` | ``POST /v1/messages`` on the streaming function: whole, or as it runs |
| ``routes`` / ``errors`` / ``model_catalog`` | the other ``/v1/*`` routes, errors, model names |
| ``authorizer`` | the Lambda REQUEST authorizer (API keys, hashed) |

Nothing is imported here, so the authorizer's cold start loads only what it uses.
"""
