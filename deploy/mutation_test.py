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
MUTATIONS = [
    ("another account may send", "test_queue_policy_allows_only_sp_api_send",
     "              AWS: arn:aws:iam::437568002678:root\n",
     "              AWS: [arn:aws:iam::437568002678:root, arn:aws:iam::111111111111:root]\n"),
    ("SP-API may receive", "test_queue_policy_allows_only_sp_api_send",
     "              - sqs:SendMessage\n",
     "              - sqs:SendMessage\n              - sqs:ReceiveMessage\n"),
    ("dead-letter queues allow plain HTTP", "test_every_queue_denies_insecure_transport",
     "            Action: sqs:*\n            Resource:\n              - !GetAtt NewSecretDeadLetterQueue.Arn",
     "            Action: sqs:DeleteQueue\n            Resource:\n              - !GetAtt NewSecretDeadLetterQueue.Arn"),
    ("expiry alert reads secret values", "test_expiry_alert_cannot_read_secret_values",
     "                  - secretsmanager:DescribeSecret\n                  - secretsmanager:RotateSecret\n",
     "                  - secretsmanager:DescribeSecret\n                  - secretsmanager:GetSecretValue\n                  - secretsmanager:RotateSecret\n"),
    ("secret action on *", "test_nothing_allowed_on_every_resource_but_list_secrets",
     "              Action: secretsmanager:ListSecrets\n",
     "              Action: [secretsmanager:ListSecrets, secretsmanager:DescribeSecret]\n"),
    ("secret action without the tag condition", "test_secret_actions_only_on_tagged_secrets",
     "                  - secretsmanager:UpdateSecretVersionStage\n"
     "                Resource: !Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*\n"
     "                Condition:\n"
     "                  \"Null\":\n"
     "                    aws:ResourceTag/sp-api-lwa:client-id: \"false\"\n",
     "                  - secretsmanager:UpdateSecretVersionStage\n"
     "                Resource: !Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*\n"),
    ("a deploy rotates a secret", "test_rotation_schedules",
     "      SecretId: !Ref ManagedSecretArn2\n      RotationLambdaARN: !GetAtt RotateSecretFunction.Arn\n      RotateImmediatelyOnUpdate: false\n",
     "      SecretId: !Ref ManagedSecretArn2\n      RotationLambdaARN: !GetAtt RotateSecretFunction.Arn\n      RotateImmediatelyOnUpdate: true\n"),
    ("schedule created before the permission", "test_rotation_schedules",
     "    Condition: HasSecret3\n    DependsOn: RotateSecretPermission\n",
     "    Condition: HasSecret3\n"),
    ("default schedule beyond 90 days", "test_schedule_default_is_well_inside_180_days",
     "    Default: rate(30 days)\n",
     "    Default: rate(179 days)\n"),
    ("4-day retention", "test_every_queue_keeps_messages_longer_than_a_week",
     "    Properties:\n      SqsManagedSseEnabled: true\n      MessageRetentionPeriod: 1209600\n\n  # SP-API delivers",
     "    Properties:\n      SqsManagedSseEnabled: true\n      MessageRetentionPeriod: 345600\n\n  # SP-API delivers"),
    ("unbounded redrive", "test_every_queue_has_a_dead_letter_queue",
     "        deadLetterTargetArn: !GetAtt SecretExpiryDeadLetterQueue.Arn\n        maxReceiveCount: 5\n",
     "        deadLetterTargetArn: !GetAtt SecretExpiryDeadLetterQueue.Arn\n        maxReceiveCount: 500\n"),
    ("queue without encryption", "test_every_queue_is_encrypted",
     "      SqsManagedSseEnabled: true\n      MessageRetentionPeriod: 1209600\n      VisibilityTimeout: 360\n",
     "      SqsManagedSseEnabled: false\n      MessageRetentionPeriod: 1209600\n      VisibilityTimeout: 360\n"),
    ("visibility timeout below the consumer's", "test_visibility_timeout_covers_consumer",
     "      VisibilityTimeout: 360\n",
     "      VisibilityTimeout: 60\n"),
    ("batch fails as a whole", "test_event_sources_report_batch_item_failures",
     "            Queue: !GetAtt SecretExpiryQueue.Arn\n            BatchSize: 10\n            FunctionResponseTypes: [ReportBatchItemFailures]\n",
     "            Queue: !GetAtt SecretExpiryQueue.Arn\n            BatchSize: 10\n"),
    ("alarm goes nowhere", "test_every_alarm_routes_to_the_topic",
     "      Threshold: 900\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n      AlarmActions: [!Ref AlertTopic]\n",
     "      Threshold: 900\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n"),
    ("topic key CloudWatch cannot use", "test_alert_topic_is_encrypted_with_a_key_alarms_and_eventbridge_can_use",
     "      KmsMasterKeyId: !Ref AlertTopicKey\n",
     "      KmsMasterKeyId: alias/aws/sns\n"),
    ("rule alerts nobody", "test_rotation_failure_rule",
     "        - Id: AlertTopic\n          Arn: !Ref AlertTopic\n",
     "        - Id: AlertTopic\n          Arn: !GetAtt NewSecretQueue.Arn\n"),
    ("receiver cannot start a rotation", "test_rotate_secret_callers_may_invoke_rotation_function",
     "              - Sid: StartRotation\n                Effect: Allow\n                Action: lambda:InvokeFunction\n                Resource: !GetAtt RotateSecretFunction.Arn\n",
     ""),
    ("receiver cannot move LWA_RECEIVED", "test_receiver_may_store_and_promote",
     "                  - secretsmanager:PutSecretValue\n                  - secretsmanager:UpdateSecretVersionStage\n                  - secretsmanager:RotateSecret\n",
     "                  - secretsmanager:PutSecretValue\n                  - secretsmanager:RotateSecret\n"),
    ("output renamed", "test_outputs",
     "  RotateSecretFunctionArn:\n",
     "  RotateSecretFunctionArnX:\n"),
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
