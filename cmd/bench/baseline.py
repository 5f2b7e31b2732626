# The Python baseline of the cold-start benchmark: what AWS's Python
# Secrets Manager rotation templates do before their first line of logic
# (import boto3, create the Secrets Manager and SNS clients). cmd/bench times
# the process from exec to the "ready" line, then reads its peak RSS and
# closes stdin to let it exit.
import sys

import boto3

secretsmanager = boto3.client("secretsmanager")
sns = boto3.client("sns")
print("ready", flush=True)
sys.stdin.read()
