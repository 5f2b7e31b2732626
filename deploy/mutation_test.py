"""Proof that template_test.py can fail.

Each case below breaks template.yaml in one way that matters (in memory;
the file is never changed) and runs the rendered-template checks on the
result: the named check must fail. A case whose pattern is no longer in the
template fails too, so the list keeps up with the template.

cfn-lint is not run here (template_test.py runs it on the real template).
"""

import os
import unittest

import template_test

# (what breaks, check that must fail, text in template.yaml, replacement)
SECRET_SCOPE = (
    "                Resource: !Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*\n"
    "                Condition:\n"
    "                  \"Null\":\n"
    "                    aws:ResourceTag/sp-api-lwa:client-id: \"false\"\n"
)
SECRET_SCOPE_UNTAGGED = "                Resource: !Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*\n"

# (what breaks, check that must fail, text in template.yaml, replacement)
MUTATIONS = [
    # queues
    ("another account may send", "test_queue_policy_allows_only_sp_api_send",
     "              AWS: arn:aws:iam::437568002678:root\n",
     "              AWS: [arn:aws:iam::437568002678:root, arn:aws:iam::111111111111:root]\n"),
    ("SP-API may receive", "test_queue_policy_allows_only_sp_api_send",
     "              - sqs:SendMessage\n",
     "              - sqs:SendMessage\n              - sqs:ReceiveMessage\n"),
    ("dead-letter queues allow plain HTTP", "test_every_queue_denies_insecure_transport",
     "            Action: sqs:*\n            Resource:\n              - !GetAtt NewSecretDeadLetterQueue.Arn",
     "            Action: sqs:DeleteQueue\n            Resource:\n              - !GetAtt NewSecretDeadLetterQueue.Arn"),
    ("event dead-letter queue allows plain HTTP", "test_every_queue_denies_insecure_transport",
     "            Action: sqs:*\n            Resource: !GetAtt RotationFailureDeadLetterQueue.Arn\n",
     "            Action: sqs:DeleteQueue\n            Resource: !GetAtt RotationFailureDeadLetterQueue.Arn\n"),
    ("4-day retention", "test_every_queue_keeps_messages_longer_than_a_week",
     "      MessageRetentionPeriod: 1209600\n      MaximumMessageSize: 16384\n\n  # SP-API delivers",
     "      MessageRetentionPeriod: 345600\n      MaximumMessageSize: 16384\n\n  # SP-API delivers"),
    ("unbounded redrive", "test_every_queue_has_a_dead_letter_queue",
     "        deadLetterTargetArn: !GetAtt SecretExpiryDeadLetterQueue.Arn\n        maxReceiveCount: 5\n",
     "        deadLetterTargetArn: !GetAtt SecretExpiryDeadLetterQueue.Arn\n        maxReceiveCount: 500\n"),
    ("queue without encryption", "test_every_queue_is_encrypted",
     "      SqsManagedSseEnabled: true\n      MessageRetentionPeriod: 1209600\n      MaximumMessageSize: 16384\n      VisibilityTimeout: 360\n",
     "      SqsManagedSseEnabled: false\n      MessageRetentionPeriod: 1209600\n      MaximumMessageSize: 16384\n      VisibilityTimeout: 360\n"),
    ("visibility timeout below the consumer's", "test_visibility_timeout_covers_consumer",
     "      VisibilityTimeout: 360\n",
     "      VisibilityTimeout: 60\n"),
    ("batch fails as a whole", "test_event_sources_report_batch_item_failures",
     "            Queue: !GetAtt SecretExpiryQueue.Arn\n            BatchSize: 10\n            FunctionResponseTypes: [ReportBatchItemFailures]\n",
     "            Queue: !GetAtt SecretExpiryQueue.Arn\n            BatchSize: 10\n"),
    ("notification queue takes any size", "test_notification_queues_take_only_notification_sized_messages",
     "      MaximumMessageSize: 16384\n      VisibilityTimeout: 360\n",
     "      VisibilityTimeout: 360\n"),
    ("notification queue takes 1 MiB", "test_notification_queues_take_only_notification_sized_messages",
     "      MaximumMessageSize: 16384\n      VisibilityTimeout: 360\n",
     "      MaximumMessageSize: 1048576\n      VisibilityTimeout: 360\n"),
    ("notification queue too small for a notification", "test_notification_queues_take_only_notification_sized_messages",
     "      MaximumMessageSize: 16384\n      VisibilityTimeout: 360\n",
     "      MaximumMessageSize: 1024\n      VisibilityTimeout: 360\n"),
    ("dead-letter queue smaller than its source", "test_notification_queues_take_only_notification_sized_messages",
     "      MaximumMessageSize: 16384\n\n  SecretExpiryQueue:",
     "      MaximumMessageSize: 1024\n\n  SecretExpiryQueue:"),
    # IAM
    ("expiry alert reads secret values", "test_expiry_alert_cannot_read_secret_values",
     "                Action: secretsmanager:DescribeSecret\n",
     "                Action: [secretsmanager:DescribeSecret, secretsmanager:GetSecretValue]\n"),
    ("secret action on *", "test_nothing_allowed_on_every_resource_but_list_secrets",
     "                Action: secretsmanager:ListSecrets\n",
     "                Action: [secretsmanager:ListSecrets, secretsmanager:DescribeSecret]\n"),
    ("secret action without the tag condition", "test_secret_actions_only_on_tagged_secrets",
     "                  - secretsmanager:UpdateSecretVersionStage\n" + SECRET_SCOPE,
     "                  - secretsmanager:UpdateSecretVersionStage\n" + SECRET_SCOPE_UNTAGGED),
    ("watchdog reads untagged secrets", "test_secret_actions_only_on_tagged_secrets",
     "                  - secretsmanager:ListSecretVersionIds\n" + SECRET_SCOPE + "              - !If\n",
     "                  - secretsmanager:ListSecretVersionIds\n" + SECRET_SCOPE_UNTAGGED + "              - !If\n"),
    ("receiver cannot start a rotation", "test_rotate_secret_callers_may_invoke_rotation_function",
     "              - Sid: StartRotation\n                Effect: Allow\n                Action: lambda:InvokeFunction\n                Resource: !GetAtt RotateSecretFunction.Arn\n",
     ""),
    ("receiver may move labels", "test_receiver_secret_actions",
     "              - Sid: ManagedSecretsRead\n                Effect: Allow\n                Action:\n                  - secretsmanager:DescribeSecret\n                  - secretsmanager:GetSecretValue\n",
     "              - Sid: ManagedSecretsRead\n                Effect: Allow\n                Action:\n                  - secretsmanager:DescribeSecret\n                  - secretsmanager:GetSecretValue\n                  - secretsmanager:UpdateSecretVersionStage\n"),
    ("receiver may label AWSCURRENT", "test_receiver_cannot_make_a_version_current",
     "                      - LWA_SUPERSEDED\n",
     "                      - LWA_SUPERSEDED\n                      - AWSCURRENT\n"),
    ("receiver's label denial removed", "test_receiver_cannot_make_a_version_current",
     "              - Sid: NeverLabelOtherThanReceived\n                Effect: Deny\n",
     "              - Sid: NeverLabelOtherThanReceived\n                Effect: Allow\n"),
    ("rotation starter may name another rotation function", "test_rotation_starters_cannot_change_rotation_configuration",
     "                    secretsmanager:RotationLambdaARN: \"false\"\n",
     "                    secretsmanager:RotationLambdaARN: \"true\"\n"),
    ("rotation starter may change the schedule", "test_rotation_starters_cannot_change_rotation_configuration",
     "                    secretsmanager:ModifyRotationRules: \"true\"\n",
     "                    secretsmanager:ModifyRotationRules: \"false\"\n"),
    ("rotation cannot list versions", "test_rotation_role",
     "                  - secretsmanager:ListSecretVersionIds\n                  - secretsmanager:PutSecretValue\n",
     "                  - secretsmanager:PutSecretValue\n"),
    ("rotation cannot record rejected secrets", "test_rotation_role",
     "                      - sp-api-lwa:rejected-secrets\n",
     ""),
    ("rotation may retag the client id", "test_rotation_role",
     "                      - sp-api-lwa:rejected-secrets\n",
     "                      - sp-api-lwa:rejected-secrets\n                      - sp-api-lwa:client-id\n"),
    ("watchdog may write a secret", "test_watchdog_role_reads_only",
     "                  - secretsmanager:ListSecretVersionIds\n" + SECRET_SCOPE + "              - !If\n",
     "                  - secretsmanager:ListSecretVersionIds\n                  - secretsmanager:PutSecretValue\n" + SECRET_SCOPE + "              - !If\n"),
    ("watchdog may start rotations", "test_watchdog_role_reads_only",
     "        - PolicyName: watchdog\n          PolicyDocument:\n            Version: \"2012-10-17\"\n            Statement:\n",
     "        - PolicyName: watchdog\n          PolicyDocument:\n            Version: \"2012-10-17\"\n            Statement:\n"
     "              - Effect: Allow\n                Action: lambda:InvokeFunction\n                Resource: !GetAtt RotateSecretFunction.Arn\n"),
    # the fleet
    ("a per-secret parameter", "test_no_per_secret_parameters_conditions_or_resources",
     "\nParameters:\n",
     "\nParameters:\n  ManagedSecretArn:\n    Type: String\n    Default: \"\"\n"),
    ("a rotation schedule in the template", "test_no_per_secret_parameters_conditions_or_resources",
     "  RotateSecretPermission:\n",
     "  RotationSchedule1:\n    Type: AWS::SecretsManager::RotationSchedule\n    Properties:\n"
     "      SecretId: arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf\n"
     "      RotationLambdaARN: !GetAtt RotateSecretFunction.Arn\n"
     "      RotationRules:\n        ScheduleExpression: rate(30 days)\n\n  RotateSecretPermission:\n"),
    ("rotation permission not scoped to the account", "test_secrets_manager_may_invoke_rotation_for_the_account",
     "      Principal: secretsmanager.amazonaws.com\n      SourceAccount: !Ref AWS::AccountId\n",
     "      Principal: secretsmanager.amazonaws.com\n"),
    # functions
    ("watchdog without the rotation function's ARN", "test_watchdog_configuration",
     "          ROTATE_SECRET_FUNCTION_ARN: !GetAtt RotateSecretFunction.Arn\n",
     ""),
    ("watchdog times out mid-sweep", "test_watchdog_configuration",
     "      Timeout: 300\n",
     "      Timeout: 30\n"),
    ("watchdog writes to another function's log group", "test_functions",
     "        LogGroup: !Ref WatchdogLogGroup\n",
     "        LogGroup: !Ref RotateSecretLogGroup\n"),
    ("watchdog runs hourly", "test_watchdog_runs_daily",
     "            Schedule: cron(0 6 * * ? *)\n",
     "            Schedule: cron(0 * * * ? *)\n"),
    # alerts
    ("alarm goes nowhere", "test_every_alarm_routes_to_the_topic",
     "      Threshold: 900\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n      AlarmActions: [!Ref AlertTopic]\n",
     "      Threshold: 900\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n"),
    ("no throttles alarm on the watchdog", "test_function_alarms",
     "      MetricName: Throttles\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref WatchdogFunction\n",
     "      MetricName: Duration\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref WatchdogFunction\n"),
    ("no errors alarm on the watchdog", "test_function_alarms",
     "      MetricName: Errors\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref WatchdogFunction\n",
     "      MetricName: Duration\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref WatchdogFunction\n"),
    ("no age alarm on the expiry queue", "test_queue_alarms",
     "      MetricName: ApproximateAgeOfOldestMessage\n      Dimensions:\n        - Name: QueueName\n          Value: !GetAtt SecretExpiryQueue.QueueName\n",
     "      MetricName: ApproximateNumberOfMessagesVisible\n      Dimensions:\n        - Name: QueueName\n          Value: !GetAtt SecretExpiryQueue.QueueName\n"),
    ("no alarm on the event dead-letter queue", "test_queue_alarms",
     "          Value: !GetAtt RotationFailureDeadLetterQueue.QueueName\n",
     "          Value: !GetAtt SecretExpiryQueue.QueueName\n"),
    ("a silent watchdog counts as healthy", "test_watchdog_not_run_alarm",
     "      ComparisonOperator: LessThanThreshold\n      TreatMissingData: breaching\n",
     "      ComparisonOperator: LessThanThreshold\n      TreatMissingData: notBreaching\n"),
    ("not-run alarm fires between daily runs", "test_watchdog_not_run_alarm",
     "      Period: 86400\n      EvaluationPeriods: 1\n      Threshold: 1\n",
     "      Period: 3600\n      EvaluationPeriods: 1\n      Threshold: 1\n"),
    ("expiry alarm on one client id only", "test_days_until_expiry_alarm",
     "      MetricName: DaysUntilExpiry\n",
     "      MetricName: DaysUntilExpiry\n      Dimensions:\n        - Name: ClientId\n          Value: amzn1.application-oa2-client.0123\n"),
    ("expiry alarm on the maximum", "test_days_until_expiry_alarm",
     "      MetricName: DaysUntilExpiry\n      Statistic: Minimum\n",
     "      MetricName: DaysUntilExpiry\n      Statistic: Maximum\n"),
    ("unknown expiry raises the alarm", "test_days_until_expiry_alarm",
     "      Threshold: 30\n      ComparisonOperator: LessThanThreshold\n      TreatMissingData: notBreaching\n",
     "      Threshold: 30\n      ComparisonOperator: LessThanThreshold\n      TreatMissingData: breaching\n"),
    ("topic key CloudWatch cannot use", "test_alert_topic_is_encrypted_with_a_key_alarms_can_use",
     "      KmsMasterKeyId: !Ref AlertTopicKey\n",
     "      KmsMasterKeyId: alias/aws/sns\n"),
    ("topic key open to EventBridge", "test_alert_topic_is_encrypted_with_a_key_alarms_can_use",
     "              Service: cloudwatch.amazonaws.com\n            Action:\n              - kms:Decrypt\n",
     "              Service: [cloudwatch.amazonaws.com, events.amazonaws.com]\n            Action:\n              - kms:Decrypt\n"),
    ("EventBridge may publish alerts", "test_topic_policy",
     "          - Sid: AlarmsPublish\n",
     "          - Sid: EventsPublish\n            Effect: Allow\n            Principal:\n              Service: events.amazonaws.com\n"
     "            Action: sns:Publish\n            Resource: !Ref AlertTopic\n            Condition:\n"
     "              StringEquals:\n                aws:SourceAccount: !Ref AWS::AccountId\n          - Sid: AlarmsPublish\n"),
    # the rotation-failure rule
    ("rule alerts the topic in AWS's raw format", "test_rotation_failure_rule",
     "        - Id: WatchdogFunction\n          Arn: !GetAtt WatchdogFunction.Arn\n",
     "        - Id: WatchdogFunction\n          Arn: !Ref AlertTopic\n"),
    ("rule watches named secrets only", "test_rotation_failure_rule",
     "          eventName: [RotationFailed, RotationAbandoned, TestRotationFailed]\n",
     "          eventName: [RotationFailed, RotationAbandoned, TestRotationFailed]\n"
     "          additionalEventData:\n            SecretId: [arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf]\n"),
    ("rule misses RotationAbandoned", "test_rotation_failure_rule",
     "          eventName: [RotationFailed, RotationAbandoned, TestRotationFailed]\n",
     "          eventName: [RotationFailed, TestRotationFailed]\n"),
    ("rule without retry policy", "test_rotation_failure_rule",
     "          RetryPolicy:\n            MaximumRetryAttempts: 185\n            MaximumEventAgeInSeconds: 86400\n",
     ""),
    ("rule without dead-letter queue", "test_rotation_failure_rule",
     "          DeadLetterConfig:\n            Arn: !GetAtt RotationFailureDeadLetterQueue.Arn\n",
     ""),
    ("any rule may fill the dead-letter queue", "test_rotation_failure_rule",
     "            Condition:\n              ArnEquals:\n                aws:SourceArn: !GetAtt RotationFailureRule.Arn\n",
     ""),
    ("rule may not invoke the watchdog", "test_rotation_failure_rule",
     "      SourceArn: !GetAtt RotationFailureRule.Arn\n",
     "      SourceArn: !GetAtt WatchdogFunctionDailySweep.Arn\n"),
    # outputs and packaging
    ("output renamed", "test_outputs",
     "  RotateSecretFunctionArn:\n",
     "  RotateSecretFunctionArnX:\n"),
    ("rotation function not exported", "test_outputs",
     "    Export:\n      Name: !Sub ${AWS::StackName}-RotateSecretFunctionArn\n",
     ""),
    ("no event dead-letter queue output", "test_outputs",
     "  RotationFailureDeadLetterQueueArn:\n",
     "  RotationFailureDeadLetterQueueArnX:\n"),
    ("dead-letter queue output is a URL", "test_outputs",
     "    Value: !GetAtt NewSecretDeadLetterQueue.Arn\n",
     "    Value: !Ref NewSecretDeadLetterQueue\n"),
    ("no watchdog log group output", "test_outputs",
     "  WatchdogLogGroupName:\n",
     "  WatchdogLogGroup:\n"),
    ("license id does not match LICENSE", "test_serverless_repo_metadata",
     "    SpdxLicenseId: MIT-0\n",
     "    SpdxLicenseId: Apache-2.0\n"),
    ("README not in the repository", "test_serverless_repo_metadata",
     "    ReadmeUrl: README.md\n",
     "    ReadmeUrl: docs/README.md\n"),
]


class MutationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(template_test.TEMPLATE, encoding="utf-8") as f:
            cls.source = f.read()

    def test_each_mutation_is_caught(self):
        loader = unittest.TestLoader()
        for what, check, old, new in MUTATIONS:
            with self.subTest(what):
                count = self.source.count(old)
                self.assertGreaterEqual(count, 1, f"{what}: pattern not in {os.path.basename(template_test.TEMPLATE)}; update this case")
                mutated = type("Mutated", (template_test.RenderedTemplateTest,), {"template_text": self.source.replace(old, new, 1)})
                result = unittest.TestResult()
                loader.loadTestsFromTestCase(mutated).run(result)
                failed = {t.id().rsplit(".", 1)[-1] for t, _ in result.failures + result.errors}
                self.assertIn(check, failed, f"{what}: {check} passed on the broken template (failed: {sorted(failed)})")


if __name__ == "__main__":
    unittest.main()
