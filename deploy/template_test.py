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
# Amazon's example notifications, the payloads the queues must take.
NOTIFICATION_EXAMPLES = os.path.join(ROOT, "internal", "notification", "testdata")

SP_API_ACCOUNT = "437568002678"
SP_API_PRINCIPAL = "arn:aws:iam::437568002678:root"
MANAGED_TAG = "aws:ResourceTag/sp-api-lwa:client-id"
FUNCTIONS = ("RotateSecretFunction", "ReceiveSecretFunction", "ExpiryAlertFunction", "WatchdogFunction")
ROLE_STARTS_ROTATIONS = ("ReceiveSecretFunction", "ExpiryAlertFunction")

# Values for every parameter that has no usable default, so that every
# conditional resource is rendered with realistic input.
PARAMETERS = {
    "AlertEmail": "platform-team@example.com",
    "SecretsKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}

# What the offline policy evaluation below substitutes for the pseudo
# parameters, and the secrets it asks about.
ACCOUNT = "123456789012"
REGION = "us-east-1"
MANAGED_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:sp-api-lwa/app-one-AbCdEf"
OTHER_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:database/admin-GhIjKl"
MANAGED = {MANAGED_TAG: ["amzn1.application-oa2-client.0123456789abcdef"]}

# Every Secrets Manager action that changes a secret, its versions, labels,
# tags, policy or rotation (AWS service authorization reference, access
# levels Write, Tagging and Permissions management).
SECRET_WRITE_ACTIONS = (
    "secretsmanager:CancelRotateSecret", "secretsmanager:CreateSecret", "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:DeleteSecret", "secretsmanager:PutResourcePolicy", "secretsmanager:PutSecretValue",
    "secretsmanager:RemoveRegionsFromReplication", "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:RestoreSecret", "secretsmanager:RotateSecret", "secretsmanager:StopReplicationToReplica",
    "secretsmanager:TagResource", "secretsmanager:UntagResource", "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
)


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


# --------------------------------------------------------------------------
# Offline evaluation of the identity policies, for the condition operators
# this template uses. It answers "may this role make this request?" the way
# IAM does for a single policy: an explicit Deny wins, then any Allow whose
# action, resource and every condition match. A request is an action, a
# resource ARN and its condition context (key -> list of values; a key that
# is absent from the request is absent from the context).
#
# Modelled request contexts, from the Secrets Manager condition keys:
#   - RotateSecret: secretsmanager:ModifyRotationRules is "true" when the
#     request carries RotationRules, else "false"; secretsmanager:
#     RotationLambdaARN is present only when the request names a function.
#   - PutSecretValue: secretsmanager:VersionStage holds the request's
#     VersionStages, and is absent when the request has none (which is the
#     request that moves AWSCURRENT).


def resolve(v):
    """A policy value as a plain string: Fn::Sub with the pseudo parameters
    substituted; a Ref or Fn::GetAtt becomes "ref:<logical id>"."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and "Fn::Sub" in v:
        s = v["Fn::Sub"]
        s = s[0] if isinstance(s, list) else s
        for name, value in (("AWS::Partition", "aws"), ("AWS::Region", REGION), ("AWS::AccountId", ACCOUNT)):
            s = s.replace("${" + name + "}", value)
        return s
    tid = target(v)
    if tid is not None:
        return "ref:" + tid
    return repr(v)


def _condition_holds(operator, key, want, context):
    want = [str(w).lower() if operator.endswith("Bool") else str(w) for w in as_list(want)]
    have = context.get(key)
    if operator == "Null":
        return (have is None) == (want == ["true"])
    if have is None and not operator.startswith("ForAllValues:"):
        return False
    have = [str(h) for h in as_list(have)]
    if operator == "Bool":
        return all(h.lower() in want for h in have)
    if operator in ("StringEquals", "ArnEquals", "ForAnyValue:StringEquals"):
        return any(h in want for h in have)
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(h, w) for h in have for w in want)
    if operator == "ForAllValues:StringEquals":
        return all(h in want for h in (have or []))
    if operator == "ForAnyValue:StringNotEquals":
        return any(h not in want for h in have)
    raise AssertionError(f"condition operator {operator} is not modelled here; extend the evaluator")


def statement_matches(s, action, resource, context):
    actions = as_list(s.get("Action"))
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    resources = [resolve(r) for r in as_list(s.get("Resource"))]
    if not any(fnmatch.fnmatchcase(resource, r) for r in resources):
        return False
    for operator, pairs in s.get("Condition", {}).items():
        for key, want in pairs.items():
            if not _condition_holds(operator, key, want, context):
                return False
    return True


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
                out.append((pid, p["Properties"]["PolicyDocument"]))
        return out

    def redrive_dead_letter_queues(self):
        """{source queue: its dead-letter queue} from the queues' RedrivePolicy."""
        out = {}
        for qid, q in self.of_type("AWS::SQS::Queue").items():
            rp = q["Properties"].get("RedrivePolicy")
            if rp:
                out[qid] = target(rp.get("deadLetterTargetArn"))
        return out

    def event_dead_letter_queues(self):
        """{rule id: dead-letter queue} for every EventBridge rule target with one."""
        out = {}
        for rid, r in self.of_type("AWS::Events::Rule").items():
            for tgt in as_list(r["Properties"].get("Targets")):
                arn = tgt.get("DeadLetterConfig", {}).get("Arn")
                if arn is not None:
                    out[rid] = target(arn)
        return out

    def dead_letter_queues(self):
        return set(self.redrive_dead_letter_queues().values()) | set(self.event_dead_letter_queues().values())

    def test_notification_queues_exist(self):
        for q in ("NewSecretQueue", "SecretExpiryQueue"):
            self.assertEqual(self.res.get(q, {}).get("Type"), "AWS::SQS::Queue", q)

    def test_queue_policy_allows_only_sp_api_send(self):
        allowed = set()
        policies = {}
        for qid in ("NewSecretQueue", "SecretExpiryQueue") + tuple(self.redrive_dead_letter_queues().values()):
            policies.update(self.queue_policies_for(qid))
        self.assertTrue(policies, "no queue policy on the notification queues")
        for pid, doc in policies.items():
            for s in statements(doc):
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
            for _, doc in self.queue_policies_for(qid):
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
        self.assertGreaterEqual(len(dlqs), 3, "want dead-letter queues for both notification queues and the rotation-failure rule")
        for qid, q in queues.items():
            if qid in dlqs:
                self.assertNotIn("RedrivePolicy", q["Properties"], f"{qid}: a dead-letter queue redrives further")
                continue
            rp = q["Properties"].get("RedrivePolicy")
            self.assertIsNotNone(rp, f"{qid}: no RedrivePolicy")
            self.assertIn(target(rp.get("deadLetterTargetArn")), queues, f"{qid}: dead-letter target is not a queue of this stack")
            count = int(rp.get("maxReceiveCount", 0))
            self.assertTrue(1 <= count <= 10, f"{qid}: maxReceiveCount {count}, want 1..10")

    def test_notification_queues_take_only_notification_sized_messages(self):
        largest = 0
        for name in os.listdir(NOTIFICATION_EXAMPLES):
            if name.endswith(".json"):
                largest = max(largest, os.path.getsize(os.path.join(NOTIFICATION_EXAMPLES, name)))
        self.assertGreater(largest, 0, f"no example notification in {NOTIFICATION_EXAMPLES}")
        redrive = self.redrive_dead_letter_queues()
        for qid in ("NewSecretQueue", "SecretExpiryQueue"):
            size = self.props(qid).get("MaximumMessageSize")
            self.assertIsNotNone(size, f"{qid}: no MaximumMessageSize (the default takes far larger messages than SP-API sends)")
            size = int(size)
            self.assertGreaterEqual(size, 8 * largest, f"{qid}: MaximumMessageSize {size}, want a margin of 8x over the largest example ({largest} bytes)")
            self.assertLessEqual(size, 65536, f"{qid}: MaximumMessageSize {size}, want at most 64 KiB")
            dlq = redrive[qid]
            dlq_size = self.props(dlq).get("MaximumMessageSize")
            self.assertIsNotNone(dlq_size, f"{dlq}: no MaximumMessageSize")
            self.assertGreaterEqual(int(dlq_size), size, f"{dlq}: smaller than its source {qid}")
            self.assertLessEqual(int(dlq_size), 65536, f"{dlq}: MaximumMessageSize {dlq_size}, want at most 64 KiB")

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

    def role_statements(self, role_id):
        return [s for rid, s in self.iam_statements() if rid == role_id]

    def may(self, function_id, action, resource=MANAGED_SECRET, context=None):
        """Whether the function's role allows the request (offline evaluation)."""
        ctx = dict(MANAGED if resource == MANAGED_SECRET else {})
        ctx.update(context or {})
        allowed = False
        for s in self.role_statements(self.role_of(function_id)):
            if statement_matches(s, action, resource, ctx):
                if s.get("Effect") == "Deny":
                    return False
                allowed = True
        return allowed

    def allowed_actions(self, function_id):
        out = set()
        for s in self.role_statements(self.role_of(function_id)):
            if s.get("Effect") == "Allow":
                out.update(as_list(s.get("Action")))
        return out

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
                    tagged = s.get("Condition", {}).get("Null", {}).get(MANAGED_TAG) in ("false", False)
                    self.assertTrue(tagged, f"{rid}: {action} is not limited to secrets tagged sp-api-lwa:client-id")
        self.assertGreater(seen, 0, "no secret action found at all")
        # The same, as requests: nothing reaches a secret without the tag.
        for fid in FUNCTIONS:
            for action in sorted(self.allowed_actions(fid)):
                if action.startswith("secretsmanager:") and action != "secretsmanager:ListSecrets":
                    self.assertFalse(self.may(fid, action, OTHER_SECRET), f"{fid}: {action} allowed on a secret without the tag")

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

    def test_receiver_secret_actions(self):
        # The receiver finds the secret by tag, reads AWSCURRENT, appends the
        # delivered secret as a new version and starts the rotation. It never
        # moves a label (no UpdateSecretVersionStage).
        got = {a for a in self.allowed_actions("ReceiveSecretFunction") if a.startswith("secretsmanager:")}
        want = {"secretsmanager:ListSecrets", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue", "secretsmanager:RotateSecret"}
        self.assertEqual(got, want, "ReceiveSecretFunction: secret actions")

    def test_receiver_cannot_make_a_version_current(self):
        put = "secretsmanager:PutSecretValue"
        stages = "secretsmanager:VersionStage"
        for labels in (["LWA_RECEIVED"], ["LWA_SUPERSEDED"]):
            self.assertTrue(self.may("ReceiveSecretFunction", put, context={stages: labels}), f"receiver cannot store a secret labelled {labels}")
        # A request without VersionStages (which would move AWSCURRENT) is
        # not refused by IAM: the key may be absent from PutSecretValue, and
        # requiring it could refuse every store (template comment). The
        # receiver's code always names its label (internal/receiver tests).
        self.assertTrue(self.may("ReceiveSecretFunction", put, context={}), "receiver cannot store when AWS leaves the stage key out")
        refused = {
            "AWSCURRENT": {stages: ["AWSCURRENT"]},
            "LWA_RECEIVED and AWSCURRENT": {stages: ["LWA_RECEIVED", "AWSCURRENT"]},
            "AWSPENDING": {stages: ["AWSPENDING"]},
            "AWSPREVIOUS": {stages: ["AWSPREVIOUS"]},
            "another label": {stages: ["MINE"]},
        }
        for what, ctx in refused.items():
            self.assertFalse(self.may("ReceiveSecretFunction", put, context=ctx), f"receiver may PutSecretValue with {what}")
        self.assertFalse(self.may("ReceiveSecretFunction", "secretsmanager:UpdateSecretVersionStage", context={stages: ["AWSCURRENT"]}),
                         "receiver may move AWSCURRENT with UpdateSecretVersionStage")

    def test_rotation_starters_cannot_change_rotation_configuration(self):
        rotate = "secretsmanager:RotateSecret"
        plain = {"secretsmanager:ModifyRotationRules": ["false"]}
        for fid in ROLE_STARTS_ROTATIONS:
            self.assertTrue(self.may(fid, rotate, context=plain), f"{fid}: cannot start a rotation")
            for what, ctx in {
                "new rotation rules": {"secretsmanager:ModifyRotationRules": ["true"]},
                "another rotation function": {**plain, "secretsmanager:RotationLambdaARN": [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other"]},
                "new rules and function": {"secretsmanager:ModifyRotationRules": ["true"], "secretsmanager:RotationLambdaARN": ["arn:aws:lambda:x"]},
            }.items():
                self.assertFalse(self.may(fid, rotate, context=ctx), f"{fid}: RotateSecret allowed with {what}")
            # Written out for reviewers: the changes are denied by Deny
            # statements, so a plain RotateSecret never depends on a key.
            denies = [s.get("Condition", {}) for s in self.role_statements(self.role_of(fid))
                      if s.get("Effect") == "Deny" and rotate in as_list(s.get("Action"))]
            self.assertIn({"Null": {"secretsmanager:RotationLambdaARN": "false"}}, denies, f"{fid}: no Deny for a new rotation function")
            self.assertIn({"Bool": {"secretsmanager:ModifyRotationRules": "true"}}, denies, f"{fid}: no Deny for new rotation rules")
            self.assertTrue(self.may(fid, rotate, context={}), f"{fid}: a RotateSecret without the condition keys is refused")

    def test_rotation_role(self):
        fid = "RotateSecretFunction"
        for action in ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:ListSecretVersionIds",
                       "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"):
            self.assertTrue(self.may(fid, action), f"{fid}: cannot {action} a managed secret")
        self.assertTrue(self.may(fid, "secretsmanager:ListSecrets", "*"), f"{fid}: cannot list secrets (ambiguity check)")
        tag = "secretsmanager:TagResource"
        for key in ("sp-api-lwa:rotation-requested-at", "sp-api-lwa:client-secret-expires-at", "sp-api-lwa:rejected-secrets"):
            self.assertTrue(self.may(fid, tag, context={"aws:TagKeys": [key]}), f"{fid}: cannot tag {key}")
        self.assertFalse(self.may(fid, tag, context={"aws:TagKeys": ["sp-api-lwa:client-id"]}), f"{fid}: may change the operator's client-id tag")
        self.assertFalse(self.may(fid, "secretsmanager:RotateSecret"), f"{fid}: may start rotations")

    def test_watchdog_role_reads_only(self):
        fid = "WatchdogFunction"
        got = self.allowed_actions(fid)
        want = {"logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:ListSecrets", "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue", "secretsmanager:ListSecretVersionIds", "kms:Decrypt",
                "kms:GenerateDataKey", "sns:Publish"}
        self.assertEqual(got, want, f"{fid}: allowed actions")
        for action in SECRET_WRITE_ACTIONS:
            self.assertFalse(self.may(fid, action, context={"secretsmanager:VersionStage": ["LWA_RECEIVED"], "aws:TagKeys": ["x"],
                                                            "secretsmanager:ModifyRotationRules": ["false"]}), f"{fid}: may {action}")
        for action in ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:ListSecretVersionIds"):
            self.assertTrue(self.may(fid, action), f"{fid}: cannot {action} a managed secret")
        # kms:Decrypt of the secrets' key only through Secrets Manager.
        for s in self.role_statements(self.role_of(fid)):
            if "kms:Decrypt" in as_list(s.get("Action")) and target(s.get("Resource")) == "SecretsKmsKeyArn":
                self.assertEqual(as_list(s.get("Action")), ["kms:Decrypt"], f"{fid}: more than Decrypt on the secrets' key")
                self.assertIn("kms:ViaService", s.get("Condition", {}).get("StringEquals", {}), f"{fid}: secrets' key usable outside Secrets Manager")

    def test_rotate_secret_callers_may_invoke_rotation_function(self):
        # RotateSecret also needs lambda:InvokeFunction on the rotation function.
        for fid in ROLE_STARTS_ROTATIONS:
            rid = self.role_of(fid)
            found = False
            for role_id, s in self.iam_statements():
                if role_id == rid and s.get("Effect") == "Allow" and "lambda:InvokeFunction" in as_list(s.get("Action")):
                    self.assertEqual([target(r) for r in as_list(s["Resource"])], ["RotateSecretFunction"], rid)
                    found = True
            self.assertTrue(found, f"{rid}: cannot invoke RotateSecretFunction, so RotateSecret fails")

    # -- the fleet: nothing per secret --

    def test_no_per_secret_parameters_conditions_or_resources(self):
        for name in self.sam.get("Parameters", {}):
            self.assertNotRegex(name, r"(?i)secret(arn|id|name)|ManagedSecret|RotationSchedule", f"per-secret parameter {name}")
        for name in self.sam.get("Conditions", {}):
            self.assertNotRegex(name, r"(?i)^HasSecret\d*$", f"per-secret condition {name}")
        self.assertEqual(self.of_type("AWS::SecretsManager::RotationSchedule"), {}, "rotation is configured per secret outside the template")
        self.assertEqual(self.of_type("AWS::SecretsManager::Secret"), {})
        self.assertNotIn("arn:aws:secretsmanager", str(self.cfn).replace("arn:${AWS::Partition}:secretsmanager", ""), "a secret ARN written in the template")

    def test_secrets_manager_may_invoke_rotation_for_the_account(self):
        perms = [p["Properties"] for p in self.of_type("AWS::Lambda::Permission").values()
                 if p["Properties"].get("Principal") == "secretsmanager.amazonaws.com"]
        self.assertEqual(len(perms), 1, "want one permission for Secrets Manager")
        p = perms[0]
        self.assertEqual(target(p.get("FunctionName")), "RotateSecretFunction")
        self.assertEqual(p.get("Action"), "lambda:InvokeFunction")
        self.assertEqual(p.get("SourceAccount"), {"Ref": "AWS::AccountId"}, "permission not scoped to the account")
        self.assertNotIn("SourceArn", p, "a SourceArn ties the function to one secret")

    # -- functions --

    def test_functions(self):
        want_env = {
            "RotateSecretFunction": {"ALERT_TOPIC_ARN", "SECRET_CLIENT_ID_KEY", "SECRET_CLIENT_SECRET_KEY", "LWA_TOKEN_URL", "SP_API_ENDPOINT", "ROTATION_REQUEST_COOLDOWN"},
            "ReceiveSecretFunction": {"ALERT_TOPIC_ARN", "SECRET_CLIENT_ID_KEY", "SECRET_CLIENT_SECRET_KEY"},
            "ExpiryAlertFunction": {"ALERT_TOPIC_ARN", "AUTO_ROTATE_ON_EXPIRY_NOTICE"},
            "WatchdogFunction": {"ALERT_TOPIC_ARN", "SECRET_CLIENT_ID_KEY", "SECRET_CLIENT_SECRET_KEY", "ROTATE_SECRET_FUNCTION_ARN", "STUCK_ROTATION_AFTER", "LWA_TOKEN_URL"},
        }
        log_groups = set()
        for fid in FUNCTIONS:
            f = self.res.get(fid)
            self.assertIsNotNone(f, fid)
            self.assertEqual(f["Type"], "AWS::Lambda::Function", fid)
            p = f["Properties"]
            self.assertEqual(p.get("Runtime"), "provided.al2023", fid)
            self.assertEqual(p.get("Architectures"), ["arm64"], fid)
            self.assertEqual(p.get("Handler"), "bootstrap", fid)
            self.assertEqual(self.sam["Resources"][fid].get("Metadata", {}).get("BuildMethod"), "makefile", fid)
            self.assertEqual(self.sam["Resources"][fid]["Properties"].get("CodeUri"), ".", fid)
            logging_config = p.get("LoggingConfig", {})
            self.assertEqual(logging_config.get("LogFormat"), "JSON", fid)
            group = target(logging_config.get("LogGroup"))
            self.assertEqual(self.res.get(group, {}).get("Type"), "AWS::Logs::LogGroup", f"{fid}: no log group of its own")
            self.assertIn("RetentionInDays", self.props(group), f"{group}: kept forever")
            self.assertNotIn(group, log_groups, f"{fid}: shares {group}")
            log_groups.add(group)
            self.assertLessEqual(int(p.get("Timeout", 3)), 900, fid)
            env = p.get("Environment", {}).get("Variables", {})
            self.assertTrue(want_env[fid] <= set(env), f"{fid}: environment lacks {sorted(want_env[fid] - set(env))}")
            self.assertEqual(target(env["ALERT_TOPIC_ARN"]), self.topic(), fid)

    def test_watchdog_configuration(self):
        p = self.props("WatchdogFunction")
        env = p["Environment"]["Variables"]
        self.assertEqual(env["ROTATE_SECRET_FUNCTION_ARN"], {"Fn::GetAtt": ["RotateSecretFunction", "Arn"]})
        self.assertEqual(target(env["LWA_TOKEN_URL"]), "LwaTokenUrl")
        self.assertEqual(target(env["STUCK_ROTATION_AFTER"]), "StuckRotationAfter")
        self.assertEqual(self.sam["Parameters"]["StuckRotationAfter"].get("Default"), "6h")
        # A sweep over hundreds of secrets must fit in one invocation.
        self.assertGreaterEqual(int(p.get("Timeout", 3)), 300, "WatchdogFunction: timeout too short for a sweep of hundreds of secrets")

    def test_watchdog_runs_daily(self):
        fid = "WatchdogFunction"
        schedules = []
        for rid, r in self.of_type("AWS::Events::Rule").items():
            rp = r["Properties"]
            if "ScheduleExpression" in rp and fid in [target(t["Arn"]) for t in rp.get("Targets", [])]:
                schedules.append((rid, rp["ScheduleExpression"]))
        self.assertEqual(len(schedules), 1, f"{fid}: want one schedule, got {schedules}")
        rid, expr = schedules[0]
        daily = re.fullmatch(r"rate\(1 day\)|cron\(\d{1,2} \d{1,2} \* \* \? \*\)", expr)
        self.assertIsNotNone(daily, f"{rid}: schedule {expr!r} is not once a day")
        self.assert_events_may_invoke(fid, rid)

    def assert_events_may_invoke(self, fid, rule_id):
        ok = [p for p in self.of_type("AWS::Lambda::Permission").values()
              if p["Properties"].get("Principal") == "events.amazonaws.com"
              and target(p["Properties"].get("FunctionName")) == fid
              and target(p["Properties"].get("SourceArn")) == rule_id]
        self.assertTrue(ok, f"no permission for {rule_id} to invoke {fid}")

    # -- alerts --

    def test_alert_topic_is_encrypted_with_a_key_alarms_can_use(self):
        tid = self.topic()
        key = self.props(tid).get("KmsMasterKeyId")
        self.assertIsNotNone(key, f"{tid}: not encrypted")
        kid = target(key)
        self.assertIn(kid, self.res, f"{tid}: KmsMasterKeyId {key!r}: the AWS managed key alias/aws/sns cannot be used by CloudWatch")
        services = set()
        for s in statements(self.props(kid)["KeyPolicy"]):
            if s.get("Effect") == "Allow" and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(s.get("Action"))):
                services.update(as_list(s.get("Principal", {}).get("Service")))
        self.assertEqual(services, {"cloudwatch.amazonaws.com"}, f"{kid}: key policy lets {sorted(services)} use it; only alarms publish as a service")

    def test_alert_email_subscription_is_optional(self):
        subs = self.of_type("AWS::SNS::Subscription")
        self.assertEqual(len(subs), 1)
        sub = next(iter(subs.values()))
        self.assertEqual(sub["Properties"]["Protocol"], "email")
        self.assertEqual(target(sub["Properties"]["Endpoint"]), "AlertEmail")
        self.assertIn("Condition", sub, "the email subscription must depend on AlertEmail being set")

    def alarms_on(self, metric, resource=None, namespace=None):
        out = []
        for aid, a in self.of_type("AWS::CloudWatch::Alarm").items():
            p = a["Properties"]
            if p.get("MetricName") != metric or (namespace and p.get("Namespace") != namespace):
                continue
            dims = [target(d["Value"]) for d in as_list(p.get("Dimensions"))]
            if resource is None or resource in dims:
                out.append((aid, p))
        return out

    def one_alarm(self, metric, resource=None, namespace=None):
        found = self.alarms_on(metric, resource, namespace)
        self.assertEqual(len(found), 1, f"want one {metric} alarm on {resource or namespace}, got {[a for a, _ in found]}")
        return found[0][1]

    def test_every_alarm_routes_to_the_topic(self):
        alarms = self.of_type("AWS::CloudWatch::Alarm")
        tid = self.topic()
        self.assertTrue(alarms)
        for aid, a in alarms.items():
            actions = as_list(a["Properties"].get("AlarmActions"))
            self.assertTrue(actions, f"{aid}: no AlarmActions")
            for act in actions:
                self.assertEqual(target(act), tid, f"{aid}: alarm action {act}")

    def test_function_alarms(self):
        for fid in FUNCTIONS:
            for metric in ("Errors", "Throttles"):
                p = self.one_alarm(metric, fid, "AWS/Lambda")
                self.assertEqual(p["Statistic"], "Sum", f"{fid} {metric}")
                self.assertEqual(float(p["Threshold"]), 0, f"{fid} {metric}")
                self.assertEqual(p["ComparisonOperator"], "GreaterThanThreshold", f"{fid} {metric}")

    def test_queue_alarms(self):
        for dlq in self.dead_letter_queues():
            p = self.one_alarm("ApproximateNumberOfMessagesVisible", dlq, "AWS/SQS")
            self.assertEqual(float(p["Threshold"]), 0, dlq)
            self.assertEqual(p["ComparisonOperator"], "GreaterThanThreshold", dlq)
        for qid in ("NewSecretQueue", "SecretExpiryQueue"):
            p = self.one_alarm("ApproximateAgeOfOldestMessage", qid, "AWS/SQS")
            self.assertLessEqual(float(p["Threshold"]), 900, qid)
            self.assertEqual(p["ComparisonOperator"], "GreaterThanThreshold", qid)

    def test_watchdog_not_run_alarm(self):
        p = self.one_alarm("Invocations", "WatchdogFunction", "AWS/Lambda")
        self.assertEqual(p["Statistic"], "Sum")
        self.assertLessEqual(int(p["Period"]) * int(p["EvaluationPeriods"]), 86400, "wait at most a day")
        self.assertGreaterEqual(int(p["Period"]), 86400, "a shorter period fires between two daily runs")
        self.assertEqual(float(p["Threshold"]), 1)
        self.assertEqual(p["ComparisonOperator"], "LessThanThreshold")
        self.assertEqual(p.get("TreatMissingData"), "breaching", "no invocation reports no data, which is the failure")

    def test_days_until_expiry_alarm(self):
        p = self.one_alarm("DaysUntilExpiry", namespace="SpApiLwaRotation")
        self.assertEqual(as_list(p.get("Dimensions")), [], "alarm on the aggregate metric without dimensions (EMF dimension set [])")
        self.assertEqual(p["Statistic"], "Minimum")
        self.assertEqual(float(p["Threshold"]), 30)
        self.assertEqual(p["ComparisonOperator"], "LessThanThreshold")
        self.assertEqual(p.get("TreatMissingData"), "notBreaching", "no known expiry means no datapoint")
        self.assertGreaterEqual(int(p["Period"]), 86400, "the watchdog writes once a day")

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
        self.assertEqual(services, {"cloudwatch.amazonaws.com"}, f"topic policy lets {sorted(services)} publish")
        self.assertTrue(tls_deny, "topic policy does not deny publishing without TLS")

    def test_rotation_failure_rule(self):
        rules = {rid: r for rid, r in self.of_type("AWS::Events::Rule").items() if "EventPattern" in r["Properties"]}
        self.assertEqual(len(rules), 1)
        rid, rule = next(iter(rules.items()))
        p = rule["Properties"]
        pattern = p["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.secretsmanager"])
        self.assertEqual(pattern["detail-type"], ["AWS Service Event via CloudTrail"])
        self.assertEqual(set(pattern["detail"]["eventName"]), {"RotationFailed", "RotationAbandoned", "TestRotationFailed"})
        self.assertEqual(set(pattern["detail"]) - {"eventName", "eventSource"}, set(), f"{rid}: pattern narrows to some secrets; it must match every secret")
        targets = p["Targets"]
        self.assertEqual([target(t["Arn"]) for t in targets], ["WatchdogFunction"], f"{rid}: targets")
        tgt = targets[0]
        self.assertNotIn("InputTransformer", tgt, "the watchdog reads the event as EventBridge sends it")
        retry = tgt.get("RetryPolicy")
        self.assertIsNotNone(retry, f"{rid}: no RetryPolicy")
        self.assertGreaterEqual(int(retry.get("MaximumRetryAttempts", 0)), 1, f"{rid}: no retries")
        self.assertGreaterEqual(int(retry.get("MaximumEventAgeInSeconds", 0)), 3600, f"{rid}: retries give up within the hour")
        dlq = target(tgt.get("DeadLetterConfig", {}).get("Arn"))
        self.assertEqual(self.res.get(dlq, {}).get("Type"), "AWS::SQS::Queue", f"{rid}: no dead-letter queue")
        # EventBridge may send to that queue, and only from this rule.
        may_send = False
        for pid, doc in self.queue_policies_for(dlq):
            for s in statements(doc):
                if s.get("Effect") != "Allow":
                    continue
                self.assertEqual(s.get("Principal"), {"Service": "events.amazonaws.com"}, f"{pid}: who may write to {dlq}")
                self.assertEqual(as_list(s.get("Action")), ["sqs:SendMessage"], pid)
                self.assertEqual(target(s.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")), rid, f"{pid}: not limited to {rid}")
                may_send = True
        self.assertTrue(may_send, f"{dlq}: EventBridge may not write to it, so undeliverable events are lost")
        self.assert_events_may_invoke("WatchdogFunction", rid)

    def test_outputs(self):
        want = {
            "NewSecretQueueArn": "NewSecretQueue",
            "SecretExpiryQueueArn": "SecretExpiryQueue",
            "AlertTopicArn": self.topic(),
            "RotateSecretFunctionArn": "RotateSecretFunction",
            "WatchdogFunctionArn": "WatchdogFunction",
            "NewSecretDeadLetterQueueArn": "NewSecretDeadLetterQueue",
            "SecretExpiryDeadLetterQueueArn": "SecretExpiryDeadLetterQueue",
            "RotationFailureDeadLetterQueueArn": "RotationFailureDeadLetterQueue",
        }
        for fid in FUNCTIONS:
            group = target(self.props(fid)["LoggingConfig"]["LogGroup"])
            want[fid.removesuffix("Function") + "LogGroupName"] = group
        outputs = self.cfn.get("Outputs", {})
        for name, resource in want.items():
            self.assertIn(name, outputs)
            self.assertEqual(target(outputs[name]["Value"]), resource, name)
            if name.endswith("Arn") and self.res[resource]["Type"] != "AWS::SNS::Topic":
                self.assertIn("Fn::GetAtt", outputs[name]["Value"], f"{name}: not an ARN")
        self.assertEqual(outputs["RotateSecretFunctionArn"].get("Export", {}).get("Name"),
                         {"Fn::Sub": "${AWS::StackName}-RotateSecretFunctionArn"}, "RotateSecretFunctionArn export")
        self.assertIn("Application Client New Secret", outputs["NewSecretQueueArn"]["Description"])
        self.assertIn("Application Client Secret Expiry", outputs["SecretExpiryQueueArn"]["Description"])

    # -- packaging --

    def test_serverless_repo_metadata(self):
        app = self.sam.get("Metadata", {}).get("AWS::ServerlessRepo::Application")
        self.assertIsNotNone(app, "no AWS::ServerlessRepo::Application metadata")
        for key in ("Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "Labels", "SemanticVersion"):
            self.assertTrue(app.get(key), f"ServerlessRepo metadata lacks {key}")
        self.assertRegex(app["Name"], r"^[A-Za-z0-9-]{1,140}$")
        self.assertRegex(app["Author"], r"^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")
        self.assertLessEqual(len(app["Description"]), 256)
        self.assertRegex(str(app["SemanticVersion"]), r"^\d+\.\d+\.\d+$")
        self.assertLessEqual(len(app["Labels"]), 10)
        for label in app["Labels"]:
            self.assertRegex(label, r"^[a-zA-Z0-9+\-_:/@]{1,127}$")
        for key in ("LicenseUrl", "ReadmeUrl"):
            self.assertTrue(os.path.isfile(os.path.join(ROOT, app[key])), f"{key} {app[key]!r} is not a file in the repository")
        with open(os.path.join(ROOT, app["LicenseUrl"]), encoding="utf-8") as f:
            first = f.readline().strip()
        licenses = {"MIT-0": "MIT No Attribution", "MIT": "MIT License", "Apache-2.0": "Apache License"}
        self.assertIn(app["SpdxLicenseId"], licenses)
        self.assertEqual(first, licenses[app["SpdxLicenseId"]], "LICENSE does not match SpdxLicenseId")

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
