#!/usr/bin/python3
# test_privacy.py: EpProducer:follow-desktop-privacy from Python, against the build tree
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run by meson (suite "introspection") with GSETTINGS_SCHEMA_DIR pointing at
# the build tree's compiled copy of org.gnome.desktop.privacy and
# GSETTINGS_BACKEND=memory: real GSettings, changed by this process. The
# producers never reach a consumer (batches an hour away); waits spin a
# GLib.MainLoop until a condition holds, with a timeout that fails the test.

import os
import shutil
import tempfile
import unittest

_TMP = tempfile.mkdtemp(prefix="ep-glib-pyprivacy-")
for _var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
    os.environ[_var] = os.path.join(_TMP, _var.lower())
os.environ["XDG_DATA_DIRS"] = os.path.join(_TMP, "no-system-schemas")
os.environ.setdefault("GIO_USE_PROXY_RESOLVER", "dummy")
os.environ["GSETTINGS_BACKEND"] = "memory"

import gi  # noqa: E402

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Ep", "1.0")
from gi.repository import Ep, GLib, Gio  # noqa: E402

PERF = Ep.ConsentCategory.PERFORMANCE
TARGET = Ep.ConsentCategory.TARGETING
NEED = Ep.ConsentCategory.NECESSARY
URI = "http://127.0.0.1:9/api/event-batch"   # never contacted


def run_until(condition, what, timeout_s=10):
    deadline = GLib.get_monotonic_time() + int(timeout_s * 1000000)
    context = GLib.MainContext.default()
    while not condition():
        if GLib.get_monotonic_time() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout_s, what))
        context.iteration(False) or GLib.usleep(1000)


class PrivacyTest(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(os.environ.get("GSETTINGS_SCHEMA_DIR"))
        self.settings = Gio.Settings.new("org.gnome.desktop.privacy")
        self.settings.set_boolean("send-software-usage-stats", True)
        self.dirs = []

    def tearDown(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def new_producer(self, **props):
        queue_dir = tempfile.mkdtemp(prefix="queue-", dir=_TMP)
        self.dirs.append(queue_dir)
        producer = Ep.Producer(app_name="ep-pyprivacy", app_version="1.0",
                               consumer_uri=URI, public_consumer_uri=URI, queue_dir=queue_dir,
                               batch_interval=3600 * 1000, monitoring_interval=3600 * 1000,
                               **props)
        producer.init(None)
        producer.set_consent_blocked(PERF, False)
        producer.set_consent_blocked(TARGET, False)
        return producer

    def test_default_follows_live(self):
        producer = self.new_producer()
        self.assertTrue(producer.props.follow_desktop_privacy)
        for _ in range(3):
            self.assertEqual(producer.send_event("perf", PERF, "{}", None), Ep.SendResult.STORED)
        self.assertEqual(producer.send_event("need", NEED, "{}", None), Ep.SendResult.STORED)
        self.settings.set_boolean("send-software-usage-stats", False)
        run_until(lambda: producer.get_consent_blocked(PERF), "PERFORMANCE blocked")
        self.assertTrue(producer.get_consent_blocked(TARGET))
        self.assertFalse(producer.get_consent_blocked(NEED))
        self.assertEqual(producer.props.queue_length, 1)
        self.assertEqual(producer.send_event("perf", PERF, "{}", None),
                         Ep.SendResult.CONSENT_FILTERED)
        self.settings.set_boolean("send-software-usage-stats", True)
        run_until(lambda: not producer.get_consent_blocked(PERF), "PERFORMANCE unblocked")
        self.assertFalse(producer.get_consent_blocked(TARGET))

    def test_app_choice_kept(self):
        producer = self.new_producer()
        producer.set_consent_blocked(TARGET, True)
        self.settings.set_boolean("send-software-usage-stats", False)
        run_until(lambda: producer.get_consent_blocked(PERF), "PERFORMANCE blocked")
        self.settings.set_boolean("send-software-usage-stats", True)
        run_until(lambda: not producer.get_consent_blocked(PERF), "PERFORMANCE unblocked")
        self.assertTrue(producer.get_consent_blocked(TARGET))

    def test_not_followed(self):
        producer = self.new_producer(follow_desktop_privacy=False)
        witness = self.new_producer()
        self.settings.set_boolean("send-software-usage-stats", False)
        run_until(lambda: witness.get_consent_blocked(PERF), "the witness blocked")
        self.assertFalse(producer.get_consent_blocked(PERF))
        self.assertEqual(producer.send_event("perf", PERF, "{}", None), Ep.SendResult.STORED)
        producer.props.follow_desktop_privacy = True
        self.assertTrue(producer.get_consent_blocked(PERF))
        self.assertEqual(producer.props.queue_length, 0)


if __name__ == "__main__":
    try:
        unittest.main(verbosity=2)
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
