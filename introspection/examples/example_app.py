#!/usr/bin/python3
# example_app.py: an application sending a stream of events with ep-glib, in Python
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The twin of example-app.c: sends --events events at --rate per second,
# cycling through the three consent categories, unblocks PERFORMANCE half way
# (TARGETING stays blocked), prints outage-changed and queue-length changes,
# then flushes and prints the totals. From the build tree:
#
#   GI_TYPELIB_PATH=_build/ep-glib LD_LIBRARY_PATH=_build/ep-glib \
#     /usr/bin/python3 introspection/examples/example_app.py --consumer http://127.0.0.1:8080

import argparse
import json
import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Ep", "1.0")
from gi.repository import Ep, GLib  # noqa: E402

QUEUE_PRINT_INTERVAL_MS = 500
CATEGORY_NAMES = ["NECESSARY", "PERFORMANCE", "TARGETING"]
# One event type per category, so the counters show each.
EVENT_NAMES = ["playback_session", "ui_timing", "ad_impression"]


class App:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.stored = open(args.stored_file, "a") if args.stored_file else None
        self.results = {result: 0 for result in (Ep.SendResult.STORED,
                                                 Ep.SendResult.CONSENT_FILTERED,
                                                 Ep.SendResult.VALIDATION_FAILED,
                                                 Ep.SendResult.STORING_FAILED)}
        self.sent = 0
        self.status = 1
        base = args.consumer.rstrip("/")
        # Properties, then init(): Python's form of g_initable_new().
        self.producer = Ep.Producer(app_name="ep-example-python",
                                    app_version="1.0",
                                    consumer_uri=base + "/api/event-batch",
                                    public_consumer_uri=base + "/api/public/event-batch",
                                    queue_dir=args.queue_dir,
                                    batch_interval=args.batch_interval,
                                    request_timeout=2000)
        self.producer.init(None)  # raises GLib.Error (Ep.Error domain)
        self.initial_length = self.printed_length = self.producer.props.queue_length
        self.producer.connect("outage-changed", self.on_outage_changed)

    def on_outage_changed(self, producer, outage):
        print("outage-changed: %s (queue-length %d)"
              % ("TRUE" if outage else "FALSE", producer.props.queue_length), flush=True)

    def print_queue_length(self):
        length = self.producer.props.queue_length
        if length != self.printed_length:
            print("queue-length: %d" % length, flush=True)
            self.printed_length = length
        return GLib.SOURCE_CONTINUE

    def send_one(self):
        category = Ep.ConsentCategory(self.sent % 3)
        payload = json.dumps({"seq": self.sent, "category": CATEGORY_NAMES[category]})
        result, event_id = self.producer.send_event_full(EVENT_NAMES[category], category, payload,
                                                         {"x-example-lang": "python"})
        self.results[result] += 1
        self.sent += 1
        if result == Ep.SendResult.STORED and self.stored:
            self.stored.write(event_id + "\n")
        if self.sent == self.args.events // 2:
            self.producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, False)
            if self.producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE):
                print("consent: the app unblocked PERFORMANCE after %d events, but the desktop's "
                      "privacy setting (org.gnome.desktop.privacy send-software-usage-stats) keeps "
                      "it blocked: see follow-desktop-privacy" % self.sent, flush=True)
            else:
                print("consent: PERFORMANCE unblocked after %d events (TARGETING stays blocked)"
                      % self.sent, flush=True)

    def send_due(self):
        elapsed = (GLib.get_monotonic_time() - self.start_us) / 1e6
        due = min(self.args.events, int(elapsed * self.args.rate) + 1)
        while self.sent < due:
            self.send_one()
        if self.sent < self.args.events:
            return GLib.SOURCE_CONTINUE
        print("sent all %d events; flushing" % self.sent, flush=True)
        self.drain_deadline_us = GLib.get_monotonic_time() + self.args.drain_timeout * 1000000
        self.producer.flush_async(None, self.on_flushed, None)
        return GLib.SOURCE_REMOVE

    def on_flushed(self, producer, result, user_data):
        try:
            producer.flush_finish(result)
            print("flush: queue empty", flush=True)
            self.finish(True)
        except GLib.Error as error:
            if GLib.get_monotonic_time() >= self.drain_deadline_us:
                print("flush: gave up after %d s: %s" % (self.args.drain_timeout, error.message))
                self.finish(False)
            else:
                print("flush: %s; retrying" % error.message, flush=True)
                GLib.timeout_add(500, lambda: producer.flush_async(None, self.on_flushed, None)
                                 or GLib.SOURCE_REMOVE)

    def finish(self, drained):
        self.print_queue_length()
        left = self.producer.props.queue_length
        stored = self.results[Ep.SendResult.STORED]
        print("totals: sent %d, stored %d, delivered %d, still queued %d"
              % (self.sent, stored, self.initial_length + stored - left, left))
        print("dropped: consent-filtered %d, validation-failed %d, storing-failed %d"
              % (self.results[Ep.SendResult.CONSENT_FILTERED],
                 self.results[Ep.SendResult.VALIDATION_FAILED],
                 self.results[Ep.SendResult.STORING_FAILED]))
        print("counters: %s" % self.producer.dup_counters_json(), flush=True)
        self.status = 0 if drained else 1
        self.producer.close_async(None, lambda p, r, d: (p.close_finish(r), self.loop.quit()), None)

    def run(self):
        print("example-app (Python): %d events at %g/s to %s, queue %s (%d events left from before)"
              % (self.args.events, self.args.rate, self.args.consumer,
                 self.producer.get_queue_dir(), self.initial_length), flush=True)
        GLib.timeout_add(QUEUE_PRINT_INTERVAL_MS, self.print_queue_length)
        GLib.timeout_add(max(1, int(1000 / self.args.rate)), self.send_due)
        self.start_us = GLib.get_monotonic_time()
        self.loop.run()
        if self.stored:
            self.stored.close()
        return self.status


def main():
    parser = argparse.ArgumentParser(description="Send a stream of events with ep-glib.")
    parser.add_argument("--consumer", required=True,
                        help="base URL of the consumer, e.g. http://127.0.0.1:8080")
    parser.add_argument("--queue-dir", help="queue directory (default: in $XDG_STATE_HOME)")
    parser.add_argument("--events", type=int, default=100, help="events to send")
    parser.add_argument("--rate", type=float, default=20, help="events per second")
    parser.add_argument("--batch-interval", type=int, default=500,
                        help="milliseconds between deliveries")
    parser.add_argument("--drain-timeout", type=int, default=30,
                        help="seconds to keep flushing at the end")
    parser.add_argument("--stored-file", help="append the id of every stored event to FILE")
    args = parser.parse_args()
    if args.events < 0 or args.rate <= 0 or args.batch_interval <= 0:
        parser.error("--events, --rate and --batch-interval must be positive")

    try:
        app = App(args)
    except GLib.Error as error:
        print("Cannot create the producer: %s" % error.message, file=sys.stderr)
        return 1
    return app.run()


if __name__ == "__main__":
    sys.exit(main())
