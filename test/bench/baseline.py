# The Python baseline of the cold-start benchmark: what a Python Lambda
# built like AWS's Secrets Manager rotation templates does before it can take
# its first invocation (import boto3, create the Secrets Manager and SNS
# clients), then what every runtime does once it is ready: ask the runtime
# API for the next invocation. cmd/bench times the process from exec to the
# arrival of that request, exactly as it times the Go bootstraps.
import http.client
import os

import boto3

secretsmanager = boto3.client("secretsmanager")
sns = boto3.client("sns")

conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
conn.request("GET", "/2018-06-01/runtime/invocation/next")
conn.getresponse()
