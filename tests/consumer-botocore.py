#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real SQS client (botocore) talks to tools/ep-consumer unchanged.

Usage: consumer-botocore.py [PATH-TO-ep-consumer] [unittest options]
       (or set EP_CONSUMER). Exits 77 (skipped) when botocore is missing.

botocore speaks the SQS query protocol in the Debian 12 version (1.29);
newer releases speak the JSON protocol (AmazonSQS.SendMessageBatch), so the
JSON tests load a copy of the SQS model switched to "protocol": "json".
"""

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import unittest

try:
    import botocore
    import botocore.config
    import botocore.exceptions
    import botocore.loaders
    import botocore.session
except ImportError as e:
    print("SKIP: botocore is not importable by %s: %s" % (sys.executable, e))
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("consumer_harness",
                                               os.path.join(HERE, "test-consumer.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

ATTRIBUTES = {
    "Name": {"DataType": "String", "StringValue": "playback_session"},
    "Headers": {"DataType": "String",
                "StringValue": json.dumps({"app-name": "botocore", "client-id": "c"})},
    "Count": {"DataType": "Number", "StringValue": "42"},
    "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01binary\xff"},
    "Tagged": {"DataType": "String.custom", "StringValue": "caf\u00e9 \U0001F600"},
}


def as_harness_attributes(attributes):
    return {name: (a["DataType"], a.get("StringValue", a.get("BinaryValue")))
            for name, a in attributes.items()}


def json_protocol_data_dir():
    """A botocore data directory whose SQS model uses the JSON protocol."""
    loader = botocore.loaders.Loader()
    model = loader.load_service_model("sqs", "service-2")
    version = model["metadata"]["apiVersion"]
    model["metadata"].update({"protocol": "json", "jsonVersion": "1.0",
                              "targetPrefix": "AmazonSQS", "awsQueryCompatible": {}})
    # JSON names members by their own names: drop the query protocol's
    # singular list/map names (MessageAttribute -> MessageAttributes)
    for shape in model["shapes"].values():
        shape.pop("flattened", None)
        for member in list(shape.get("members", {}).values()) + [
                shape.get("member", {}), shape.get("key", {}), shape.get("value", {})]:
            member.pop("locationName", None)
            member.pop("flattened", None)
    tmp = tempfile.mkdtemp(prefix="ep-consumer-botocore-")
    path = os.path.join(tmp, "sqs", version)
    os.makedirs(path)
    with open(os.path.join(path, "service-2.json"), "w") as f:
        json.dump(model, f)
    return tmp


class BotocoreTestCase(harness.ConsumerTestCase):
    json_protocol = False

    @classmethod
    def setUpClass(cls):
        cls.data_dir = json_protocol_data_dir() if cls.json_protocol else None

    @classmethod
    def tearDownClass(cls):
        if cls.data_dir:
            shutil.rmtree(cls.data_dir)

    def client(self, endpoint="/api/event-batch", at_root=True, **config):
        """An SQS client configured the usual way: endpoint_url is the server's
        root, the queue URL names the endpoint. With at_root=False the
        endpoint_url is the queue URL itself (botocore then posts there)."""
        session = botocore.session.get_session()
        if self.data_dir:
            session.register_component(
                "data_loader", botocore.loaders.Loader(extra_search_paths=[self.data_dir]))
        url = self.consumer.url + endpoint
        client = session.create_client(
            "sqs", region_name="us-east-1", endpoint_url=self.consumer.url if at_root else url,
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="dummy-secret",
            config=botocore.config.Config(**config))
        self.addCleanup(client.close)
        expected = "json" if self.json_protocol else "query"
        self.assertEqual(client.meta.service_model.protocol, expected)
        return client, url

    def test_send_message_batch(self):
        sqs, url = self.client()
        entries = [
            {"Id": "e1", "MessageBody": json.dumps({"track": 1}), "MessageAttributes": ATTRIBUTES},
            {"Id": "e2", "MessageBody": "second \u00e9", "DelaySeconds": 0,
             "MessageAttributes": {"Name": ATTRIBUTES["Name"]}},
            {"Id": "e3", "MessageBody": "no attributes"},
        ]
        reply = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(reply["ResponseMetadata"]["HTTPStatusCode"], 200, reply)
        self.assertFalse(reply.get("Failed"), reply)
        ok = {e["Id"]: e for e in reply["Successful"]}
        self.assertEqual(set(ok), {"e1", "e2", "e3"})
        for entry in entries:
            result = ok[entry["Id"]]
            self.assertRegex(result["MessageId"], harness.UUID_RE)
            self.assertEqual(result["MD5OfMessageBody"], harness.md5_hex(entry["MessageBody"]))
            if "MessageAttributes" in entry:
                self.assertEqual(result["MD5OfMessageAttributes"], harness.sqs_attributes_md5(
                    as_harness_attributes(entry["MessageAttributes"])))
            else:
                self.assertNotIn("MD5OfMessageAttributes", result)

        events = {e["id"]: e for e in self.consumer.events()}
        self.assertEqual({e["endpoint"] for e in events.values()}, {"/api/event-batch"})
        self.assertEqual(events["e1"]["name"], "playback_session")
        self.assertEqual(events["e1"]["headers"], {"app-name": "botocore", "client-id": "c"})
        self.assertEqual(events["e2"]["payload"], "second \u00e9")
        self.assertEqual(self.consumer.stop(), 0)
        self.assertNotIn("unknown parameter", self.consumer.stderr,
                         "ep-consumer should know every parameter botocore sends")

    def test_entry_failure(self):
        sqs, url = self.client("/api/public/event-batch")
        reply = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "good", "MessageBody": "fine"},
            {"Id": "bad", "MessageBody": "control \u0001 char"}])
        self.assertEqual([e["Id"] for e in reply["Successful"]], ["good"])
        failed = reply["Failed"]
        self.assertEqual(len(failed), 1, reply)
        self.assertEqual(failed[0]["Id"], "bad")
        self.assertIs(failed[0]["SenderFault"], True)
        self.assertEqual(failed[0]["Code"], "InvalidMessageContents")

    def test_public_queue_and_queue_url_as_endpoint(self):
        for endpoint, at_root in (("/api/public/event-batch", True),
                                  ("/api/public/event-batch", False),
                                  ("/api/event-batch", False)):
            sqs, url = self.client(endpoint, at_root=at_root)
            entry_id = "e%d" % len(self.consumer.events())
            reply = sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": entry_id, "MessageBody": endpoint}])
            self.assertEqual([e["Id"] for e in reply["Successful"]], [entry_id], reply)
            self.assertEqual(self.consumer.events()[-1]["endpoint"], endpoint)
        stats = self.consumer.stats()
        self.assertEqual((stats["requests"], stats["accepted"]), (3, 3), stats)

    def test_nonexistent_queue(self):
        sqs, _ = self.client(retries={"total_max_attempts": 1})
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            sqs.send_message_batch(QueueUrl=self.consumer.url + "/123456789012/other",
                                   Entries=[{"Id": "a", "MessageBody": "1"}])
        error = cm.exception.response
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertIn(error["Error"]["Code"], ("AWS.SimpleQueueService.NonExistentQueue",
                                               "NonExistentQueue"))
        self.assertEqual(self.consumer.events(), [])

    def test_duplicate_ids_error(self):
        sqs, url = self.client()
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}])
        error = cm.exception.response
        self.assertEqual(error["Error"]["Code"], "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(self.consumer.events(), [])

    def test_injected_failure(self):
        harness.http(self.consumer.url + "/control/fail?on=1&retry_after=3", b"", method="POST")
        sqs, url = self.client(retries={"total_max_attempts": 1})
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}])
        error = cm.exception.response
        self.assertEqual(error["Error"]["Code"], "ServiceUnavailable")
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertEqual(error["ResponseMetadata"]["HTTPHeaders"].get("retry-after"), "3")


class BotocoreJsonProtocolTestCase(BotocoreTestCase):
    json_protocol = True




def main():
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        harness.EP_CONSUMER = os.path.abspath(args.pop(0))
    else:
        harness.EP_CONSUMER = os.environ.get("EP_CONSUMER")
    if not harness.EP_CONSUMER or not os.access(harness.EP_CONSUMER, os.X_OK):
        sys.exit("usage: %s PATH-TO-ep-consumer (or set EP_CONSUMER); got %r"
                 % (sys.argv[0], harness.EP_CONSUMER))
    print("botocore %s" % botocore.__version__)
    unittest.main(argv=[sys.argv[0], "-v"] + args)


if __name__ == "__main__":
    main()
