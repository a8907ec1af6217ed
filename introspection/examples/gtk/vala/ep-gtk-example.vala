/* ep-gtk-example.vala: a GTK 4 / libadwaita application that sends analytics events with ep-glib, in Vala
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The twin of ../c/ep-gtk-example.c (see there for the why): the producer is
 * made in startup (the primary instance only), an init error means
 * "analytics off", a banner (a Gtk.Revealer: libadwaita 1.2 has no
 * Adw.Banner) is bound to the producer's `outage` and says why from
 * `outage-reason`, and the "Send event" button activates the app.send-event
 * action.
 *
 *   valac --pkg libadwaita-1 --pkg ep-glib-1.0 ep-gtk-example.vala
 *   ./ep-gtk-example --consumer http://127.0.0.1:8080
 */

const string APP_ID = "org.example.EpGtk.Vala";
const string DEFAULT_CONSUMER = "http://127.0.0.1:8080";

/* What the banner says, by Ep.Producer:outage-reason. */
string banner_text (Ep.OutageReason reason) {
    switch (reason) {
    case Ep.OutageReason.UNREACHABLE:
        return "The analytics server cannot be reached. Events are kept and sent later.";
    case Ep.OutageReason.HTTP_ERROR:
        return "The analytics server reports an error. Events are kept and sent later.";
    case Ep.OutageReason.CREDENTIALS:
        return "The analytics server refused the credentials. Events are kept until it accepts them.";
    case Ep.OutageReason.STORAGE:
        return "Analytics events cannot be saved (disk full or failing). New ones are dropped.";
    case Ep.OutageReason.OFFLINE:
        return "Offline. Analytics events are kept and sent when the network is back.";
    default:
        return "Analytics are not being delivered. They are kept and sent later.";
    }
}

public class ExampleApp : Adw.Application {
    private string consumer = DEFAULT_CONSUMER;
    private Ep.Producer? producer = null;   /* null when analytics are off */
    private string? off_reason = null;
    private Gtk.Label? status = null;
    private uint sent = 0;

    public ExampleApp () {
        Object (application_id: APP_ID, flags: ApplicationFlags.FLAGS_NONE);
        add_main_option ("consumer", 0, OptionFlags.NONE, OptionArg.STRING,
                         "The consumer's base URL (default " + DEFAULT_CONSUMER + ")", "URL");
    }

    public override int handle_local_options (VariantDict options) {
        options.lookup ("consumer", "s", out consumer);
        return -1;   /* go on: register, startup (primary only), activate */
    }

    public override void startup () {
        base.startup ();
        /* Startup runs once, in the primary instance only. Construct
         * properties through Object.new() (what g_initable_new() does in C;
         * `new Ep.Producer (...)` takes only the four URLs and names), then
         * init(). */
        try {
            var producer = (Ep.Producer) Object.new (typeof (Ep.Producer),
                                                     "app-name", "ep-gtk-example-vala",
                                                     "app-version", "1.0",
                                                     "consumer-uri", consumer + "/api/event-batch",
                                                     "public-consumer-uri", consumer + "/api/public/event-batch");
            producer.init (null);
            this.producer = producer;
            print ("analytics on: queue %s\n", producer.queue_dir);
        } catch (Error e) {
            /* Analytics off; the app itself works as before. */
            off_reason = e.message;
            print ("analytics off: %s\n", e.message);
        }

        var send = new SimpleAction ("send-event", null);
        send.activate.connect (send_event);
        send.set_enabled (producer != null);
        add_action (send);
        var flush = new SimpleAction ("flush", null);
        flush.activate.connect (() => flush_now.begin ());
        add_action (flush);
        var quit_action = new SimpleAction ("quit", null);
        quit_action.activate.connect (() => quit ());
        add_action (quit_action);
        set_accels_for_action ("app.quit", { "<Control>q" });
    }

    public override void shutdown () {
        /* The queued events stay on disk; the next run delivers them. */
        producer = null;
        base.shutdown ();
    }

    private void set_status (string text) {
        if (status != null)
            status.label = text;
        print ("status: %s\n", text);
    }

    private void send_event () {
        if (producer == null)
            return;
        string? id;
        var result = producer.send_event_full ("button_pressed", Ep.ConsentCategory.NECESSARY,
                                               "{\"button\":\"send\",\"count\":%u}".printf (sent + 1),
                                               null, out id);
        sent++;
        var nick = ((EnumClass) typeof (Ep.SendResult).class_ref ()).get_value (result).value_nick;
        print ("sent: %s %s\n", nick, id ?? "-");
        set_status ("Events sent: %u".printf (sent));
    }

    private async void flush_now () {
        if (producer == null)
            return;
        hold ();
        try {
            yield producer.flush_async (null);
            print ("flush: delivered\n");
        } catch (Error e) {
            /* Not a failure of the app: the events stay queued and go later.
             * The banner shows the outage meanwhile. */
            print ("flush: not delivered yet: %s\n", e.message);
        }
        release ();
    }

    private Gtk.Widget make_banner () {
        var banner = new Gtk.Revealer () { transition_type = Gtk.RevealerTransitionType.SLIDE_DOWN };
        var box = new Gtk.Box (Gtk.Orientation.HORIZONTAL, 12) { css_classes = { "toolbar" } };
        var label = new Gtk.Label (banner_text (Ep.OutageReason.NONE)) {
            wrap = true, hexpand = true, xalign = 0, css_classes = { "warning" }
        };
        box.append (label);
        box.append (new Gtk.Button.with_label ("Retry") { action_name = "app.flush" });
        banner.child = box;
        banner.notify["reveal-child"].connect (() => {
            print ("banner: %s\n", banner.reveal_child ? "shown" : "hidden");
        });
        if (producer != null) {
            /* outage-reason is notified before outage changes, so the text
             * is right when the banner slides in. */
            producer.notify["outage-reason"].connect (() => on_reason (label));
            on_reason (label);
            producer.bind_property ("outage", banner, "reveal-child", BindingFlags.SYNC_CREATE);
        }
        return banner;
    }

    private void on_reason (Gtk.Label label) {
        var reason = producer.outage_reason;
        var detail = producer.last_error;
        label.label = banner_text (reason);
        label.tooltip_text = detail;
        var nick = ((EnumClass) typeof (Ep.OutageReason).class_ref ()).get_value (reason).value_nick;
        print ("reason: %s (%s)\n", nick, detail ?? "no error");
    }

    public override void activate () {
        var window = active_window;
        if (window != null) {
            /* A second launch of the app ends up here, in the first instance. */
            window.present ();
            print ("window: presented again\n");
            return;
        }

        var app_window = new Adw.ApplicationWindow (this) {
            title = "ep-glib GTK example (Vala)", default_width = 480, default_height = 300
        };
        var content = new Gtk.Box (Gtk.Orientation.VERTICAL, 0);
        content.append (new Adw.HeaderBar ());
        content.append (make_banner ());
        var page = new Gtk.Box (Gtk.Orientation.VERTICAL, 18) {
            vexpand = true, valign = Gtk.Align.CENTER, halign = Gtk.Align.CENTER
        };
        if (producer != null)
            status = new Gtk.Label ("No events sent yet");
        else
            status = new Gtk.Label ("Analytics off: " + off_reason) { wrap = true };
        page.append (status);
        page.append (new Gtk.Button.with_label ("Send event") {
            action_name = "app.send-event", css_classes = { "suggested-action", "pill" }
        });
        content.append (page);
        app_window.content = content;
        app_window.present ();
        print ("window: shown\n");
    }

    public static int main (string[] args) {
        return new ExampleApp ().run (args);
    }
}
