#!/usr/bin/python3
# test_producer.py: the Ep-1.0 API from Python (PyGObject), against the build tree
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run by meson (suite "introspection") with GI_TYPELIB_PATH and LD_LIBRARY_PATH
# pointing at the ep-glib build directory. The consumer is a small SoupServer
# inside this process that speaks SQS SendMessageBatch, so the test needs no
# other program. No sleeps: every wait spins a GLib.MainLoop until a condition
# holds, with a timeout that fails the test.

import gc
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.parse
import uuid

# Isolate the user directories before GLib reads (and caches) them.
_TMP = tempfile.mkdtemp(prefix="ep-glib-pytest-")
for _var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
    os.environ[_var] = os.path.join(_TMP, _var.lower())
# No system schemas: where GNOME's org.gnome.desktop.privacy is installed,
# its send-software-usage-stats default (false) would block PERFORMANCE and
# TARGETING (follow-desktop-privacy; test_privacy.py tests that).
os.environ["XDG_DATA_DIRS"] = os.path.join(_TMP, "xdg_data_dirs")
os.environ.setdefault("GIO_USE_PROXY_RESOLVER", "dummy")
os.environ.setdefault("GSETTINGS_BACKEND", "memory")

import gi  # noqa: E402

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Soup", "3.0")
gi.require_version("Ep", "1.0")
from gi.repository import Ep, GLib, Gio, GObject, Soup  # noqa: E402

SQS_NS = "http://queue.amazonaws.com/doc/2012-11-05/"
TIMEOUT_S = 10
UUID4_CHARS = set("0123456789abcdef-")


class FakeConsumer:
    """A loopback SQS SendMessageBatch endpoint that confirms every entry,
    or fails every request with 503 while `failing` is set, refuses every
    request with `refuse_status` while it is set, refuses a whole batch
    (400 InvalidParameterValue) holding an entry named in `poison_names`,
    and answers SenderFault for every entry while `sender_fault_all` is set."""

    def __init__(self):
        self.failing = False
        self.refuse_status = None
        self.poison_names = set()
        self.sender_fault_all = False
        self.reply_padding = 0  # blanks appended to each 200 reply
        self.date_offset_s = 0  # a consumer whose clock is off: added to every reply's Date
        self.events = []  # dicts: id, name, payload, headers, path
        self.encodings = []  # each request's Content-Encoding (None: none)
        self.requests = 0
        self.server = Soup.Server()
        for path in ("/api/event-batch", "/api/public/event-batch"):
            self.server.add_handler(path, self._handle)
        self.server.listen_local(0, Soup.ServerListenOptions.IPV4_ONLY)
        uri = self.server.get_uris()[0]
        self.base = "http://127.0.0.1:%d" % uri.get_port()

    @property
    def consumer_uri(self):
        return self.base + "/api/event-batch"

    @property
    def public_consumer_uri(self):
        return self.base + "/api/public/event-batch"

    def close(self):
        self.server.disconnect()

    def _reply(self, msg, status, body):
        msg.set_status(status, None)
        msg.set_response("text/xml", Soup.MemoryUse.COPY, body.encode())

    def _handle(self, server, msg, path, query):
        self.requests += 1
        if self.date_offset_s:
            date = GLib.DateTime.new_now_utc().add_seconds(self.date_offset_s)
            msg.get_response_headers().replace(
                "Date", Soup.date_time_to_string(date, Soup.DateFormat.HTTP))
        if msg.get_method() != "POST":
            self._reply(msg, 405, self._error("Sender", "MethodNotAllowed"))
        elif self.failing:
            self._reply(msg, 503, self._error("Receiver", "ServiceUnavailable"))
        elif self.refuse_status is not None:
            self._reply(msg, self.refuse_status, "<html><body>refused</body></html>")
        else:
            entries = self._entries(msg, path)
            if any(e["name"] in self.poison_names for e in entries):
                self._reply(msg, 400, self._error("Sender", "InvalidParameterValue"))
            else:
                self._reply(msg, 200, self._confirm(entries) + " " * self.reply_padding)

    def _error(self, kind, code):
        return ('<?xml version="1.0"?><ErrorResponse xmlns="%s"><Error><Type>%s</Type>'
                '<Code>%s</Code><Message>injected by the test</Message><Detail/></Error>'
                '<RequestId>%s</RequestId></ErrorResponse>' % (SQS_NS, kind, code, uuid.uuid4()))

    def _entries(self, msg, path):
        body = msg.get_request_body().flatten().get_data()
        encoding = msg.get_request_headers().get_one("Content-Encoding")
        self.encodings.append(encoding)
        if encoding == "gzip":
            body = gzip.decompress(body)
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        prefix = "SendMessageBatchRequestEntry.%d."
        entries = []
        n = 1
        while (prefix % n) + "Id" in form:
            p = prefix % n
            entry = {
                "id": form[p + "Id"][0],
                "payload": form[p + "MessageBody"][0],
                "path": path,
            }
            for a in (1, 2):
                name = form[p + "MessageAttribute.%d.Name" % a][0]
                value = form[p + "MessageAttribute.%d.Value.StringValue" % a][0]
                entry[name.lower()] = value
            entry["headers"] = json.loads(entry["headers"])
            entries.append(entry)
            n += 1
        return entries

    def _confirm(self, entries):
        if self.sender_fault_all:
            errors = "".join(
                "<BatchResultErrorEntry><Id>%s</Id><SenderFault>true</SenderFault>"
                "<Code>InvalidMessageContents</Code><Message>no</Message></BatchResultErrorEntry>"
                % e["id"] for e in entries)
            return ('<?xml version="1.0"?><SendMessageBatchResponse xmlns="%s">'
                    '<SendMessageBatchResult>%s</SendMessageBatchResult>'
                    '</SendMessageBatchResponse>' % (SQS_NS, errors))
        self.events.extend(entries)
        results = "".join(
            "<SendMessageBatchResultEntry><Id>%s</Id><MessageId>%s</MessageId>"
            "<MD5OfMessageBody>%s</MD5OfMessageBody></SendMessageBatchResultEntry>"
            % (e["id"], uuid.uuid4(), hashlib.md5(e["payload"].encode()).hexdigest())
            for e in entries)
        return ('<?xml version="1.0"?><SendMessageBatchResponse xmlns="%s">'
                '<SendMessageBatchResult>%s</SendMessageBatchResult>'
                '<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
                '</SendMessageBatchResponse>' % (SQS_NS, results, uuid.uuid4()))

    def app_events(self):
        return [e for e in self.events if e["name"] != Ep.MONITORING_EVENT_NAME]


def run_until(condition, what, timeout_s=TIMEOUT_S):
    """Runs a main loop until condition() holds; the timeout fails the test."""
    deadline = GLib.get_monotonic_time() + int(timeout_s * 1000000)
    loop = GLib.MainLoop()

    def check():
        if condition() or GLib.get_monotonic_time() >= deadline:
            loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add(5, check)
    loop.run()
    if not condition():
        raise AssertionError("timed out after %ss waiting for %s" % (timeout_s, what))


class ProducerTest(unittest.TestCase):
    def setUp(self):
        self.consumer = FakeConsumer()
        self.queue_dir = tempfile.mkdtemp(prefix="queue-", dir=_TMP)
        self.producers = []

    def tearDown(self):
        while self.producers:
            self.close(self.producers.pop())
        gc.collect()  # dispose them (async results hold references) before the rmtree
        self.consumer.close()
        shutil.rmtree(self.queue_dir, ignore_errors=True)

    # helpers

    def new_producer(self, queue_dir=None, **props):
        config = dict(
            app_name="ep-pytest",
            app_version="1.0",
            consumer_uri=self.consumer.consumer_uri,
            public_consumer_uri=self.consumer.public_consumer_uri,
            queue_dir=queue_dir or self.queue_dir,
            batch_interval=100,
            request_timeout=2000,
            monitoring_interval=3600 * 1000,
        )
        config.update(props)
        producer = Ep.Producer(**config)
        producer.init(None)
        self.producers.append(producer)
        return producer

    def flush(self, producer):
        """Returns (ok, error) of flush_async/flush_finish."""
        done = []

        def on_flushed(source, result, user_data):
            try:
                done.append((source.flush_finish(result), None))
            except GLib.Error as error:
                done.append((False, error))

        producer.flush_async(None, on_flushed, None)
        run_until(lambda: done, "flush to finish")
        return done[0]

    def close(self, producer):
        done = []

        def on_closed(source, result, user_data):
            done.append(source.close_finish(result))

        producer.close_async(None, on_closed, None)
        run_until(lambda: done, "close to finish")
        self.assertTrue(done[0])

    def assert_ep_error(self, error, code):
        self.assertIsInstance(error, GLib.Error)
        self.assertEqual(error.domain, GLib.quark_to_string(Ep.error_quark()))
        self.assertEqual(error.code, int(code), error.message)
        self.assertTrue(error.matches(Ep.error_quark(), code))

    # tests

    def test_construct_and_send(self):
        producer = self.new_producer()
        self.assertEqual(producer.props.queue_length, 0)
        self.assertEqual(producer.get_queue_dir(), self.queue_dir)
        self.assertFalse(producer.props.outage)

        lengths = []
        producer.connect("notify::queue-length",
                         lambda p, pspec: lengths.append(p.props.queue_length))

        result = producer.send_event("playback_session", Ep.ConsentCategory.NECESSARY,
                                     '{"trackId":42}', None)
        self.assertEqual(result, Ep.SendResult.STORED)
        self.assertEqual(producer.get_queue_length(), 1)
        self.assertGreater(producer.props.queue_bytes, 0)

        # The notification arrives on the producer's main context.
        run_until(lambda: 1 in lengths, "notify::queue-length")

    def test_events_settled(self):
        producer = self.new_producer()
        settled = {}

        def on_settled(p, ids, outcome):
            for event_id in ids:
                settled[event_id] = outcome

        producer.connect("events-settled", on_settled)
        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, False)
        delivered = []
        for _ in range(12):
            result, event_id = producer.send_event_full("settled", Ep.ConsentCategory.NECESSARY,
                                                        "{}", None)
            self.assertEqual(result, Ep.SendResult.STORED)
            delivered.append(event_id)
        _, revoked = producer.send_event_full("revoked", Ep.ConsentCategory.PERFORMANCE, "{}", None)
        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, True)
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        run_until(lambda: len(settled) == 13, "events-settled for 13 events")
        for event_id in delivered:
            self.assertEqual(settled[event_id], Ep.EventOutcome.DELIVERED)
        self.assertEqual(settled[revoked], Ep.EventOutcome.CONSENT_REVOKED)

    def test_compress_requests(self):
        producer = self.new_producer()
        self.assertFalse(producer.props.compress_requests)
        producer.send_event("plain", Ep.ConsentCategory.NECESSARY, '{"n":1}', None)
        self.flush(producer)
        self.assertEqual(self.consumer.encodings, [None])
        producer.props.compress_requests = True
        for n in range(10):
            producer.send_event("zipped", Ep.ConsentCategory.NECESSARY, '{"n":%d}' % n, None)
        self.flush(producer)
        self.assertEqual(self.consumer.encodings[1:], ["gzip"] * (len(self.consumer.encodings) - 1))
        self.assertEqual(sorted(json.loads(e["payload"])["n"] for e in self.consumer.app_events()
                                if e["name"] == "zipped"), list(range(10)))

    def test_max_event_age(self):
        producer = self.new_producer()
        self.assertEqual(producer.props.max_event_age, 0)
        self.assertNotIn("expiredEvents", json.loads(producer.dup_counters_json()))
        self.producers.remove(producer)
        self.close(producer)
        producer = self.new_producer(max_event_age=30 * 24 * 3600)
        self.assertEqual(producer.props.max_event_age, 30 * 24 * 3600)
        self.assertEqual(json.loads(producer.dup_counters_json())["expiredEvents"], {})
        pspec = Ep.Producer.find_property("max-event-age")
        self.assertTrue(pspec.flags & GObject.ParamFlags.CONSTRUCT_ONLY)
        self.assertEqual((pspec.minimum, pspec.default_value), (0, 0))
        producer.send_event("young", Ep.ConsentCategory.NECESSARY, "{}", None)
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        self.assertEqual([e["name"] for e in self.consumer.app_events()], ["young"])

    def test_purge(self):
        producer = self.new_producer()
        purged = set()

        def on_settled(p, ids, outcome):
            if outcome == Ep.EventOutcome.PURGED:
                purged.update(ids)

        producer.connect("events-settled", on_settled)
        self.consumer.failing = True
        ids = [producer.send_event_full("purged", Ep.ConsentCategory.NECESSARY, "{}", None)[1]
               for _ in range(4)]
        done = []

        def on_purged(source, result, user_data):
            done.append(source.purge_finish(result))

        producer.purge_async(None, on_purged, None)
        run_until(lambda: done, "purge to finish")
        self.assertEqual(done[0], 4)
        self.assertEqual(producer.props.queue_length, 0)
        run_until(lambda: purged >= set(ids), "events-settled PURGED")
        self.consumer.failing = False
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        self.assertEqual(self.consumer.app_events(), [])

    def test_new_uses_state_dir(self):
        producer = Ep.Producer.new("ep-pytest-new", "2.0", self.consumer.consumer_uri,
                                   self.consumer.public_consumer_uri)
        self.producers.append(producer)
        expected = os.path.join(os.environ["XDG_STATE_HOME"], "ep-glib", "ep-pytest-new")
        self.assertEqual(producer.get_queue_dir(), expected)
        self.assertTrue(os.path.isdir(expected))
        self.assertEqual(os.stat(expected).st_mode & 0o777, 0o700)
        self.assertEqual(producer.send_event("x", Ep.ConsentCategory.NECESSARY, "{}", None),
                         Ep.SendResult.STORED)

    def test_consent(self):
        producer = self.new_producer()
        self.assertFalse(producer.get_consent_blocked(Ep.ConsentCategory.NECESSARY))
        self.assertTrue(producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE))
        self.assertTrue(producer.get_consent_blocked(Ep.ConsentCategory.TARGETING))

        result = producer.send_event("perf", Ep.ConsentCategory.PERFORMANCE, "{}", None)
        self.assertEqual(result, Ep.SendResult.CONSENT_FILTERED)
        self.assertEqual(producer.props.queue_length, 0)
        counters = json.loads(producer.dup_counters_json())
        self.assertEqual(counters["consentFilteredEvents"], {"perf": 1})
        self.assertEqual(counters["validationFailedEvents"], {})
        self.assertEqual(counters["storingFailedEvents"], {})

        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, False)
        self.assertFalse(producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE))
        result = producer.send_event("perf", Ep.ConsentCategory.PERFORMANCE, "{}", None)
        self.assertEqual(result, Ep.SendResult.STORED)
        self.assertEqual(producer.props.queue_length, 1)
        self.assertEqual(producer.send_event("ad", Ep.ConsentCategory.TARGETING, "{}", None),
                         Ep.SendResult.CONSENT_FILTERED)

        # The GVariant form of the same counters.
        consent, validation, storing = producer.dup_counters().unpack()
        self.assertEqual(consent, {"perf": 1, "ad": 1})

    def test_consent_revocation_reaches_the_queue(self):
        # Allowed, stored while no consumer takes anything, then blocked:
        # the queued events of the blocked categories go (counted), only the
        # NECESSARY ones arrive, and a restart does not bring the others back.
        self.consumer.failing = True
        producer = self.new_producer()
        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, False)
        producer.set_consent_blocked(Ep.ConsentCategory.TARGETING, False)
        sent = [("nec", Ep.ConsentCategory.NECESSARY), ("perf", Ep.ConsentCategory.PERFORMANCE),
                ("perf", Ep.ConsentCategory.PERFORMANCE), ("ad", Ep.ConsentCategory.TARGETING),
                ("nec", Ep.ConsentCategory.NECESSARY), ("perf", Ep.ConsentCategory.PERFORMANCE)]
        for i, (name, category) in enumerate(sent):
            self.assertEqual(producer.send_event(name, category, '{"i":%d}' % i, None),
                             Ep.SendResult.STORED)
        run_until(lambda: producer.props.queue_length == 6 and self.consumer.requests > 0,
                  "a delivery attempt that fails")

        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, True)
        producer.set_consent_blocked(Ep.ConsentCategory.TARGETING, True)
        run_until(lambda: producer.props.queue_length == 2, "the blocked events to go")
        counters = json.loads(producer.dup_counters_json())
        self.assertEqual(counters["consentFilteredEvents"], {"perf": 3, "ad": 1})
        self.close(self.producers.pop())

        self.consumer.failing = False
        producer = self.new_producer()
        self.assertEqual(producer.props.queue_length, 2)
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        self.assertEqual([(e["name"], json.loads(e["payload"])["i"])
                          for e in self.consumer.app_events()], [("nec", 0), ("nec", 4)])

    def test_persist_consent(self):
        # With persist-consent the state set last comes back at the next
        # start, and the queued events of the consented category with it;
        # without it the defaults apply at start, to the queue too.
        self.consumer.failing = True
        producer = self.new_producer(persist_consent=True)
        self.assertTrue(producer.props.persist_consent)
        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, False)
        for i in range(3):
            self.assertEqual(producer.send_event("perf", Ep.ConsentCategory.PERFORMANCE,
                                                 '{"i":%d}' % i, None), Ep.SendResult.STORED)
        self.assertEqual(producer.send_event("ad", Ep.ConsentCategory.TARGETING, "{}", None),
                         Ep.SendResult.CONSENT_FILTERED)
        self.close(self.producers.pop())

        producer = self.new_producer(persist_consent=True)
        self.assertFalse(producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE))
        self.assertTrue(producer.get_consent_blocked(Ep.ConsentCategory.TARGETING))
        self.assertEqual(producer.props.queue_length, 3)
        self.close(self.producers.pop())

        # The defaults: the queued PERFORMANCE events go at construction.
        self.consumer.failing = False
        producer = self.new_producer()
        self.assertFalse(producer.props.persist_consent)
        self.assertTrue(producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE))
        self.assertEqual(producer.props.queue_length, 0)
        counters = json.loads(producer.dup_counters_json())
        self.assertEqual(counters["consentFilteredEvents"], {"perf": 3, "ad": 1})
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        self.assertEqual(self.consumer.app_events(), [])

    def test_read_only_snapshot_of_a_held_queue(self):
        # What `ep-tool status` does while the application runs: a second
        # ordinary producer is refused, a read-only one sees the queue and
        # writes nothing to it.
        self.consumer.failing = True
        owner = self.new_producer()
        for i in range(3):
            self.assertEqual(owner.send_event("held", Ep.ConsentCategory.NECESSARY,
                                              '{"i":%d}' % i, None), Ep.SendResult.STORED)
        with self.assertRaises(GLib.Error) as raised:
            self.new_producer()
        self.assert_ep_error(raised.exception, Ep.Error.QUEUE_LOCKED)

        def journal_files():
            return sorted((name, os.path.getsize(os.path.join(self.queue_dir, name)))
                          for name in os.listdir(self.queue_dir) if ".journal" in name)

        before = journal_files()
        reader = self.new_producer(read_only=True)
        self.assertTrue(reader.props.read_only)
        self.assertEqual(reader.props.queue_length, 3)
        self.assertEqual(reader.props.queue_bytes, owner.props.queue_bytes)
        self.assertEqual(reader.dup_queued_events(0, 10).n_children(), 3)
        self.assertEqual(reader.send_event("x", Ep.ConsentCategory.NECESSARY, "{}", None),
                         Ep.SendResult.STORING_FAILED)
        ok, error = self.flush(reader)
        self.assertFalse(ok)
        self.close(self.producers.pop())
        self.assertEqual(journal_files(), before)
        self.assertEqual(owner.props.queue_length, 3)

    def test_queue_directory_deleted(self):
        # The queue directory is deleted while the application runs and
        # sends: it comes back (0700) within a second and after a restart
        # every event reported STORED is delivered.
        self.consumer.failing = True
        producer = self.new_producer()
        stored = []

        def send(i):
            if producer.send_event("e", Ep.ConsentCategory.NECESSARY, '{"i":%d}' % i,
                                   None) == Ep.SendResult.STORED:
                stored.append(i)

        for i in range(5):
            send(i)
        shutil.rmtree(self.queue_dir)
        for i in range(5, 10):
            send(i)

        def recreated():
            return os.path.isdir(self.queue_dir) and any(
                name.endswith(".journal") for name in os.listdir(self.queue_dir))

        run_until(recreated, "the queue directory to come back")
        self.assertEqual(os.stat(self.queue_dir).st_mode & 0o777, 0o700)
        for i in range(10, 15):
            send(i)
        self.close(self.producers.pop())

        self.consumer.failing = False
        producer = self.new_producer()
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        delivered = sorted(json.loads(e["payload"])["i"] for e in self.consumer.app_events())
        self.assertEqual(delivered, stored)
        self.assertGreaterEqual(len(stored), 10)

    def test_validation(self):
        producer = self.new_producer()
        self.assertEqual(producer.send_event("", Ep.ConsentCategory.NECESSARY, "{}", None),
                         Ep.SendResult.VALIDATION_FAILED)
        big = "x" * (Ep.MAX_EVENT_SIZE + 1)
        self.assertEqual(producer.send_event("big", Ep.ConsentCategory.NECESSARY, big, None),
                         Ep.SendResult.VALIDATION_FAILED)
        self.assertEqual(producer.send_event("ctl", Ep.ConsentCategory.NECESSARY, "\x01", None),
                         Ep.SendResult.VALIDATION_FAILED)
        counters = json.loads(producer.dup_counters_json())
        # (How an empty name is keyed is the library's business.)
        self.assertEqual(counters["validationFailedEvents"]["big"], 1)
        self.assertEqual(counters["validationFailedEvents"]["ctl"], 1)
        self.assertEqual(producer.props.queue_length, 0)

    def test_invalid_config(self):
        with self.assertRaises(GLib.Error) as caught:
            self.new_producer(consumer_uri="api/event-batch")
        self.assert_ep_error(caught.exception, Ep.Error.INVALID_CONFIG)
        self.assertIn("consumer-uri", caught.exception.message)

        with self.assertRaises(GLib.Error) as caught:
            Ep.Producer.new("ep-pytest", "1.0", "ftp://example.com/x",
                            self.consumer.public_consumer_uri)
        self.assert_ep_error(caught.exception, Ep.Error.INVALID_CONFIG)

        with self.assertRaises(GLib.Error) as caught:
            self.new_producer(app_name="")
        self.assert_ep_error(caught.exception, Ep.Error.INVALID_CONFIG)

        # An https consumer without a TLS backend has a code of its own
        # (the test environment has glib-networking: the value only).
        self.assertNotEqual(Ep.Error.TLS_UNAVAILABLE, Ep.Error.INVALID_CONFIG)

    def test_queue_locked(self):
        first = self.new_producer()
        with self.assertRaises(GLib.Error) as caught:
            self.new_producer()
        self.assert_ep_error(caught.exception, Ep.Error.QUEUE_LOCKED)

        # Once the first one is closed, the directory is free again.
        self.producers.remove(first)
        self.close(first)
        self.new_producer()

    def test_stamp_payload(self):
        """SPEC 6: the web producer's body form, through the typelib."""
        producer = self.new_producer(stamp_payload=True)
        self.assertTrue(producer.props.stamp_payload)
        before = GLib.get_real_time() // 1000
        result, event_id = producer.send_event_full("stamped", Ep.ConsentCategory.NECESSARY,
                                                    '{"trackId":42,"tags":["a"]}', None)
        after = GLib.get_real_time() // 1000
        self.assertEqual(result, Ep.SendResult.STORED)
        self.assertEqual(producer.send_event("bad", Ep.ConsentCategory.NECESSARY, "[42]", None),
                         Ep.SendResult.VALIDATION_FAILED)
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        (event,) = self.consumer.app_events()
        body = json.loads(event["payload"])
        self.assertEqual(body["uuid"], event_id)
        self.assertEqual(body["uuid"], event["id"])
        self.assertIsInstance(body["ts"], int)
        self.assertGreaterEqual(body["ts"], before)
        self.assertLessEqual(body["ts"], after)
        self.assertEqual(body["trackId"], 42)
        self.assertEqual(body["tags"], ["a"])
        self.assertEqual(str(body["ts"]), event["headers"]["requested-sent-timestamp"])

    def test_app_version_required(self):
        for version in (None, ""):
            with self.assertRaises(GLib.Error) as caught:
                self.new_producer(app_version=version)
            self.assert_ep_error(caught.exception, Ep.Error.INVALID_CONFIG)
            self.assertIn("app-version", caught.exception.message)

    def test_headers_and_delivery(self):
        producer = self.new_producer()
        producer.set_consent_blocked(Ep.ConsentCategory.TARGETING, False)
        payloads = ['{"n":%d}' % i for i in range(25)]
        for i, payload in enumerate(payloads):
            category = Ep.ConsentCategory.TARGETING if i % 2 else Ep.ConsentCategory.NECESSARY
            headers = {"x-seq": str(i), "app-version": "override"}
            self.assertEqual(producer.send_event("seq", category, payload, headers),
                             Ep.SendResult.STORED)
        self.assertEqual(producer.props.queue_length, 25)

        ok, error = self.flush(producer)
        self.assertIsNone(error)
        self.assertTrue(ok)
        self.assertEqual(producer.props.queue_length, 0)
        self.assertEqual(producer.props.queue_bytes, 0)

        events = self.consumer.app_events()
        self.assertEqual(sorted(e["payload"] for e in events), sorted(payloads))
        ids = [e["id"] for e in events]
        self.assertEqual(len(set(ids)), 25)
        for event in events:
            self.assertEqual(len(event["id"]), 36)
            self.assertLessEqual(set(event["id"]), UUID4_CHARS)
            self.assertEqual(event["id"][14], "4")
            self.assertEqual(event["path"], "/api/public/event-batch")
            self.assertEqual(event["name"], "seq")
            headers = event["headers"]
            seq = int(json.loads(event["payload"])["n"])
            self.assertEqual(headers["x-seq"], str(seq))
            self.assertEqual(headers["app-version"], "override")
            self.assertEqual(headers["app-name"], "ep-pytest")
            self.assertEqual(headers["consent-category"],
                             "TARGETING" if seq % 2 else "NECESSARY")
            self.assertNotIn("authorization", headers)

    def sent_timestamp_offset_ms(self, name):
        """requested-sent-timestamp of the delivered event @name minus now."""
        [event] = [e for e in self.consumer.app_events() if e["name"] == name]
        return int(event["headers"]["requested-sent-timestamp"]) - GLib.get_real_time() // 1000

    def send_and_flush(self, producer, name):
        producer.send_event(name, Ep.ConsentCategory.NECESSARY, "{}", None)
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)

    def test_consumer_clock(self):
        """Events sent after a few replies from a consumer an hour ahead
        carry its time; the offset survives a restart; one reply with a
        week-old Date (a proxy's cache) does not move it."""
        hour_ms = 3600 * 1000
        self.consumer.date_offset_s = 3600
        producer = self.new_producer()
        for i in range(3):
            self.send_and_flush(producer, "before-%d" % i)
        self.assertAlmostEqual(self.sent_timestamp_offset_ms("before-0"), 0, delta=5000)
        self.send_and_flush(producer, "after")
        self.assertAlmostEqual(self.sent_timestamp_offset_ms("after"), hour_ms, delta=5000)

        self.consumer.date_offset_s = -7 * 24 * 3600
        self.send_and_flush(producer, "outlier")
        self.consumer.date_offset_s = 3600
        self.send_and_flush(producer, "after-outlier")
        self.assertAlmostEqual(self.sent_timestamp_offset_ms("after-outlier"), hour_ms, delta=5000)

        self.producers.remove(producer)
        self.close(producer)
        del producer
        gc.collect()
        restarted = self.new_producer()
        self.send_and_flush(restarted, "restarted")
        self.assertAlmostEqual(self.sent_timestamp_offset_ms("restarted"), hour_ms, delta=5000)

    def test_credentials(self):
        producer = self.new_producer()
        # Keep a reference: PyGObject warns when a property is set to a temporary.
        credentials = Ep.Credentials.new("secret-token", "client-7")
        producer.props.credentials = credentials
        self.assertEqual(producer.dup_credentials().props.client_id, "client-7")
        producer.send_event("authed", Ep.ConsentCategory.NECESSARY, "{}", None)
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        [event] = self.consumer.app_events()
        self.assertEqual(event["path"], "/api/event-batch")
        self.assertEqual(event["headers"]["authorization"], "secret-token")
        self.assertEqual(event["headers"]["client-id"], "client-7")

    def test_outage(self):
        producer = self.new_producer()
        changes = []
        notified = []
        producer.connect("outage-changed", lambda p, outage: changes.append(outage))
        producer.connect("notify::outage", lambda p, pspec: notified.append(p.props.outage))

        self.consumer.failing = True
        for i in range(3):
            producer.send_event("during-outage", Ep.ConsentCategory.NECESSARY,
                                '{"i":%d}' % i, None)
        ok, error = self.flush(producer)
        self.assertFalse(ok)
        self.assert_ep_error(error, Ep.Error.DELIVERY)
        run_until(lambda: changes == [True], "outage-changed(true)")
        self.assertTrue(producer.props.outage)
        self.assertIn(True, notified)
        self.assertEqual(producer.props.queue_length, 3)
        # What the application shows: why, and in words (naming the request).
        self.assertEqual(producer.props.outage_reason, Ep.OutageReason.HTTP_ERROR)
        self.assertEqual(producer.get_outage_reason(), Ep.OutageReason.HTTP_ERROR)
        self.assertIn("HTTP", producer.props.last_error)
        self.assertEqual(producer.dup_last_error(), producer.props.last_error)

        self.consumer.failing = False
        ok, error = self.flush(producer)
        self.assertIsNone(error)
        self.assertTrue(ok)
        run_until(lambda: changes == [True, False], "outage-changed(false)")
        self.assertFalse(producer.props.outage)
        self.assertEqual(notified[-1], False)
        self.assertEqual(producer.props.outage_reason, Ep.OutageReason.NONE)
        self.assertIsNone(producer.props.last_error)
        self.assertEqual(producer.props.queue_length, 0)
        self.assertEqual(len(self.consumer.app_events()), 3)

    def test_poison_event_dropped_with_witness(self):
        # One event the consumer refuses whole-batch (400 InvalidParameterValue)
        # among good ones: the batch is split, the good events are delivered,
        # the poison event waits aside; once it was refused on its own five
        # times while the consumer took 50 others and proved none of its
        # refusals wrong, it is dropped and counted. No outage, nothing jams.
        producer = self.new_producer()
        changes = []
        producer.connect("outage-changed", lambda p, outage: changes.append(outage))
        self.consumer.poison_names = {"poison"}
        for i in range(4):
            producer.send_event("good", Ep.ConsentCategory.NECESSARY, '{"i":%d}' % i, None)
        producer.send_event("poison", Ep.ConsentCategory.NECESSARY, "{}", None)
        for i in range(4, 12):
            producer.send_event("good", Ep.ConsentCategory.NECESSARY, '{"i":%d}' % i, None)
        ok, error = self.flush(producer)
        self.assertFalse(ok)
        self.assertIn("aside", error.message)
        self.assertEqual(producer.props.queue_length, 1)
        self.assertEqual(len(self.consumer.app_events()), 12)
        for i in range(12, 62):
            producer.send_event("good", Ep.ConsentCategory.NECESSARY, '{"i":%d}' % i, None)
        for _ in range(6):
            if producer.props.queue_length == 0:
                break
            self.flush(producer)
        self.assertEqual(producer.props.queue_length, 0)
        self.assertEqual(len(self.consumer.app_events()), 62)
        counters = json.loads(producer.dup_counters_json())
        self.assertEqual(counters["validationFailedEvents"], {"poison": 1})
        self.assertEqual(changes, [])
        self.assertFalse(producer.props.outage)

    def test_refuse_everything_drops_nothing(self):
        # A middlebox answering 413 to every POST, then a consumer answering
        # SenderFault for every entry: nothing is dropped, it is an outage.
        producer = self.new_producer()
        for i in range(25):
            producer.send_event("e", Ep.ConsentCategory.NECESSARY, '{"i":%d}' % i, None)
        for refuse in ("413", "sender-fault"):
            self.consumer.refuse_status = 413 if refuse == "413" else None
            self.consumer.sender_fault_all = refuse == "sender-fault"
            ok, error = self.flush(producer)
            self.assertFalse(ok)
            self.assert_ep_error(error, Ep.Error.DELIVERY)
            self.assertEqual(producer.props.queue_length, 25)
            counters = json.loads(producer.dup_counters_json())
            self.assertEqual(counters["validationFailedEvents"], {})
            self.assertTrue(producer.props.outage)

        self.consumer.sender_fault_all = False
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        self.assertEqual(len(self.consumer.app_events()), 25)
        self.assertFalse(producer.props.outage)

    def test_oversized_reply_is_a_failure(self):
        # A reply body over 1 MiB fails the request: nothing is deleted, it
        # is an outage; a normal reply afterwards delivers everything.
        producer = self.new_producer()
        for i in range(3):
            producer.send_event("big-reply", Ep.ConsentCategory.NECESSARY, '{"i":%d}' % i, None)
        self.consumer.reply_padding = 1024 * 1024
        ok, error = self.flush(producer)
        self.assertFalse(ok)
        self.assert_ep_error(error, Ep.Error.DELIVERY)
        self.assertIn("larger than 1048576 bytes", error.message)
        self.assertEqual(producer.props.queue_length, 3)
        self.assertTrue(producer.props.outage)

        self.consumer.reply_padding = 0
        self.consumer.events.clear()
        ok, error = self.flush(producer)
        self.assertTrue(ok, error)
        self.assertEqual(producer.props.queue_length, 0)
        self.assertFalse(producer.props.outage)

    def test_delivery_by_timer(self):
        producer = self.new_producer()
        producer.send_event("timed", Ep.ConsentCategory.NECESSARY, "{}", None)
        run_until(lambda: producer.props.queue_length == 0
                               and len(self.consumer.app_events()) == 1,
                               "the batch-interval timer to deliver")


def main():
    try:
        program = unittest.main(exit=False, verbosity=2)
        return 0 if program.result.wasSuccessful() else 1
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
