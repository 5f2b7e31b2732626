"""Checks of template.yaml as CloudFormation will see it.

The SAM transform is rendered offline with aws-sam-translator (no AWS
account, no network: a stub stands in for the IAM managed-policy lookup and
sockets are disabled while rendering), then the security and reliability
properties the deployment promises are asserted on the rendered resources.
cfn-lint must report nothing, and samconfig.toml must match the template.

Run from the repository root:

    python3 -m unittest discover -s deploy -p '*_test.py'

TEMPLATE_FILE and SAMCONFIG_FILE name other files to check (used to prove
that a broken template fails these tests).
"""

import copy
import fnmatch
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import unittest

import yaml
from samtranslator.translator.transform import transform

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.environ.get("TEMPLATE_FILE", os.path.join(ROOT, "template.yaml"))
SAMCONFIG = os.environ.get("SAMCONFIG_FILE", os.path.join(ROOT, "samconfig.toml"))

SP_API_ACCOUNT = "437568002678"
SP_API_PRINCIPAL = "arn:aws:iam::437568002678:root"
MANAGED_TAG = "aws:ResourceTag/sp-api-lwa:client-id"
FUNCTIONS = ("RotateSecretFunction", "ReceiveSecretFunction", "ExpiryAlertFunction")

# Values for every parameter that has no usable default, so that every
# conditional resource is rendered with realistic input.
PARAMETERS = {
    "ManagedSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:sp-api-lwa/app-one-AbCdEf",
    "ManagedSecretArn2": "arn:aws:secretsmanager:us-east-1:123456789012:secret:sp-api-lwa/app-two-GhIjKl",
    "ManagedSecretArn3": "arn:aws:secretsmanager:us-east-1:123456789012:secret:sp-api-lwa/app-three-MnOpQr",
    "AlertEmail": "platform-team@example.com",
    "SecretsKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}


# --------------------------------------------------------------------------
# Loading and rendering


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short forms (!Ref, !Sub, ...) into
    their long forms ({"Ref": ...}, {"Fn::Sub": ...})."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)

# samtranslator records usage metrics and warns when nobody publishes them.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)


def load_template(path=TEMPLATE):
    with open(path, encoding="utf-8") as f:
        return parse_template(f.read())


def parse_template(text):
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)


class _NoManagedPolicies:
    """Stands in for samtranslator's ManagedPolicyLoader, which asks IAM."""

    def load(self):
        return {}


class _NoNetwork:
    """Makes any socket connection fail while active."""

    def __enter__(self):
        self._connect = socket.socket.connect
        self._create = socket.create_connection

        def refuse(*_args, **_kwargs):
            raise OSError("network access during an offline render")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        return self

    def __exit__(self, *exc):
        socket.socket.connect = self._connect
        socket.create_connection = self._create
        return False


def render(sam_template, parameters=None):
    """Renders the SAM transform to plain CloudFormation, offline."""
    t = copy.deepcopy(sam_template)
    # `sam package` replaces local code paths with S3 locations before the
    # transform runs; do the same with a placeholder.
    for res in t.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = "s3://example-bucket/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    with _NoNetwork():
        return transform(t, dict(parameters or PARAMETERS), _NoManagedPolicies())


# --------------------------------------------------------------------------
# Helpers over the rendered template


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def target(v):
    """Logical id a {"Ref": X} or {"Fn::GetAtt": [X, ...]} points at, else None."""
    if isinstance(v, dict):
        if "Ref" in v:
            return v["Ref"]
        if "Fn::GetAtt" in v:
            g = v["Fn::GetAtt"]
            return g[0] if isinstance(g, list) else g.split(".", 1)[0]
    return None


def branches(v):
    """The possible values of v: both branches of an Fn::If, none for AWS::NoValue."""
    if isinstance(v, dict) and "Fn::If" in v:
        out = []
        for b in v["Fn::If"][1:]:
            out.extend(branches(b))
        return out
    if isinstance(v, dict) and v.get("Ref") == "AWS::NoValue":
        return []
    return [v]


def statements(document):
    out = []
    for s in as_list(document.get("Statement")):
        out.extend(branches(s))
    return out


class RenderedTemplateTest(unittest.TestCase):
    # Source text to check instead of TEMPLATE (set by mutation_test.py).
    template_text = None

    @classmethod
    def setUpClass(cls):
        cls.sam = parse_template(cls.template_text) if cls.template_text is not None else load_template()
        cls.cfn = render(cls.sam)
        cls.res = cls.cfn["Resources"]

    # -- helpers --

    def of_type(self, type_name):
        return {k: v for k, v in self.res.items() if v["Type"] == type_name}

    def props(self, logical_id):
        return self.res[logical_id].get("Properties", {})

    def iam_statements(self):
        """(role or policy id, statement) for every IAM identity policy statement."""
        out = []
        for rid, r in self.res.items():
            p = r.get("Properties", {})
            if r["Type"] == "AWS::IAM::Role":
                for pol in as_list(p.get("Policies")):
                    for b in branches(pol):
                        out.extend((rid, s) for s in statements(b["PolicyDocument"]))
            elif r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                out.extend((rid, s) for s in statements(p["PolicyDocument"]))
        return out

    def role_of(self, function_id):
        role = self.props(function_id).get("Role")
        rid = target(role)
        self.assertIsNotNone(rid, f"{function_id}: Role is not a reference to a role in the template")
        self.assertEqual(self.res[rid]["Type"], "AWS::IAM::Role")
        return rid

    def topic(self):
        topics = self.of_type("AWS::SNS::Topic")
        self.assertEqual(len(topics), 1, "want exactly one SNS topic, the alert topic")
        return next(iter(topics))

    # -- queues --

    def queue_policies_for(self, queue_id):
        out = []
        for pid, p in self.of_type("AWS::SQS::QueuePolicy").items():
            if queue_id in [target(q) for q in as_list(p["Properties"]["Queues"])]:
                out.append(p["Properties"]["PolicyDocument"])
        return out

    def dead_letter_queues(self):
        dlqs = set()
        for q in self.of_type("AWS::SQS::Queue").values():
            rp = q["Properties"].get("RedrivePolicy")
            if rp:
                dlqs.add(target(rp.get("deadLetterTargetArn")))
        return dlqs

    def test_notification_queues_exist(self):
        for q in ("NewSecretQueue", "SecretExpiryQueue"):
            self.assertEqual(self.res.get(q, {}).get("Type"), "AWS::SQS::Queue", q)

    def test_queue_policy_allows_only_sp_api_send(self):
        allowed = set()
        for pid, p in self.of_type("AWS::SQS::QueuePolicy").items():
            for s in statements(p["Properties"]["PolicyDocument"]):
                if s.get("Effect") != "Allow":
                    continue
                principals = as_list(s.get("Principal", {}).get("AWS")) if isinstance(s.get("Principal"), dict) else [s.get("Principal")]
                self.assertEqual(principals, [SP_API_PRINCIPAL], f"{pid}: Allow statement for {principals}, want only {SP_API_PRINCIPAL}")
                self.assertEqual(set(s.get("Principal", {})), {"AWS"}, f"{pid}: Allow principal has more than the AWS key")
                self.assertEqual(sorted(as_list(s.get("Action"))), ["sqs:GetQueueAttributes", "sqs:SendMessage"], f"{pid}: SP-API actions")
                self.assertNotIn("NotAction", s)
                self.assertNotIn("NotPrincipal", s)
                allowed.update(target(r) for r in as_list(s.get("Resource")))
        self.assertEqual(allowed, {"NewSecretQueue", "SecretExpiryQueue"}, "queues SP-API may send to")
        self.assertIn(SP_API_ACCOUNT, SP_API_PRINCIPAL)

    def test_every_queue_denies_insecure_transport(self):
        for qid in self.of_type("AWS::SQS::Queue"):
            found = False
            for doc in self.queue_policies_for(qid):
                for s in statements(doc):
                    if (
                        s.get("Effect") == "Deny"
                        and s.get("Principal") in ("*", {"AWS": "*"})
                        and set(as_list(s.get("Action"))) & {"sqs:*", "*"}
                        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
                        and qid in [target(r) for r in as_list(s.get("Resource"))]
                    ):
                        found = True
            self.assertTrue(found, f"{qid}: no queue policy statement denies sqs:* without TLS")

    def test_every_queue_is_encrypted(self):
        for qid, q in self.of_type("AWS::SQS::Queue").items():
            p = q["Properties"]
            self.assertTrue(p.get("SqsManagedSseEnabled") is True or p.get("KmsMasterKeyId"), f"{qid}: no server-side encryption")

    def test_every_queue_keeps_messages_longer_than_a_week(self):
        for qid, q in self.of_type("AWS::SQS::Queue").items():
            retention = int(q["Properties"].get("MessageRetentionPeriod", 345600))
            self.assertGreaterEqual(retention, 8 * 86400, f"{qid}: MessageRetentionPeriod {retention}s, want at least 8 days (the old secret works for 7)")

    def test_every_queue_has_a_dead_letter_queue(self):
        queues = self.of_type("AWS::SQS::Queue")
        dlqs = self.dead_letter_queues()
        self.assertGreaterEqual(len(dlqs), 2)
        for qid, q in queues.items():
            if qid in dlqs:
                self.assertNotIn("RedrivePolicy", q["Properties"], f"{qid}: a dead-letter queue redrives further")
                continue
            rp = q["Properties"].get("RedrivePolicy")
            self.assertIsNotNone(rp, f"{qid}: no RedrivePolicy")
            self.assertIn(target(rp.get("deadLetterTargetArn")), queues, f"{qid}: dead-letter target is not a queue of this stack")
            count = int(rp.get("maxReceiveCount", 0))
            self.assertTrue(1 <= count <= 10, f"{qid}: maxReceiveCount {count}, want 1..10")

    def test_visibility_timeout_covers_consumer(self):
        mappings = self.of_type("AWS::Lambda::EventSourceMapping")
        self.assertEqual(len(mappings), 2, "want one SQS event source per notification queue")
        for mid, m in mappings.items():
            p = m["Properties"]
            qid, fid = target(p["EventSourceArn"]), target(p["FunctionName"])
            timeout = int(self.props(fid).get("Timeout", 3))
            visibility = int(self.props(qid).get("VisibilityTimeout", 30))
            self.assertGreaterEqual(visibility, 6 * timeout, f"{qid}: VisibilityTimeout {visibility}s, want at least 6x {fid}'s timeout {timeout}s")

    def test_event_sources_report_batch_item_failures(self):
        mappings = self.of_type("AWS::Lambda::EventSourceMapping")
        self.assertTrue(mappings)
        for mid, m in mappings.items():
            p = m["Properties"]
            self.assertIn("ReportBatchItemFailures", as_list(p.get("FunctionResponseTypes")), mid)
            self.assertLessEqual(int(p.get("BatchSize", 10)), 10, mid)
        consumers = {target(m["Properties"]["EventSourceArn"]): target(m["Properties"]["FunctionName"]) for m in mappings.values()}
        self.assertEqual(consumers, {"NewSecretQueue": "ReceiveSecretFunction", "SecretExpiryQueue": "ExpiryAlertFunction"})

    # -- IAM --

    def test_roles_have_no_managed_policies(self):
        for rid, r in self.of_type("AWS::IAM::Role").items():
            self.assertFalse(r["Properties"].get("ManagedPolicyArns"), f"{rid}: managed policies grant on every resource; write the statements out")

    def test_nothing_allowed_on_every_resource_but_list_secrets(self):
        for rid, s in self.iam_statements():
            if s.get("Effect") != "Allow":
                continue
            self.assertNotIn("NotAction", s, rid)
            self.assertNotIn("NotResource", s, rid)
            if "*" in as_list(s.get("Resource")):
                self.assertEqual(as_list(s.get("Action")), ["secretsmanager:ListSecrets"], f"{rid}: {s.get('Sid')} allows {s.get('Action')} on *")

    def test_secret_actions_only_on_tagged_secrets(self):
        seen = 0
        for rid, s in self.iam_statements():
            if s.get("Effect") != "Allow":
                continue
            for action in as_list(s.get("Action")):
                service = action.split(":", 1)[0].lower()
                self.assertNotEqual(action, "*", f"{rid}: allows every action")
                if service != "secretsmanager" or action == "secretsmanager:ListSecrets":
                    continue
                seen += 1
                self.assertNotIn("*", action.split(":", 1)[1], f"{rid}: wildcard secret action {action}")
                for resource in as_list(s.get("Resource")):
                    self.assertNotEqual(resource, "*", f"{rid}: {action} on *")
                    named = target(resource) in PARAMETERS  # a named secret parameter
                    tagged = s.get("Condition", {}).get("Null", {}).get(MANAGED_TAG) in ("false", False)
                    self.assertTrue(named or tagged, f"{rid}: {action} is neither limited to secrets tagged sp-api-lwa:client-id nor to a named secret")
        self.assertGreater(seen, 0, "no secret action found at all")

    def test_expiry_alert_cannot_read_secret_values(self):
        rid = self.role_of("ExpiryAlertFunction")
        for role_id, s in self.iam_statements():
            if role_id != rid or s.get("Effect") != "Allow":
                continue
            for action in as_list(s.get("Action")):
                for forbidden in ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "kms:Decrypt"):
                    if forbidden == "kms:Decrypt" and s.get("Resource") == {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}:
                        continue  # the alert topic's own key, needed to publish
                    self.assertFalse(fnmatch.fnmatchcase(forbidden.lower(), action.lower()), f"{rid}: {action} allows {forbidden}")

    def test_receiver_may_store_and_promote(self):
        # internal/receiver stores a new secret (PutSecretValue) and then
        # moves LWA_RECEIVED to it by compare-and-swap
        # (UpdateSecretVersionStage); without either, every new secret fails.
        rid = self.role_of("ReceiveSecretFunction")
        allowed = set()
        for role_id, s in self.iam_statements():
            if role_id == rid and s.get("Effect") == "Allow":
                allowed.update(a for a in as_list(s.get("Action")) if a.startswith("secretsmanager:"))
        want = {"secretsmanager:ListSecrets", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:RotateSecret"}
        self.assertEqual(allowed, want, f"{rid}: secret actions")

    def test_rotate_secret_callers_may_invoke_rotation_function(self):
        # RotateSecret also needs lambda:InvokeFunction on the rotation function.
        for fid in ("ReceiveSecretFunction", "ExpiryAlertFunction"):
            rid = self.role_of(fid)
            found = False
            for role_id, s in self.iam_statements():
                if role_id == rid and s.get("Effect") == "Allow" and "lambda:InvokeFunction" in as_list(s.get("Action")):
                    self.assertEqual([target(r) for r in as_list(s["Resource"])], ["RotateSecretFunction"], rid)
                    found = True
            self.assertTrue(found, f"{rid}: cannot invoke RotateSecretFunction, so RotateSecret fails")

    # -- rotation --

    def test_rotation_schedules(self):
        schedules = self.of_type("AWS::SecretsManager::RotationSchedule")
        self.assertGreaterEqual(len(schedules), 2, "want room for more than one application")
        for sid, s in schedules.items():
            p = s["Properties"]
            self.assertIs(p.get("RotateImmediatelyOnUpdate"), False, f"{sid}: RotateImmediatelyOnUpdate must be false")
            self.assertEqual(target(p["RotationLambdaARN"]), "RotateSecretFunction", sid)
            self.assertEqual(target(p["RotationRules"]["ScheduleExpression"]), "RotationScheduleExpression", sid)
            depends = as_list(s.get("DependsOn"))
            perms = [d for d in depends if self.res[d]["Type"] == "AWS::Lambda::Permission"]
            self.assertTrue(perms, f"{sid}: does not depend on a Lambda permission")
            ok = False
            for d in perms:
                pp = self.props(d)
                if (
                    pp.get("Principal") == "secretsmanager.amazonaws.com"
                    and pp.get("Action") == "lambda:InvokeFunction"
                    and pp.get("SourceAccount") == {"Ref": "AWS::AccountId"}
                    and target(pp.get("FunctionName")) == "RotateSecretFunction"
                ):
                    ok = True
            self.assertTrue(ok, f"{sid}: no DependsOn permission for secretsmanager.amazonaws.com with SourceAccount")

    def test_schedule_default_is_well_inside_180_days(self):
        default = self.sam["Parameters"]["RotationScheduleExpression"]["Default"]
        m = re.fullmatch(r"rate\((\d+) days?\)", default)
        self.assertIsNotNone(m, f"default schedule {default!r}, want rate(N days)")
        self.assertLessEqual(int(m.group(1)), 90, f"default schedule {default!r}, want at most 90 days")

    # -- functions --

    def test_functions(self):
        want_env = {
            "RotateSecretFunction": {"ALERT_TOPIC_ARN", "SECRET_CLIENT_ID_KEY", "SECRET_CLIENT_SECRET_KEY", "LWA_TOKEN_URL", "SP_API_ENDPOINT", "ROTATION_REQUEST_COOLDOWN"},
            "ReceiveSecretFunction": {"ALERT_TOPIC_ARN", "SECRET_CLIENT_ID_KEY", "SECRET_CLIENT_SECRET_KEY"},
            "ExpiryAlertFunction": {"ALERT_TOPIC_ARN", "SECRET_CLIENT_ID_KEY", "SECRET_CLIENT_SECRET_KEY", "AUTO_ROTATE_ON_EXPIRY_NOTICE"},
        }
        for fid in FUNCTIONS:
            f = self.res.get(fid)
            self.assertIsNotNone(f, fid)
            p = f["Properties"]
            self.assertEqual(p.get("Runtime"), "provided.al2023", fid)
            self.assertEqual(p.get("Architectures"), ["arm64"], fid)
            self.assertEqual(p.get("Handler"), "bootstrap", fid)
            self.assertEqual(f.get("Metadata", {}).get("BuildMethod"), "makefile", fid)
            self.assertEqual(p.get("LoggingConfig", {}).get("LogFormat"), "JSON", fid)
            self.assertLessEqual(int(p.get("Timeout", 3)), 900, fid)
            env = p.get("Environment", {}).get("Variables", {})
            self.assertTrue(want_env[fid] <= set(env), f"{fid}: environment lacks {sorted(want_env[fid] - set(env))}")
            self.assertEqual(target(env["ALERT_TOPIC_ARN"]), self.topic(), fid)

    # -- alerts --

    def test_alert_topic_is_encrypted_with_a_key_alarms_and_eventbridge_can_use(self):
        tid = self.topic()
        key = self.props(tid).get("KmsMasterKeyId")
        self.assertIsNotNone(key, f"{tid}: not encrypted")
        kid = target(key)
        self.assertIn(kid, self.res, f"{tid}: KmsMasterKeyId {key!r}: the AWS managed key alias/aws/sns cannot be used by CloudWatch or EventBridge")
        services = set()
        for s in statements(self.props(kid)["KeyPolicy"]):
            if s.get("Effect") == "Allow" and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(s.get("Action"))):
                services.update(as_list(s.get("Principal", {}).get("Service")))
        self.assertTrue({"events.amazonaws.com", "cloudwatch.amazonaws.com"} <= services, f"{kid}: key policy lets {sorted(services)} use it")

    def test_alert_email_subscription_is_optional(self):
        subs = self.of_type("AWS::SNS::Subscription")
        self.assertEqual(len(subs), 1)
        sub = next(iter(subs.values()))
        self.assertEqual(sub["Properties"]["Protocol"], "email")
        self.assertEqual(target(sub["Properties"]["Endpoint"]), "AlertEmail")
        self.assertIn("Condition", sub, "the email subscription must depend on AlertEmail being set")

    def test_every_alarm_routes_to_the_topic(self):
        alarms = self.of_type("AWS::CloudWatch::Alarm")
        tid = self.topic()
        for aid, a in alarms.items():
            actions = as_list(a["Properties"].get("AlarmActions"))
            self.assertTrue(actions, f"{aid}: no AlarmActions")
            for act in actions:
                self.assertEqual(target(act), tid, f"{aid}: alarm action {act}")
        watched = {}
        for a in alarms.values():
            p = a["Properties"]
            for d in as_list(p.get("Dimensions")):
                watched.setdefault((p["MetricName"], target(d["Value"])), p)
        self.assertIn(("Errors", "RotateSecretFunction"), watched, "no alarm on rotation function errors")
        for dlq in self.dead_letter_queues():
            self.assertIn(("ApproximateNumberOfMessagesVisible", dlq), watched, f"no alarm on messages in {dlq}")
        age = watched.get(("ApproximateAgeOfOldestMessage", "NewSecretQueue"))
        self.assertIsNotNone(age, "no alarm on the age of the oldest new-secret message")
        self.assertLessEqual(float(age["Threshold"]), 900)

    def test_topic_policy(self):
        tid = self.topic()
        policies = [p for p in self.of_type("AWS::SNS::TopicPolicy").values() if tid in [target(t) for t in p["Properties"]["Topics"]]]
        self.assertEqual(len(policies), 1)
        doc = policies[0]["Properties"]["PolicyDocument"]
        services, tls_deny = set(), False
        for s in statements(doc):
            principal = s.get("Principal")
            if s.get("Effect") == "Allow" and isinstance(principal, dict):
                self.assertNotEqual(principal.get("AWS"), "*", "topic open to everyone")
                if "Service" in principal:
                    self.assertIn("Condition", s, f"{s.get('Sid')}: service principal without a source condition")
                    services.update(as_list(principal["Service"]))
            if s.get("Effect") == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False):
                tls_deny = True
        self.assertTrue({"events.amazonaws.com", "cloudwatch.amazonaws.com"} <= services, f"topic policy lets {sorted(services)} publish")
        self.assertTrue(tls_deny, "topic policy does not deny publishing without TLS")

    def test_rotation_failure_rule(self):
        rules = self.of_type("AWS::Events::Rule")
        self.assertEqual(len(rules), 1)
        rid, rule = next(iter(rules.items()))
        p = rule["Properties"]
        pattern = p["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.secretsmanager"])
        self.assertEqual(pattern["detail-type"], ["AWS Service Event via CloudTrail"])
        self.assertEqual(set(pattern["detail"]["eventName"]), {"RotationFailed", "RotationAbandoned", "TestRotationFailed"})
        secret_ids = []
        for v in pattern["detail"]["additionalEventData"]["SecretId"]:
            secret_ids.extend(target(b) for b in branches(v))
        self.assertTrue({"ManagedSecretArn", "ManagedSecretArn2", "ManagedSecretArn3"} <= set(secret_ids), f"{rid}: rule watches {secret_ids}")
        targets = p["Targets"]
        self.assertEqual([target(t["Arn"]) for t in targets], [self.topic()])
        transformer = targets[0].get("InputTransformer")
        self.assertIsNotNone(transformer, f"{rid}: no InputTransformer")
        template = transformer["InputTemplate"]
        for var in transformer["InputPathsMap"]:
            self.assertIn(f"<{var}>", template, f"{rid}: input path {var} unused")
        for var in ("eventName", "secretId", "time"):
            self.assertIn(var, transformer["InputPathsMap"])
        self.assertIn("rotate-secret", template, "the message must say what to do")

    def test_outputs(self):
        want = {
            "NewSecretQueueArn": "NewSecretQueue",
            "SecretExpiryQueueArn": "SecretExpiryQueue",
            "AlertTopicArn": self.topic(),
            "RotateSecretFunctionArn": "RotateSecretFunction",
        }
        outputs = self.cfn.get("Outputs", {})
        for name, resource in want.items():
            self.assertIn(name, outputs)
            self.assertEqual(target(outputs[name]["Value"]), resource, name)

    # -- parameters --

    def test_parameter_defaults_satisfy_their_constraints(self):
        for name, p in self.sam["Parameters"].items():
            if "Default" not in p:
                continue
            value = str(p["Default"])
            if "AllowedPattern" in p:
                self.assertIsNotNone(re.fullmatch(p["AllowedPattern"], value), f"{name}: default {value!r} fails its AllowedPattern")
            if "AllowedValues" in p:
                self.assertIn(value, [str(v) for v in p["AllowedValues"]], name)
        for name, value in PARAMETERS.items():
            pattern = self.sam["Parameters"][name].get("AllowedPattern")
            if pattern:
                self.assertIsNotNone(re.fullmatch(pattern, value), f"{name}: test value {value!r} fails its AllowedPattern")


class SamconfigTest(unittest.TestCase):
    def test_samconfig_matches_template(self):
        with open(SAMCONFIG, "rb") as f:
            cfg = tomllib.load(f)
        self.assertEqual(cfg.get("version"), 0.1)
        deploy = cfg["default"]["deploy"]["parameters"]
        glob = cfg["default"]["global"]["parameters"]
        self.assertTrue(glob.get("stack_name"))
        self.assertTrue(glob.get("region"))
        self.assertIn("CAPABILITY_IAM", deploy["capabilities"])
        self.assertIs(deploy.get("confirm_changeset"), True)
        self.assertIs(deploy.get("resolve_s3"), True)
        overrides = deploy["parameter_overrides"]
        pairs = re.findall(r'(\w+)="((?:\\.|[^"\\])*)"', overrides)
        self.assertEqual(re.sub(r'(\w+)="((?:\\.|[^"\\])*)"', "", overrides).strip(), "", "parameter_overrides must be Key=\"value\" pairs")
        params = load_template()["Parameters"]
        for key, value in pairs:
            self.assertIn(key, params, f"samconfig sets unknown parameter {key}")
            p = params[key]
            if "AllowedPattern" in p:
                self.assertIsNotNone(re.fullmatch(p["AllowedPattern"], value), f"samconfig {key}={value!r} fails AllowedPattern")
            if "AllowedValues" in p:
                self.assertIn(value, [str(v) for v in p["AllowedValues"]], key)
            self.assertNotRegex(value, r"amzn1\.oa2-cs|Atzr\|", f"samconfig {key} holds a secret")


class CfnLintTest(unittest.TestCase):
    def test_cfn_lint_reports_nothing(self):
        exe = shutil.which("cfn-lint")
        cmd = [exe] if exe else [sys.executable, "-m", "cfnlint"]
        proc = subprocess.run(cmd + ["--", TEMPLATE], cwd=ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.stdout + proc.stderr, "", "cfn-lint output")
        self.assertEqual(proc.returncode, 0, "cfn-lint exit status")


if __name__ == "__main__":
    unittest.main()
