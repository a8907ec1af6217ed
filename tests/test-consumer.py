#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Black-box tests of tools/ep-consumer over HTTP on loopback.

Usage: test-consumer.py [PATH-TO-ep-consumer] [unittest options]
       (or set EP_CONSUMER). Each test starts its own ep-consumer on port 0.
"""

import hashlib
import json
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

NS = "http://queue.amazonaws.com/doc/2012-11-05/"
Q = "{%s}" % NS
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
START_TIMEOUT = 10.0
POLL_INTERVAL = 0.01

EP_CONSUMER = None  # set in main()


def md5_hex(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()


def sqs_attributes_md5(attributes):
    """MD5OfMessageAttributes, written from the SQS documentation.

    attributes: {name: (data_type, value)} where value is str (a string
    value) or bytes (a binary value)."""

    def field(b):
        return struct.pack(">I", len(b)) + b

    buf = b""
    for name in sorted(attributes, key=lambda n: n.encode("utf-8")):
        data_type, value = attributes[name]
        buf += field(name.encode("utf-8")) + field(data_type.encode("utf-8"))
        if isinstance(value, bytes):
            buf += b"\x02" + field(value)
        else:
            buf += b"\x01" + field(value.encode("utf-8"))
    return hashlib.md5(buf).hexdigest()


def entry_params(n, entry_id, body, attributes=None):
    """Form parameters of SendMessageBatchRequestEntry.n (as ep-glib sends them)."""
    p = "SendMessageBatchRequestEntry.%d." % n
    params = [(p + "Id", entry_id), (p + "MessageBody", body)]
    for i, (name, (data_type, value)) in enumerate((attributes or {}).items(), 1):
        a = p + "MessageAttribute.%d." % i
        params.append((a + "Name", name))
        params.append((a + "Value.DataType", data_type))
        if isinstance(value, bytes):
            import base64
            params.append((a + "Value.BinaryValue", base64.b64encode(value).decode()))
        else:
            params.append((a + "Value.StringValue", value))
    return params


def event_attributes(name, headers):
    return {"Name": ("String", name), "Headers": ("String", headers)}


def batch_params(entries):
    """entries: list of (id, body, attributes) -> form parameters."""
    params = []
    for n, (entry_id, body, attributes) in enumerate(entries, 1):
        params += entry_params(n, entry_id, body, attributes)
    return params


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def xml(self):
        try:
            return ET.fromstring(self.body)
        except ET.ParseError as e:
            raise AssertionError("reply is not XML (%s): %r" % (e, self.body[:500]))

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Reply %d %r>" % (self.status, self.body[:800])


def http(url, data=None, headers=None, method=None, timeout=10.0):
    if isinstance(data, list):
        data = urllib.parse.urlencode(data).encode()
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif isinstance(data, str):
        data = data.encode()
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


class Consumer:
    """One ep-consumer process on a free loopback port."""

    def __init__(self, *args):
        self.dir = tempfile.TemporaryDirectory(prefix="ep-consumer-test-")
        self.output = os.path.join(self.dir.name, "events.jsonl")
        self.port_file = os.path.join(self.dir.name, "port")
        cmd = [EP_CONSUMER, "--port", "0", "--port-file", self.port_file,
               "--output", self.output] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.stderr = None
        self._stderr_head = b""
        line = self._read_first_line()
        m = re.match(r"^ep-consumer listening on (http://127\.0\.0\.1:(\d+))$", line)
        if not m:
            self.stop()
            raise AssertionError("unexpected first stderr line %r (stderr: %r)"
                                 % (line, self.stderr))
        self.url = m.group(1)
        self.port = int(m.group(2))

    def _read_first_line(self):
        # The banner is on stderr (stdout carries only events); what is read
        # past it is kept for self.stderr.
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                self.stop()
                raise AssertionError("ep-consumer printed no URL within %.0f s (stderr: %r)"
                                     % (START_TIMEOUT, self.stderr))
            chunk = self.proc.stderr.read(4096)
            if not chunk:
                self.stop()
                raise AssertionError("ep-consumer exited with %s before printing its URL "
                                     "(stderr: %r)" % (self.proc.returncode, self.stderr))
            buf += chunk
            self._stderr_head = buf
        sel.close()
        return buf.split(b"\n", 1)[0].decode()

    def post(self, params, endpoint="/api/event-batch", **kw):
        return http(self.url + endpoint, params, **kw)

    def stats(self):
        r = http(self.url + "/control/stats")
        assert r.status == 200, r
        return r.json()

    def wait_for(self, predicate, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(POLL_INTERVAL)
        raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))

    def events(self):
        with open(self.output, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            self.stderr = (self._stderr_head + err).decode(errors="replace")
            raise AssertionError("ep-consumer did not exit within %.0f s of signal %d"
                                 % (timeout, sig))
        self.stderr = (self._stderr_head + (err or b"")).decode(errors="replace")
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.dir.cleanup()


class ConsumerTestCase(unittest.TestCase):
    consumer_args = ()

    def setUp(self):
        self.consumer = Consumer(*self.consumer_args)
        self.addCleanup(self.consumer.close)

    def start(self, *args):
        """A further consumer with other options."""
        c = Consumer(*args)
        self.addCleanup(c.close)
        return c

    def assertSqsError(self, reply, status, code, error_type="Sender"):
        self.assertEqual(reply.status, status, reply)
        self.assertTrue(reply.headers.get("Content-Type", "").startswith("text/xml"), reply)
        root = reply.xml()
        self.assertEqual(root.tag, Q + "ErrorResponse", reply)
        self.assertEqual(root.findtext(Q + "Error/" + Q + "Type"), error_type, reply)
        self.assertEqual(root.findtext(Q + "Error/" + Q + "Code"), code, reply)
        self.assertTrue(root.findtext(Q + "Error/" + Q + "Message"), reply)
        self.assertTrue(UUID_RE.match(root.findtext(Q + "RequestId") or ""), reply)
        return root

    def batch_result(self, reply):
        """-> ({id: result element}, {id: error element})"""
        self.assertEqual(reply.status, 200, reply)
        self.assertTrue(reply.headers.get("Content-Type", "").startswith("text/xml"), reply)
        root = reply.xml()
        self.assertEqual(root.tag, Q + "SendMessageBatchResponse", reply)
        self.assertTrue(UUID_RE.match(
            root.findtext(Q + "ResponseMetadata/" + Q + "RequestId") or ""), reply)
        result = root.find(Q + "SendMessageBatchResult")
        self.assertIsNotNone(result, reply)
        ok = {e.findtext(Q + "Id"): e for e in result.findall(Q + "SendMessageBatchResultEntry")}
        failed = {e.findtext(Q + "Id"): e for e in result.findall(Q + "BatchResultErrorEntry")}
        return ok, failed

    def assertAccepted(self, element, body, attributes):
        self.assertTrue(UUID_RE.match(element.findtext(Q + "MessageId") or ""),
                        ET.tostring(element))
        self.assertEqual(element.findtext(Q + "MD5OfMessageBody"), md5_hex(body))
        if attributes:
            self.assertEqual(element.findtext(Q + "MD5OfMessageAttributes"),
                             sqs_attributes_md5(attributes))
        else:
            self.assertIsNone(element.find(Q + "MD5OfMessageAttributes"))

    def assertEntryError(self, element, code, sender_fault="true"):
        self.assertEqual(element.findtext(Q + "SenderFault"), sender_fault, ET.tostring(element))
        self.assertEqual(element.findtext(Q + "Code"), code, ET.tostring(element))
        self.assertTrue(element.findtext(Q + "Message"), ET.tostring(element))


HEADERS_1 = json.dumps({"app-name": "test", "client-id": "c1", "consent-category": "NECESSARY"})


class TestValidBatches(ConsumerTestCase):
    def test_two_entries(self):
        a1 = event_attributes("playback_session", HEADERS_1)
        a2 = event_attributes("click", '{"x":"y & <z>"}')
        entries = [("3f1c0b6e-2b1e-4c55-9b7e-0d1f2a3b4c5d", '{"track": 1, "é": "ü"}', a1),
                   ("id_2", "<plain & text>", a2)]
        ok, failed = self.batch_result(self.consumer.post(batch_params(entries)))
        self.assertEqual(failed, {})
        self.assertEqual(set(ok), {e[0] for e in entries})
        for entry_id, body, attributes in entries:
            self.assertAccepted(ok[entry_id], body, attributes)
        ids = {ok[e[0]].findtext(Q + "MessageId") for e in entries}
        self.assertEqual(len(ids), 2, "MessageIds must differ")

        events = self.consumer.events()
        self.assertEqual(len(events), 2, events)
        by_id = {e["id"]: e for e in events}
        e1 = by_id[entries[0][0]]
        self.assertEqual(e1["name"], "playback_session")
        self.assertEqual(e1["headers"], json.loads(HEADERS_1))
        self.assertEqual(e1["payload"], entries[0][1])
        self.assertEqual(e1["endpoint"], "/api/event-batch")
        self.assertRegex(e1["received"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(by_id["id_2"]["headers"], {"x": "y & <z>"})
        self.assertEqual(by_id["id_2"]["payload"], "<plain & text>")

    def test_public_endpoint_and_action_version(self):
        entries = [("a", "body", event_attributes("n", "{}"))]
        params = [("Action", "SendMessageBatch"), ("Version", "2012-11-05"),
                  ("QueueUrl", self.consumer.url + "/api/public/event-batch")]
        reply = self.consumer.post(params + batch_params(entries),
                                   endpoint="/api/public/event-batch")
        ok, failed = self.batch_result(reply)
        self.assertEqual(list(ok), ["a"])
        self.assertEqual(self.consumer.events()[0]["endpoint"], "/api/public/event-batch")

    def test_headers_not_json_kept_as_string(self):
        entries = [("a", "b", event_attributes("n", "not json {")),
                   ("b", "b", event_attributes("n", "[1, 2]"))]
        self.batch_result(self.consumer.post(batch_params(entries)))
        by_id = {e["id"]: e for e in self.consumer.events()}
        self.assertEqual(by_id["a"]["headers"], "not json {")
        self.assertEqual(by_id["b"]["headers"], "[1, 2]")

    def test_no_attributes(self):
        ok, _ = self.batch_result(self.consumer.post(batch_params([("a", "body", None)])))
        self.assertAccepted(ok["a"], "body", None)
        event = self.consumer.events()[0]
        self.assertIsNone(event["name"])
        self.assertIsNone(event["headers"])

    def test_attribute_types(self):
        attributes = {"Name": ("String", "n"), "Count": ("Number", "-12.5e3"),
                      "Blob": ("Binary", b"\x00\x01\xffbinary"),
                      "Custom": ("String.my_label", "v"),
                      "aa": ("Number.int", "7")}
        ok, failed = self.batch_result(self.consumer.post(batch_params([("a", "b", attributes)])))
        self.assertEqual(failed, {})
        self.assertAccepted(ok["a"], "b", attributes)

    def test_xml_edge_characters_accepted(self):
        body = "tab\there\nnewline\r\u00e9\ud7ff\ue000\ufffd\U0001F600\U0010FFFF"
        attributes = event_attributes("n", json.dumps({"emoji": "\U0001F600"}))
        ok, failed = self.batch_result(self.consumer.post(batch_params([("a", body, attributes)])))
        self.assertEqual(failed, {})
        self.assertAccepted(ok["a"], body, attributes)
        self.assertEqual(self.consumer.events()[0]["payload"], body)

    def test_ten_entries_and_80_char_id(self):
        entries = [("x" * 80, "b", None)] + [("e%d" % i, "b%d" % i, None) for i in range(9)]
        ok, failed = self.batch_result(self.consumer.post(batch_params(entries)))
        self.assertEqual(len(ok), 10)
        self.assertEqual(len(self.consumer.events()), 10)

    def test_exact_size_limit_accepted(self):
        attributes = {"Name": ("String", "n")}
        fixed = len("Name") + len("String") + len("n")
        body = "x" * (262144 - fixed)
        ok, failed = self.batch_result(self.consumer.post(batch_params([("a", body, attributes)])))
        self.assertIn("a", ok)


class TestValidation(ConsumerTestCase):
    def test_duplicate_ids(self):
        entries = [("dup", "1", None), ("other", "2", None), ("dup", "3", None)]
        root = self.assertSqsError(self.consumer.post(batch_params(entries)), 400,
                                   "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        self.assertIn("dup", root.findtext(Q + "Error/" + Q + "Message"))
        self.assertEqual(self.consumer.events(), [])

    def test_too_many_entries(self):
        entries = [("e%d" % i, "b", None) for i in range(11)]
        self.assertSqsError(self.consumer.post(batch_params(entries)), 400,
                            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
        self.assertEqual(self.consumer.events(), [])

    def test_empty_batch(self):
        self.assertSqsError(self.consumer.post([]), 400,
                            "AWS.SimpleQueueService.EmptyBatchRequest")
        self.assertSqsError(self.consumer.post([("Action", "SendMessageBatch")]), 400,
                            "AWS.SimpleQueueService.EmptyBatchRequest")

    def test_invalid_ids(self):
        for bad in ["has space", "x" * 81, "caf\u00e9", "a.b", "", "<x>&"]:
            with self.subTest(id=bad):
                entries = [("good", "b", None), (bad, "b", None)]
                root = self.assertSqsError(self.consumer.post(batch_params(entries)), 400,
                                           "AWS.SimpleQueueService.InvalidBatchEntryId")
        self.assertEqual(self.consumer.events(), [])

    def test_missing_id_or_body(self):
        self.assertSqsError(self.consumer.post([("SendMessageBatchRequestEntry.1.MessageBody", "b")]),
                            400, "MissingParameter")
        self.assertSqsError(self.consumer.post([("SendMessageBatchRequestEntry.1.Id", "a")]),
                            400, "MissingParameter")

    def test_forbidden_characters(self):
        attributes = event_attributes("n", "{}")
        cases = {"\x01": "#x1", "a\x00b": "#x0", "\x08": "#x8", "\ufffe": "#xFFFE",
                 "\x1f": "#x1F"}
        for body, char in cases.items():
            with self.subTest(char=char):
                entries = [("good", "fine", attributes), ("bad", body, attributes)]
                ok, failed = self.batch_result(self.consumer.post(batch_params(entries)))
                self.assertEqual(list(ok), ["good"])
                self.assertAccepted(ok["good"], "fine", attributes)
                self.assertEqual(list(failed), ["bad"])
                self.assertEntryError(failed["bad"], "InvalidMessageContents")
                self.assertIn(char, failed["bad"].findtext(Q + "Message"))
        self.assertEqual([e["id"] for e in self.consumer.events()], ["good"] * len(cases))

    def test_forbidden_character_in_attribute(self):
        entries = [("good", "fine", event_attributes("n", "{}")),
                   ("bad", "fine", event_attributes("n", '{"k":"\x02"}'))]
        ok, failed = self.batch_result(self.consumer.post(batch_params(entries)))
        self.assertEqual(list(ok), ["good"])
        self.assertEntryError(failed["bad"], "InvalidMessageContents")

    def test_invalid_utf8(self):
        body = ("SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=ok"
                "&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=%C3%28")
        ok, failed = self.batch_result(self.consumer.post(
            body, headers={"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(list(ok), ["a"])
        self.assertEntryError(failed["b"], "InvalidMessageContents")

    def test_oversized_batch(self):
        attributes = {"Name": ("String", "n")}
        fixed = len("Name") + len("String") + len("n")
        half = (262144 - 2 * fixed) // 2
        entries = [("a", "x" * half, attributes), ("b", "y" * (half + 1), attributes)]
        root = self.assertSqsError(self.consumer.post(batch_params(entries)), 400,
                                   "AWS.SimpleQueueService.BatchRequestTooLong")
        self.assertIn("262145", root.findtext(Q + "Error/" + Q + "Message"))
        self.assertEqual(self.consumer.events(), [])

    def test_malformed_attributes(self):
        p = "SendMessageBatchRequestEntry.1."
        base = [(p + "Id", "a"), (p + "MessageBody", "b")]
        a = p + "MessageAttribute.1."
        cases = {
            "no name": ([(a + "Value.DataType", "String"), (a + "Value.StringValue", "v")],
                        "MissingParameter"),
            "no data type": ([(a + "Name", "N"), (a + "Value.StringValue", "v")],
                             "MissingParameter"),
            "no value": ([(a + "Name", "N"), (a + "Value.DataType", "String")],
                         "MissingParameter"),
            "both values": ([(a + "Name", "N"), (a + "Value.DataType", "String"),
                             (a + "Value.StringValue", "v"), (a + "Value.BinaryValue", "dg==")],
                            "InvalidParameterValue"),
            "bad data type": ([(a + "Name", "N"), (a + "Value.DataType", "Text"),
                               (a + "Value.StringValue", "v")], "InvalidParameterValue"),
            "empty custom label": ([(a + "Name", "N"), (a + "Value.DataType", "String."),
                                    (a + "Value.StringValue", "v")], "InvalidParameterValue"),
            "string type, binary value": ([(a + "Name", "N"), (a + "Value.DataType", "String"),
                                           (a + "Value.BinaryValue", "dg==")],
                                          "InvalidParameterValue"),
            "bad base64": ([(a + "Name", "N"), (a + "Value.DataType", "Binary"),
                            (a + "Value.BinaryValue", "!!!")], "InvalidParameterValue"),
            "bad number": ([(a + "Name", "N"), (a + "Value.DataType", "Number"),
                            (a + "Value.StringValue", "12abc")], "InvalidParameterValue"),
            "empty value": ([(a + "Name", "N"), (a + "Value.DataType", "String"),
                             (a + "Value.StringValue", "")], "InvalidParameterValue"),
            "reserved name": ([(a + "Name", "AWS.x"), (a + "Value.DataType", "String"),
                               (a + "Value.StringValue", "v")], "InvalidParameterValue"),
            "repeated name": ([(a + "Name", "N"), (a + "Value.DataType", "String"),
                               (a + "Value.StringValue", "v"),
                               (p + "MessageAttribute.2.Name", "N"),
                               (p + "MessageAttribute.2.Value.DataType", "String"),
                               (p + "MessageAttribute.2.Value.StringValue", "w")],
                              "InvalidParameterValue"),
        }
        for what, (params, code) in cases.items():
            with self.subTest(case=what):
                self.assertSqsError(self.consumer.post(base + params), 400, code)
        self.assertEqual(self.consumer.events(), [])

    def test_wrong_action_and_version(self):
        entries = batch_params([("a", "b", None)])
        self.assertSqsError(self.consumer.post([("Action", "SendMessage")] + entries),
                            400, "InvalidAction")
        self.assertSqsError(self.consumer.post([("Version", "2008-01-01")] + entries),
                            400, "InvalidParameterValue")

    def test_malformed_form(self):
        self.assertSqsError(self.consumer.post(
            "SendMessageBatchRequestEntry.1.Id=a%zz",
            headers={"Content-Type": "application/x-www-form-urlencoded"}),
            400, "MalformedQueryString")

    def test_http_level_errors(self):
        r = http(self.consumer.url + "/api/event-batch")
        self.assertSqsError(r, 405, "MethodNotAllowed")
        self.assertEqual(r.headers.get("Allow"), "POST")
        self.assertSqsError(self.consumer.post("x", headers={"Content-Type": "text/plain"}),
                            415, "UnsupportedMediaType")
        self.assertEqual(http(self.consumer.url + "/nope", b"").status, 404)
        self.assertEqual(http(self.consumer.url + "/api/event-batch/x", b"").status, 404)

    def test_unknown_paths_logged_and_counted(self):
        # A client posting to a wrong path (a consumer URI without the
        # endpoint's path) is told so in the log and in the stats.
        self.assertEqual(http(self.consumer.url + "/api/events", b"x=1").status, 404)
        self.assertEqual(http(self.consumer.url + "/control/nope").status, 404)
        self.assertEqual(self.consumer.stats()["unknown_paths"], 2)
        self.consumer.stop()
        self.assertIn("POST /api/events: no such endpoint (404)", self.consumer.stderr)
        self.assertIn("GET /control/nope: no such endpoint (404)", self.consumer.stderr)
        self.assertIn("2 to unknown paths", self.consumer.stderr)

    def test_escaping_of_echoed_values(self):
        attributes = {"Name": ("String", "n")}
        params = [("SendMessageBatchRequestEntry.1.Id", "a"),
                  ("SendMessageBatchRequestEntry.1.MessageBody", "b"),
                  ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "N"),
                  ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                   "<&'\"\x01>"),
                  ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue", "v")]
        root = self.assertSqsError(self.consumer.post(params), 400, "InvalidParameterValue")
        self.assertIn("<&'\"", root.findtext(Q + "Error/" + Q + "Message"))

    def test_stats_count_requests(self):
        self.consumer.post(batch_params([("a", "b", None), ("c", "\x01", None)]))
        self.consumer.post(batch_params([("a", "b", None), ("a", "c", None)]))
        stats = self.consumer.stats()
        self.assertEqual(stats["requests"], 2, stats)
        self.assertEqual(stats["accepted"], 1, stats)
        self.assertEqual(stats["rejected"], 3, stats)
        self.assertEqual(stats["failed_requests"], 1, stats)
        self.assertEqual(stats["faults_injected"], 0, stats)


class TestJsonProtocol(ConsumerTestCase):
    def post_json(self, payload, target="AmazonSQS.SendMessageBatch"):
        return self.consumer.post(json.dumps(payload), headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})

    def test_batch(self):
        payload = {"QueueUrl": self.consumer.url + "/api/event-batch", "Entries": [
            {"Id": "a", "MessageBody": "hello",
             "MessageAttributes": {"Name": {"DataType": "String", "StringValue": "ev"},
                                   "Headers": {"DataType": "String", "StringValue": "{}"}}},
            {"Id": "b", "MessageBody": "bad \u0001"}]}
        r = self.post_json(payload)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["Content-Type"].startswith("application/x-amz-json-1.0"))
        body = r.json()
        self.assertEqual([s["Id"] for s in body["Successful"]], ["a"])
        self.assertEqual(body["Successful"][0]["MD5OfMessageBody"], md5_hex("hello"))
        self.assertEqual(body["Successful"][0]["MD5OfMessageAttributes"],
                         sqs_attributes_md5(event_attributes("ev", "{}")))
        self.assertEqual(body["Failed"][0]["Id"], "b")
        self.assertIs(body["Failed"][0]["SenderFault"], True)
        self.assertEqual(body["Failed"][0]["Code"], "InvalidMessageContents")
        self.assertEqual(self.consumer.events()[0]["name"], "ev")

    def test_error(self):
        r = self.post_json({"Entries": [{"Id": "a", "MessageBody": "x"},
                                        {"Id": "a", "MessageBody": "y"}]})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.headers["x-amzn-query-error"],
                         "AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender")
        self.assertEqual(r.json()["__type"], "com.amazonaws.sqs#BatchEntryIdsNotDistinct")
        self.assertEqual(self.post_json({"Entries": []}, target="AmazonSQS.SendMessage").status,
                         400)


    def test_trailing_text(self):
        """One JSON value, nothing after it but whitespace. json-glib 1.6 read
        "{...}{...}" as its first object (the batch was accepted) and leaked
        the rest: under ASan (tools/run-tests.sh) LSan fails the exit then."""
        batch = json.dumps({"Entries": [{"Id": "a", "MessageBody": "x"}]})
        headers = {"Content-Type": "application/x-amz-json-1.0",
                   "X-Amz-Target": "AmazonSQS.SendMessageBatch"}
        for body in (batch + batch, batch + "{}", batch + " 1", batch + ",", batch + " x",
                     "{}{}", "1{}", "[][]", '"a""b"'):
            with self.subTest(body=body):
                r = self.consumer.post(body, headers=headers)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json()["__type"], "com.amazonaws.sqs#InvalidParameterValue", r)
                self.assertIn("not valid JSON", r.json()["message"], r)
        self.assertEqual(self.consumer.events(), [])
        self.assertEqual(self.consumer.post(" \r\n\t" + batch + " \r\n\t",
                                            headers=headers).status, 200)
        # The Headers attribute is read as an object only when it is one.
        for i, (value, expected) in enumerate([('{"a":"b"}{}', '{"a":"b"}{}'),
                                               ("1{}", "1{}"),
                                               (' {"a":"b"} ', {"a": "b"})]):
            attributes = {"Name": {"DataType": "String", "StringValue": "ev"},
                          "Headers": {"DataType": "String", "StringValue": value}}
            r = self.post_json({"Entries": [{"Id": "h%d" % i, "MessageBody": "x",
                                             "MessageAttributes": attributes}]})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.consumer.events()[-1]["headers"], expected)
        self.assertEqual(self.consumer.stop(), 0, self.consumer.stderr)
        self.assertNotIn("LeakSanitizer", self.consumer.stderr)


class TestRoot(ConsumerTestCase):
    """AWS SDKs post to the endpoint's root and name the queue in QueueUrl."""

    JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.0",
                    "X-Amz-Target": "AmazonSQS.SendMessageBatch"}

    def post_root_query(self, queue_path, entries, **kw):
        params = [("Action", "SendMessageBatch"), ("Version", "2012-11-05")]
        if queue_path is not None:
            params.append(("QueueUrl", self.consumer.url + queue_path))
        return self.consumer.post(params + batch_params(entries), endpoint="/", **kw)

    def post_root_json(self, payload, headers=None):
        return self.consumer.post(json.dumps(payload), endpoint="/",
                                  headers=dict(self.JSON_HEADERS, **(headers or {})))

    def test_query_routed_by_queue_url(self):
        attributes = event_attributes("ev", HEADERS_1)
        ok, failed = self.batch_result(self.post_root_query(
            "/api/public/event-batch", [("a", "hello", attributes)]))
        self.assertEqual(failed, {})
        self.assertAccepted(ok["a"], "hello", attributes)
        ok, _ = self.batch_result(self.post_root_query("/api/event-batch", [("b", "x", None)]))
        self.assertIn("b", ok)
        events = {e["id"]: e for e in self.consumer.events()}
        self.assertEqual(events["a"]["endpoint"], "/api/public/event-batch")
        self.assertEqual(events["a"]["name"], "ev")
        self.assertEqual(events["b"]["endpoint"], "/api/event-batch")

    def test_json_routed_by_queue_url(self):
        payload = {"QueueUrl": self.consumer.url + "/api/public/event-batch", "Entries": [
            {"Id": "a", "MessageBody": "hello",
             "MessageAttributes": {"Name": {"DataType": "String", "StringValue": "ev"}}},
            {"Id": "b", "MessageBody": "bad \u0001"}]}
        r = self.post_root_json(payload)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["Content-Type"].startswith("application/x-amz-json-1.0"))
        self.assertTrue(UUID_RE.match(r.headers.get("x-amzn-RequestId", "")), r.headers)
        body = r.json()
        self.assertEqual([e["Id"] for e in body["Successful"]], ["a"])
        self.assertEqual(body["Successful"][0]["MD5OfMessageBody"], md5_hex("hello"))
        self.assertEqual(body["Successful"][0]["MD5OfMessageAttributes"],
                         sqs_attributes_md5({"Name": ("String", "ev")}))
        self.assertEqual([(e["Id"], e["Code"]) for e in body["Failed"]],
                         [("b", "InvalidMessageContents")])
        events = self.consumer.events()
        self.assertEqual([(e["id"], e["endpoint"]) for e in events],
                         [("a", "/api/public/event-batch")])

    def test_queue_url_path_only(self):
        r = self.post_root_json({"QueueUrl": "/api/event-batch",
                                 "Entries": [{"Id": "a", "MessageBody": "x"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.consumer.events()[0]["endpoint"], "/api/event-batch")

    def test_unknown_or_missing_queue(self):
        self.assertSqsError(self.post_root_query("/api/other", [("a", "b", None)]),
                            400, "AWS.SimpleQueueService.NonExistentQueue")
        self.assertSqsError(self.post_root_query(None, [("a", "b", None)]),
                            400, "MissingParameter")
        r = self.post_root_json({"QueueUrl": "http://example.com/123/queue",
                                 "Entries": [{"Id": "a", "MessageBody": "x"}]})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.headers["x-amzn-query-error"],
                         "AWS.SimpleQueueService.NonExistentQueue;Sender")
        r = self.post_root_json({"Entries": [{"Id": "a", "MessageBody": "x"}]})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["__type"], "com.amazonaws.sqs#MissingParameter")
        self.assertEqual(self.consumer.events(), [])
        stats = self.consumer.stats()
        self.assertEqual(stats["requests"], 4, stats)
        self.assertEqual(stats["failed_requests"], 4, stats)

    def test_root_validates_and_checks_http(self):
        self.assertSqsError(self.post_root_query("/api/event-batch",
                                                 [("a", "b", None), ("a", "c", None)]),
                            400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        r = self.post_root_json({"QueueUrl": "/api/event-batch", "Entries": []},
                                headers={"X-Amz-Target": "AmazonSQS.SendMessage"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["__type"], "com.amazonaws.sqs#InvalidAction")
        self.assertSqsError(self.consumer.post("x", endpoint="/",
                                               headers={"Content-Type": "text/plain"}),
                            415, "UnsupportedMediaType")
        # Not an SQS call: GET / is the inspector page (test-inspector-api.py);
        # other methods get the list of endpoints, as any unknown path
        r = http(self.consumer.url + "/", method="PUT")
        self.assertEqual(r.status, 404, r)
        self.assertIn(b"/api/event-batch", r.body)

    def test_root_faults_apply_after_routing(self):
        http(self.consumer.url + "/control/fail?on=1&status=503&retry_after=4", b"",
             method="POST")
        r = self.post_root_query("/api/event-batch", [("a", "b", None)])
        self.assertSqsError(r, 503, "ServiceUnavailable", error_type="Receiver")
        self.assertEqual(r.headers.get("Retry-After"), "4")
        self.assertEqual(self.consumer.events(), [])


class TestRootToken(ConsumerTestCase):
    consumer_args = ("--require-token",)

    def test_token_checked_after_routing(self):
        entries = batch_params([("a", "b", None)])

        def post(path, **kw):
            return self.consumer.post([("QueueUrl", self.consumer.url + path)] + entries,
                                      endpoint="/", **kw)

        self.assertSqsError(post("/api/event-batch"), 401, "MissingAuthenticationToken")
        ok, _ = self.batch_result(post("/api/event-batch",
                                       headers={"Authorization": "Bearer t"}))
        self.assertIn("a", ok)
        ok, _ = self.batch_result(post("/api/public/event-batch"))
        self.assertIn("a", ok)
        self.assertEqual([e["endpoint"] for e in self.consumer.events()],
                         ["/api/event-batch", "/api/public/event-batch"])


class TestToken(ConsumerTestCase):
    consumer_args = ("--require-token",)

    def test_require_token(self):
        params = batch_params([("a", "b", None)])
        r = self.consumer.post(params)
        self.assertSqsError(r, 401, "MissingAuthenticationToken")
        self.assertIn("Bearer", r.headers.get("WWW-Authenticate", ""))
        self.assertSqsError(self.consumer.post(params, headers={"Authorization": "Basic eDp5"}),
                            401, "InvalidClientTokenId")
        self.assertSqsError(self.consumer.post(params, headers={"Authorization": "Bearer "}),
                            401, "InvalidClientTokenId")
        ok, _ = self.batch_result(self.consumer.post(
            params, headers={"Authorization": "Bearer some-token"}))
        self.assertIn("a", ok)
        ok, _ = self.batch_result(self.consumer.post(params, endpoint="/api/public/event-batch",
                                                     headers={"X-Tidal-Token": "client"}))
        self.assertIn("a", ok)
        self.assertEqual(len(self.consumer.events()), 2)

    def test_specific_token(self):
        c = self.start("--token", "s3cret")
        params = batch_params([("a", "b", None)])
        self.assertSqsError(c.post(params, headers={"Authorization": "Bearer other"}),
                            403, "AccessDenied")
        self.batch_result(c.post(params, headers={"Authorization": "Bearer s3cret"}))


class TestFaults(ConsumerTestCase):
    PARAMS = batch_params([("a", "b", None)])

    def test_control_fail_on_off(self):
        c = self.consumer
        r = http(c.url + "/control/fail?on=1", b"", method="POST")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["fail"], True)
        self.assertSqsError(c.post(self.PARAMS), 503, "ServiceUnavailable", "Receiver")
        r = http(c.url + "/control/fail?on=1&status=429&retry_after=9", b"", method="POST")
        reply = c.post(self.PARAMS)
        self.assertSqsError(reply, 429, "RequestThrottled")
        self.assertEqual(reply.headers.get("Retry-After"), "9")
        r = http(c.url + "/control/fail", b"on=0", method="POST",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertIs(r.json()["fail"], False)
        self.batch_result(c.post(self.PARAMS))
        self.assertEqual(http(c.url + "/control/fail?on=maybe", b"", method="POST").status, 400)
        self.assertEqual(http(c.url + "/control/fail?on=1&status=99", b"",
                              method="POST").status, 400)
        self.assertEqual(http(c.url + "/control/stats", b"", method="POST").status, 405)
        stats = c.stats()
        self.assertEqual(stats["faults_injected"], 2, stats)
        self.assertEqual(stats["accepted"], 1, stats)
        self.assertEqual(len(c.events()), 1)

    def test_sigusr1_toggles_failing(self):
        c = self.consumer
        c.proc.send_signal(signal.SIGUSR1)
        c.wait_for(lambda: c.stats()["fail"], "fail mode on after SIGUSR1")
        self.assertSqsError(c.post(self.PARAMS), 503, "ServiceUnavailable", "Receiver")
        c.proc.send_signal(signal.SIGUSR1)
        c.wait_for(lambda: not c.stats()["fail"], "fail mode off after second SIGUSR1")
        self.batch_result(c.post(self.PARAMS))
        self.assertEqual(c.stop(), 0)
        self.assertIn("SIGUSR1: failing every request", c.stderr)
        self.assertIn("SIGUSR1: no longer failing", c.stderr)

    def test_fail_rate_with_retry_after(self):
        c = self.start("--fail-rate", "1", "--retry-after", "7")
        for _ in range(3):
            reply = c.post(self.PARAMS)
            self.assertSqsError(reply, 503, "ServiceUnavailable", "Receiver")
            self.assertEqual(reply.headers.get("Retry-After"), "7")
        self.assertEqual(c.events(), [])
        self.assertEqual(c.stats()["faults_injected"], 3)

    def test_fail_status(self):
        c = self.start("--fail-rate", "1", "--fail-status", "500")
        reply = c.post(self.PARAMS)
        self.assertSqsError(reply, 500, "InternalFailure", "Receiver")
        self.assertIsNone(reply.headers.get("Retry-After"))

    def test_sender_and_receiver_fault_rates(self):
        c = self.start("--sender-fault-rate", "1")
        ok, failed = self.batch_result(c.post(batch_params([("a", "b", None), ("c", "d", None)])))
        self.assertEqual(ok, {})
        for e in failed.values():
            self.assertEntryError(e, "InvalidMessageContents", "true")
        c = self.start("--receiver-fault-rate", "1")
        ok, failed = self.batch_result(c.post(self.PARAMS))
        self.assertEntryError(failed["a"], "InternalError", "false")
        self.assertEqual(c.events(), [])

    def test_partial_fault_rate_is_deterministic_with_seed(self):
        def run():
            c = self.start("--sender-fault-rate", "0.5", "--seed", "42")
            entries = [("e%d" % i, "b", None) for i in range(10)]
            ok, failed = self.batch_result(c.post(batch_params(entries)))
            ids = {k: v.findtext(Q + "MessageId") for k, v in ok.items()}
            return ids, sorted(failed)
        first, second = run(), run()
        self.assertEqual(first, second)
        self.assertTrue(first[0] and first[1], "with p=0.5 over 10 entries expect both outcomes")

    def test_garbage_rate(self):
        c = self.start("--garbage-rate", "1")
        reply = c.post(self.PARAMS)
        self.assertEqual(reply.status, 200, reply)
        self.assertTrue(reply.headers["Content-Type"].startswith("text/html"), reply)
        self.assertNotIn(NS.encode(), reply.body)
        self.assertEqual(c.events(), [])
        self.assertEqual(c.stats()["faults_injected"], 1)

    def test_latency(self):
        c = self.start("--latency", "1000")
        results = []

        def post():
            t0 = time.monotonic()
            results.append((c.post(self.PARAMS), time.monotonic() - t0))

        threads = [threading.Thread(target=post) for _ in range(2)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        # The loop is not blocked: the control endpoint answers at once.
        c.wait_for(lambda: c.stats()["held_replies"] == 2, "two delayed replies")
        self.assertLess(time.monotonic() - t0, 1.0, "both requests were held at once")
        for t in threads:
            t.join(10)
        total = time.monotonic() - t0
        self.assertEqual(len(results), 2)
        for reply, elapsed in results:
            self.batch_result(reply)
            self.assertGreaterEqual(elapsed, 0.99)
        self.assertLess(total, 1.9, "the two delayed replies ran concurrently")

    def test_hang(self):
        c = self.start("--hang-rate", "1")
        with self.assertRaises((socket.timeout, urllib.error.URLError, TimeoutError)):
            c.post(self.PARAMS, timeout=0.5)
        stats = c.stats()
        self.assertEqual(stats["faults_injected"], 1, stats)
        self.assertEqual(c.events(), [])
        # and /control/hang switches it for a normal consumer
        r = http(self.consumer.url + "/control/hang?on=1", b"", method="POST")
        self.assertIs(r.json()["hang"], True)
        with self.assertRaises((socket.timeout, urllib.error.URLError, TimeoutError)):
            self.consumer.post(self.PARAMS, timeout=0.3)
        http(self.consumer.url + "/control/hang?on=0", b"", method="POST")
        self.batch_result(self.consumer.post(self.PARAMS))
        self.assertEqual(c.stop(), 0, c.stderr)


class TestLifecycle(ConsumerTestCase):
    def test_sigterm_summary(self):
        c = self.consumer
        with open(c.port_file) as f:
            self.assertEqual(int(f.read()), c.port)
        c.post(batch_params([("a", "b", None), ("b", "\x01", None)]))
        self.assertEqual(c.stop(signal.SIGTERM), 0, c.stderr)
        self.assertRegex(c.stderr, r"1 requests, 1 events accepted, 1 rejected, "
                                   r"0 faults injected")
        self.assertFalse(os.path.exists(c.port_file), "port file removed at exit")

    def test_sigint(self):
        self.assertEqual(self.consumer.stop(signal.SIGINT), 0, self.consumer.stderr)
        self.assertIn("0 requests", self.consumer.stderr)

    def test_stdout_output(self):
        # Standard output carries nothing but events: `ep-consumer | jq`
        # works; the banner is on standard error.
        proc = subprocess.Popen([EP_CONSUMER, "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        line = proc.stderr.readline().decode()
        url = re.match(r"ep-consumer listening on (\S+)", line).group(1)
        http(url + "/api/event-batch", batch_params([("a", "b", None)]))
        http(url + "/nowhere", b"x=1")
        http(url + "/api/event-batch", batch_params([("c", "d", None)]))
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0)
        events = [json.loads(line) for line in out.decode().splitlines()]
        self.assertEqual([e["id"] for e in events], ["a", "c"])

    def test_command_line(self):
        r = subprocess.run([EP_CONSUMER, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        for word in ["--fail-rate", "--retry-after", "--hang-rate", "--seed", "--port-file",
                     "Examples", "SIGUSR1", "/control/fail"]:
            self.assertIn(word, r.stdout)
        for args, what in [(["--fail-rate", "2"], "--fail-rate"),
                           (["--fail-status", "200"], "--fail-status"),
                           (["--port", "70000"], "--port"),
                           (["stray"], "stray")]:
            r = subprocess.run([EP_CONSUMER] + args, capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(what, r.stderr)

    def test_port_in_use(self):
        r = subprocess.run([EP_CONSUMER, "--port", str(self.consumer.port)],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("Could not listen on 127.0.0.1 port %d" % self.consumer.port, r.stderr)

    def test_output_not_writable(self):
        r = subprocess.run([EP_CONSUMER, "--port", "0", "--output", "/nonexistent/dir/x"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/dir/x", r.stderr)


def main():
    global EP_CONSUMER
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        EP_CONSUMER = os.path.abspath(args.pop(0))
    else:
        EP_CONSUMER = os.environ.get("EP_CONSUMER")
    if not EP_CONSUMER or not os.access(EP_CONSUMER, os.X_OK):
        sys.exit("usage: %s PATH-TO-ep-consumer (or set EP_CONSUMER); got %r"
                 % (sys.argv[0], EP_CONSUMER))
    unittest.main(argv=[sys.argv[0], "-v"] + args)


if __name__ == "__main__":
    main()
