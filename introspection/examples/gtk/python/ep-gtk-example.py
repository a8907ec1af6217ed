#!/usr/bin/python3
# ep-gtk-example.py: a GTK 4 / libadwaita application that sends analytics events with ep-glib, in Python
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The twin of ../c/ep-gtk-example.c (see there for the why): the producer is
# made in startup (the primary instance only), an init error means
# "analytics off", a banner (a Gtk.Revealer: libadwaita 1.2 has no
# Adw.Banner) is bound to the producer's `outage` and says why from
# `outage-reason`, and the "Send event" button activates the app.send-event
# action.
#
#   /usr/bin/python3 ep-gtk-example.py --consumer http://127.0.0.1:8080

import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gtk", "4.0")
gi.require_version("Adw", "1")
gi.require_version("Ep", "1.0")
from gi.repository import Adw, Ep, Gio, GLib, GObject, Gtk  # noqa: E402

APP_ID = "org.example.EpGtk.Python"
DEFAULT_CONSUMER = "http://127.0.0.1:8080"
# What the banner says, by Ep.Producer:outage-reason.
BANNER_TEXTS = {
    Ep.OutageReason.UNREACHABLE:
        "The analytics server cannot be reached. Events are kept and sent later.",
    Ep.OutageReason.HTTP_ERROR:
        "The analytics server reports an error. Events are kept and sent later.",
    Ep.OutageReason.CREDENTIALS:
        "The analytics server refused the credentials. Events are kept until it accepts them.",
    Ep.OutageReason.STORAGE:
        "Analytics events cannot be saved (disk full or failing). New ones are dropped.",
    Ep.OutageReason.OFFLINE:
        "Offline. Analytics events are kept and sent when the network is back.",
}
DEFAULT_BANNER_TEXT = "Analytics are not being delivered. They are kept and sent later."


class ExampleApp(Adw.Application):
    def __init__(self):
        super().__init__(application_id=APP_ID, flags=Gio.ApplicationFlags.DEFAULT_FLAGS)
        self.consumer = DEFAULT_CONSUMER
        self.producer = None     # None when analytics are off
        self.off_reason = None
        self.status = None
        self.sent = 0
        self.add_main_option("consumer", 0, GLib.OptionFlags.NONE, GLib.OptionArg.STRING,
                             "The consumer's base URL (default %s)" % DEFAULT_CONSUMER, "URL")

    def do_handle_local_options(self, options):
        consumer = options.lookup_value("consumer", GLib.VariantType("s"))
        if consumer is not None:
            self.consumer = consumer.get_string()
        return -1   # go on: register, startup (primary only), activate

    def do_startup(self):
        Adw.Application.do_startup(self)
        # Startup runs once, in the primary instance only. Construct
        # properties as keyword arguments, then init(): Python's form of
        # g_initable_new().
        try:
            producer = Ep.Producer(app_name="ep-gtk-example-python", app_version="1.0",
                                   consumer_uri=self.consumer + "/api/event-batch",
                                   public_consumer_uri=self.consumer + "/api/public/event-batch")
            producer.init(None)
            self.producer = producer
            print("analytics on: queue", producer.props.queue_dir, flush=True)
        except GLib.Error as error:
            # Analytics off; the app itself works as before.
            self.off_reason = error.message
            print("analytics off:", error.message, flush=True)

        for name, callback in (("send-event", self.on_send_event), ("flush", self.on_flush),
                               ("quit", lambda *args: self.quit())):
            action = Gio.SimpleAction.new(name, None)
            action.connect("activate", callback)
            self.add_action(action)
        self.lookup_action("send-event").set_enabled(self.producer is not None)
        self.set_accels_for_action("app.quit", ["<Control>q"])

    def do_shutdown(self):
        # The queued events stay on disk; the next run delivers them.
        self.producer = None
        Adw.Application.do_shutdown(self)

    def set_status(self, text):
        if self.status is not None:
            self.status.set_text(text)
        print("status:", text, flush=True)

    def on_send_event(self, action, parameter):
        if self.producer is None:
            return
        result, event_id = self.producer.send_event_full(
            "button_pressed", Ep.ConsentCategory.NECESSARY,
            '{"button":"send","count":%d}' % (self.sent + 1), None)
        self.sent += 1
        print("sent:", result.value_nick, event_id or "-", flush=True)
        self.set_status("Events sent: %d" % self.sent)

    def on_flush(self, action, parameter):
        if self.producer is None:
            return
        self.hold()
        self.producer.flush_async(None, self.on_flushed)

    def on_flushed(self, producer, result):
        # An error is not a failure of the app: the events stay queued and
        # go later. The banner shows the outage meanwhile.
        try:
            producer.flush_finish(result)
            print("flush: delivered", flush=True)
        except GLib.Error as error:
            print("flush: not delivered yet:", error.message, flush=True)
        self.release()

    def make_banner(self):
        banner = Gtk.Revealer(transition_type=Gtk.RevealerTransitionType.SLIDE_DOWN)
        box = Gtk.Box(spacing=12, css_classes=["toolbar"])
        label = Gtk.Label(label=DEFAULT_BANNER_TEXT, wrap=True, hexpand=True, xalign=0,
                          css_classes=["warning"])
        box.append(label)
        box.append(Gtk.Button(label="Retry", action_name="app.flush"))
        banner.set_child(box)
        banner.connect("notify::reveal-child", lambda banner, pspec: print(
            "banner:", "shown" if banner.props.reveal_child else "hidden", flush=True))
        if self.producer is not None:
            # outage-reason is notified before outage changes, so the text
            # is right when the banner slides in.
            self.producer.connect("notify::outage-reason",
                                  lambda producer, pspec: self.on_reason(producer, label))
            self.on_reason(self.producer, label)
            self.producer.bind_property("outage", banner, "reveal-child",
                                        GObject.BindingFlags.SYNC_CREATE)
        return banner

    def on_reason(self, producer, label):
        reason, detail = producer.props.outage_reason, producer.props.last_error
        label.set_text(BANNER_TEXTS.get(reason, DEFAULT_BANNER_TEXT))
        label.set_tooltip_text(detail)
        print("reason: %s (%s)" % (reason.value_nick, detail or "no error"), flush=True)

    def do_activate(self):
        window = self.get_active_window()
        if window is not None:
            # A second launch of the app ends up here, in the first instance.
            window.present()
            print("window: presented again", flush=True)
            return

        window = Adw.ApplicationWindow(application=self, title="ep-glib GTK example (Python)",
                                       default_width=480, default_height=300)
        content = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
        content.append(Adw.HeaderBar())
        content.append(self.make_banner())
        page = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=18, vexpand=True,
                       valign=Gtk.Align.CENTER, halign=Gtk.Align.CENTER)
        if self.producer is not None:
            self.status = Gtk.Label(label="No events sent yet")
        else:
            self.status = Gtk.Label(label="Analytics off: " + self.off_reason, wrap=True)
        page.append(self.status)
        page.append(Gtk.Button(label="Send event", action_name="app.send-event",
                               css_classes=["suggested-action", "pill"]))
        content.append(page)
        window.set_content(content)
        window.present()
        print("window: shown", flush=True)


if __name__ == "__main__":
    sys.exit(ExampleApp().run(sys.argv))
