#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""ep-consumer's inspector: the page's files and the JSON API, over HTTP.

Usage: test-inspector-api.py EP_CONSUMER EP_TOOL [unittest options]

Events come from a real producer (ep-tool send and flush) where the test
is about what a producer sends, and from hand-written SQS requests where
it is about what ep-consumer refuses. The browser side is
test-inspector-browser.py.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("consumer_test",
                                               os.path.join(HERE, "test-consumer.py"))
ct = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ct)

EP_TOOL = None


def tool(*args):
    return subprocess.run([EP_TOOL, *args], check=True, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL).stdout


def event(entry_id, name, payload="{}", category="NECESSARY", extra=None):
    headers = {"consent-category": category, "requested-sent-timestamp": "1700000000123"}
    headers.update(extra or {})
    return (entry_id, payload, ct.event_attributes(name, json.dumps(headers)))


class InspectorTest(ct.ConsumerTestCase):
    def get(self, path, consumer=None):
        r = ct.http((consumer or self.consumer).url + path)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["Content-Type"].startswith("application/json"), r)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        return r.json()

    def post_json(self, path, value, consumer=None):
        return ct.http((consumer or self.consumer).url + path, json.dumps(value),
                       headers={"Content-Type": "application/json"}, method="POST")

    # -- the page ------------------------------------------------------------

    def test_page_and_its_files(self):
        r = ct.http(self.consumer.url + "/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn("script-src 'self'", r.headers["Content-Security-Policy"])
        page = r.body.decode()
        self.assertIn('<table id="events">', page)
        self.assertIn('<caption id="events-caption">', page)
        self.assertIn('<th scope="col">Event id</th>', page)
        # No external assets: every src and href is on this server
        for url in ("/inspector/inspector.js", "/inspector/inspector.css"):
            self.assertIn('"%s"' % url, page)
        self.assertNotIn("http://", page.replace(self.consumer.url, ""))
        self.assertNotIn("https://", page)
        js = ct.http(self.consumer.url + "/inspector/inspector.js")
        self.assertEqual(js.status, 200)
        self.assertTrue(js.headers["Content-Type"].startswith("text/javascript"))
        self.assertIn(b"/api/events?after=", js.body)
        css = ct.http(self.consumer.url + "/inspector/inspector.css")
        self.assertTrue(css.headers["Content-Type"].startswith("text/css"))
        self.assertIn(b"prefers-color-scheme: dark", css.body)
        self.assertEqual(ct.http(self.consumer.url + "/", method="HEAD").status, 200)
        for path in ("/inspector/nope.js", "/inspector/", "/inspector/..%2Findex.html",
                     "/inspector/inspector.gresource.xml", "/index.html"):
            # (libsoup itself refuses the encoded slash: 400)
            self.assertIn(ct.http(self.consumer.url + path).status, (400, 404), path)

    def test_paths_do_not_clash_with_sqs(self):
        # POST / stays SQS (botocore's endpoint_url); GET / is the page
        params = [("Action", "SendMessageBatch"), ("Version", "2012-11-05"),
                  ("QueueUrl", self.consumer.url + "/api/event-batch")]
        ok, failed = self.batch_result(self.consumer.post(
            params + ct.batch_params([event("a", "root_event")]), endpoint="/"))
        self.assertEqual((list(ok), failed), (["a"], {}))
        ok, failed = self.batch_result(self.consumer.post(
            ct.batch_params([event("b", "path_event")])))
        self.assertEqual(list(ok), ["b"])
        self.assertEqual([e["name"] for e in self.get("/api/events")["events"]],
                         ["path_event", "root_event"])
        # The batch endpoints are SQS's whatever the method
        self.assertSqsError(ct.http(self.consumer.url + "/api/event-batch"),
                            405, "MethodNotAllowed")
        # The API's read paths answer GET only: a POST there (a producer
        # pointed at a wrong path) is an unknown path, counted and logged
        self.assertEqual(ct.http(self.consumer.url + "/api/events", b"x=1").status, 404)
        self.assertEqual(ct.http(self.consumer.url + "/api/reset").status, 404)
        self.assertEqual(ct.http(self.consumer.url + "/api/nope").status, 404)
        self.assertEqual(self.consumer.stats()["unknown_paths"], 3)

    # -- events ----------------------------------------------------------------

    def test_events_from_a_real_producer(self):
        with tempfile.TemporaryDirectory() as queue:
            tool("send", "-d", queue, "--token", "s3cret-token", "play", '{"track":1}')
            tool("send", "-d", queue, "--token", "s3cret-token", "--category", "performance",
                 "timing", '{"ms":12}')
            dumped = [json.loads(l) for l in
                      tool("dump", "-d", queue, "--show-secrets").splitlines()]
            self.assertIn("delivered 2 events",
                          tool("flush", "-d", queue, "--token", "s3cret-token",
                               "--consumer", self.consumer.url))
        r = ct.http(self.consumer.url + "/api/events")
        self.assertNotIn(b"s3cret-token", r.body)
        listing = r.json()
        self.assertEqual(listing["kept"], 2)
        self.assertEqual(listing["capacity"], 1000)
        events = listing["events"]
        self.assertEqual([e["id"] for e in events], [d["id"] for d in dumped][::-1])
        timing = events[0]
        self.assertEqual(timing["name"], "timing")
        self.assertEqual(timing["category"], "PERFORMANCE")
        self.assertEqual(timing["endpoint"], "/api/event-batch")
        self.assertEqual(timing["payload"], '{"ms":12}')
        self.assertEqual(timing["size"], len('{"ms":12}'))
        self.assertEqual(timing["sent_ms"],
                         int(dumped[1]["headers"]["requested-sent-timestamp"]))
        self.assertEqual(timing["headers"]["authorization"], "(not kept)")
        self.assertEqual(timing["headers"]["app-name"], "ep-tool")
        self.assertRegex(timing["received"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertGreater(timing["seq"], events[1]["seq"])
        self.assertEqual(listing["last_seq"], timing["seq"])

    def test_headers_flat_and_not(self):
        # A flat object (kept as text until listed) and the same members in
        # other spellings (parsed at once): the same redaction, category and
        # sent time, the members in the order sent
        members = [("app-name", "a"), ("authorization", "Bearer s3cret"),
                   ("consent-category", "TARGETING"),
                   ("requested-sent-timestamp", "1765062000123"), ("os-name", "x/y")]
        flat = "{" + ",".join('"%s":"%s"' % m for m in members) + "}"
        spaced = "{ " + ", ".join('"%s" : "%s"' % m for m in members) + " }"
        escaped = flat.replace("x/y", "x\\/y")
        nested = flat[:-1] + ',"extra":{"k":[1,2.5,null]}}'
        self.batch_result(self.consumer.post(ct.batch_params(
            [(str(i), "{}", ct.event_attributes("h", text))
             for i, text in enumerate([flat, spaced, escaped, nested], 1)])))
        r = ct.http(self.consumer.url + "/api/events")
        self.assertNotIn(b"s3cret", r.body)
        events = {e["id"]: e for e in r.json()["events"]}
        for i in ("1", "2", "3", "4"):
            e = events[i]
            self.assertEqual(e["category"], "TARGETING", i)
            self.assertEqual(e["sent_ms"], 1765062000123, i)
            self.assertEqual(list(e["headers"])[:5], [m[0] for m in members], i)
            self.assertEqual(e["headers"]["authorization"], "(not kept)", i)
            self.assertEqual(e["headers"]["os-name"], "x/y", i)
        self.assertEqual(events["4"]["headers"]["extra"], {"k": [1, 2.5, None]})
        self.assertEqual(self.get("/api/summary")["categories"], {"TARGETING": 4})

    def test_filters_after_and_limit(self):
        self.batch_result(self.consumer.post(ct.batch_params(
            [event("1", "a"), event("2", "b", category="PERFORMANCE"), event("3", "a"),
             event("4", "c", category="PERFORMANCE")])))
        ids = lambda q: [e["id"] for e in self.get("/api/events" + q)["events"]]
        self.assertEqual(ids(""), ["4", "3", "2", "1"])
        self.assertEqual(ids("?name=a"), ["3", "1"])
        self.assertEqual(ids("?category=PERFORMANCE"), ["4", "2"])
        self.assertEqual(ids("?name=a&category=PERFORMANCE"), [])
        self.assertEqual(ids("?limit=2"), ["4", "3"])
        seqs = [e["seq"] for e in self.get("/api/events")["events"]]
        self.assertEqual(ids("?after=%d" % seqs[2]), ["4", "3"])
        self.assertEqual(ids("?after=%d" % seqs[0]), [])
        self.assertEqual(ids("?name=a&limit=1"), ["3"])
        for bad in ("?limit=x", "?after=-1", "?limit=1001"):
            r = ct.http(self.consumer.url + "/api/events" + bad)
            self.assertEqual(r.status, 400, bad)
            self.assertIn("error", r.json())

    def test_counts_and_summary(self):
        self.batch_result(self.consumer.post(ct.batch_params(
            [event("1", "a"), event("2", "b", category="TARGETING"), event("3", "a"),
             ("4", "{}", None)])))
        summary = self.get("/api/summary")
        self.assertEqual(summary["names"], {"a": 2, "b": 1, "(no name)": 1})
        self.assertEqual(summary["categories"], {"NECESSARY": 2, "TARGETING": 1, "(none)": 1})
        self.assertEqual(summary["statuses"], {"200": 1})
        self.assertEqual(summary["requests"][0]["accepted"], 4)
        self.assertEqual(summary["totals"]["accepted"], 4)
        self.assertEqual(summary["faults"]["fail"], False)

    def test_ring_is_bounded(self):
        c = self.start("--inspector-events", "5")
        for i in range(3):
            self.batch_result(c.post(ct.batch_params(
                [event("%d-%d" % (i, j), "n%d" % (i * 4 + j)) for j in range(4)])))
        listing = self.get("/api/events?limit=5", c)
        self.assertEqual((listing["kept"], listing["dropped"], listing["capacity"]), (5, 7, 5))
        self.assertEqual([e["id"] for e in listing["events"]],
                         ["2-3", "2-2", "2-1", "2-0", "1-3"])
        # The counts cover every event, not only those kept
        self.assertEqual(len(self.get("/api/summary", c)["names"]), 12)
        self.assertEqual(ct.http(c.url + "/api/events?limit=6").status, 400)

        off = self.start("--inspector-events", "0")
        self.batch_result(off.post(ct.batch_params([event("x", "n")])))
        self.assertEqual(self.get("/api/events", off)["events"], [])
        self.assertEqual(self.get("/api/summary", off)["names"], {})
        self.assertEqual(len(off.events()), 1)   # the output is not affected

    def test_names_counted_are_bounded(self):
        for i in range(101):
            self.batch_result(self.consumer.post(ct.batch_params(
                [event("%d" % j, "name-%d-%d" % (i, j)) for j in range(10)])))
        names = self.get("/api/summary")["names"]
        self.assertEqual(len(names), 1001)
        self.assertEqual(names["(other names)"], 10)

    # -- refused events and outcomes -------------------------------------------

    def test_refused_with_the_reason(self):
        self.batch_result(self.consumer.post(ct.batch_params(
            [event("good", "fine"), event("bad", "broken", payload="x\x01y")])))
        self.assertSqsError(self.consumer.post(ct.batch_params(
            [event("dup", "twice"), event("dup", "twice")])),
            400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        refused = self.get("/api/refused")["refused"]
        self.assertEqual([(r["id"], r["name"], r["code"]) for r in refused],
                         [("dup", "twice", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
                          ("dup", "twice", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
                          ("bad", "broken", "InvalidMessageContents")])
        self.assertIn("Invalid binary character", refused[2]["reason"])
        self.assertEqual(refused[2]["payload"], "x\x01y")
        self.assertEqual([e["id"] for e in self.get("/api/events")["events"]], ["good"])
        requests = self.get("/api/summary")["requests"]
        self.assertEqual([(r["status"], r["code"], r["accepted"], r["refused"])
                          for r in requests],
                         [(400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 0, 2),
                          (200, None, 1, 1)])

    def test_refused_bytes_are_served_as_utf8(self):
        # An entry that is not UTF-8 is refused alone; an id that is not
        # refuses the batch. The API stays valid JSON in UTF-8 either way.
        e = "SendMessageBatchRequestEntry."
        body = (e + "1.Id=a&" + e + "1.MessageBody=ok&" + e + "2.Id=b&" + e
                + "2.MessageBody=%C3%28")
        self.batch_result(self.consumer.post(
            body, headers={"Content-Type": "application/x-www-form-urlencoded"}))
        body = e + "1.Id=%FF&" + e + "1.MessageBody=x"
        r = self.consumer.post(body, headers={"Content-Type":
                                              "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 400, r)
        r = ct.http(self.consumer.url + "/api/refused")
        refused = json.loads(r.body.decode("utf-8"))["refused"]
        self.assertEqual([(x["id"], x["payload"], x["size"]) for x in refused],
                         [("\ufffd", "x", 1), ("b", "\ufffd(", 2)])

    def test_injected_entry_faults(self):
        c = self.start("--sender-fault-rate", "1")
        self.batch_result(c.post(ct.batch_params([event("s", "refused_for_good")])))
        refused = self.get("/api/refused", c)["refused"]
        self.assertEqual(refused[0]["code"], "InvalidMessageContents")
        self.assertIn("Injected sender fault", refused[0]["reason"])
        c = self.start("--receiver-fault-rate", "1")
        self.batch_result(c.post(ct.batch_params([event("r", "failed_for_now")])))
        self.assertEqual(self.get("/api/refused", c)["refused"], [])
        request = self.get("/api/summary", c)["requests"][0]
        self.assertEqual((request["status"], request["accepted"], request["refused"],
                          request["failed"]), (200, 0, 0, 1))

    def test_unanswered_request(self):
        c = self.start("--hang-rate", "1")
        body = ct.urllib.parse.urlencode(ct.batch_params([event("h", "hung")])).encode()
        with ct.socket.create_connection(("127.0.0.1", c.port), timeout=10) as s:
            s.sendall(b"POST /api/event-batch HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            c.wait_for(lambda: self.get("/api/summary", c)["statuses"] == {"0": 1},
                       "the hung request in the outcomes")
        request = self.get("/api/summary", c)["requests"][0]
        self.assertEqual((request["status"], request["code"]), (0, "NoReply"))

    # -- faults and reset --------------------------------------------------------

    def test_fault_switches(self):
        faults = self.get("/api/faults")
        self.assertEqual({k: faults[k] for k in ("fail", "hang", "latency_ms", "fail_status")},
                         {"fail": False, "hang": False, "latency_ms": 0, "fail_status": 503})
        r = self.post_json("/api/faults", {"fail": True, "fail_status": 429})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["fail"], r.json()["fail_status"]), (True, 429))
        self.assertSqsError(self.consumer.post(ct.batch_params([event("1", "n")])),
                            429, "RequestThrottled")
        self.assertTrue(self.consumer.stats()["fail"])   # the same switch as /control/fail
        r = ct.http(self.consumer.url + "/api/faults", [("fail", "0"), ("latency_ms", "300")],
                    method="POST")
        self.assertEqual((r.json()["fail"], r.json()["latency_ms"]), (False, 300), r)
        start = time.monotonic()
        self.batch_result(self.consumer.post(ct.batch_params([event("2", "n")])))
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual(self.post_json("/api/faults", {"latency_ms": 0}).status, 200)
        self.assertTrue(self.post_json("/api/faults", {"hang": True}).json()["hang"])
        self.assertTrue(self.consumer.stats()["hang"])
        self.assertFalse(self.post_json("/api/faults", {"hang": False}).json()["hang"])
        for bad in ({"fail": "yes"}, {"nope": True}, {"fail_status": 200},
                    {"latency_ms": -1}, [], {}):
            r = self.post_json("/api/faults", bad)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertIn("error", r.json())
        r = ct.http(self.consumer.url + "/api/faults", "{", method="POST",
                    headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        # A refused change changes nothing
        self.assertFalse(self.get("/api/faults")["fail"])
        summary = self.get("/api/summary")
        self.assertEqual(summary["statuses"], {"200": 1, "429": 1})
        self.assertEqual(summary["requests"][1]["code"], "RequestThrottled")

    def test_reset(self):
        self.batch_result(self.consumer.post(ct.batch_params(
            [event("1", "a"), event("2", "b", payload="\x02")])))
        before = self.get("/api/events")
        r = ct.http(self.consumer.url + "/api/reset", b"", method="POST")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["epoch"], before["epoch"] + 1)
        self.assertEqual(self.get("/api/events")["events"], [])
        self.assertEqual(self.get("/api/refused")["refused"], [])
        summary = self.get("/api/summary")
        self.assertEqual((summary["names"], summary["requests"]), ({}, []))
        # The totals (and the output) are not the inspector's to reset
        self.assertEqual(summary["totals"]["accepted"], 1)
        self.batch_result(self.consumer.post(ct.batch_params([event("3", "c")])))
        after = self.get("/api/events")["events"]
        self.assertEqual([e["id"] for e in after], ["3"])
        self.assertGreater(after[0]["seq"], before["last_seq"])   # seq goes on


def main():
    global EP_TOOL
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ct.EP_CONSUMER = sys.argv[1]
    EP_TOOL = sys.argv[2]
    program = unittest.main(argv=[sys.argv[0]] + sys.argv[3:], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
