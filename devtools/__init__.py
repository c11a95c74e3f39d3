"""Development helpers shared by tests, benchmarks and scripts: never in the Lambda bundle.

* :mod:`.bedrock_replay` — recorded Bedrock model turns replayed through the real boto3 client
* :mod:`.http_adapter` — HTTP requests as API Gateway REST proxy events (``make local``)
* :mod:`.lambda_adapter` — moto's Lambda ``Invoke`` routed to our handlers in-process
* :mod:`.local_aws` — moto server, the table and bucket the stack would create
* :mod:`.tokens` — offline token estimates and the direct-vs-PTC comparison
* :mod:`.expense` — the expense-audit demo as tests use it
* :mod:`.deployment` — the synthesized app with test names for its resources (intrinsics resolved)
* :mod:`.function_harness` — each Lambda function with its own handler module, config and clients
* :mod:`.call_recorder` — every AWS call, attributed to the resource whose client made it
* :mod:`.iam_check` — recorded calls against a role: missing, unused and too broad grants
"""
