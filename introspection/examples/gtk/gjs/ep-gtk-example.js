// ep-gtk-example.js: a GTK 4 / libadwaita application that sends analytics events with ep-glib, in GJS
//
// SPDX-FileCopyrightText: 2026 The ep-glib authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The twin of ../c/ep-gtk-example.c (see there for the why): the producer is
// made in startup (the primary instance only), an init error means
// "analytics off", a banner (a Gtk.Revealer: libadwaita 1.2 has no
// Adw.Banner) is bound to the producer's `outage` and says why from
// `outage-reason`, and the "Send event" button activates the app.send-event
// action.
//
//   gjs -m ep-gtk-example.js --consumer http://127.0.0.1:8080

import Adw from 'gi://Adw?version=1';
import Ep from 'gi://Ep?version=1.0';
import Gio from 'gi://Gio';
import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import Gtk from 'gi://Gtk?version=4.0';
import System from 'system';

// flush_async() as a method returning a Promise (flush_finish() is called for us).
Gio._promisify(Ep.Producer.prototype, 'flush_async', 'flush_finish');

const APP_ID = 'org.example.EpGtk.Gjs';
const DEFAULT_CONSUMER = 'http://127.0.0.1:8080';
// What the banner says, by Ep.Producer:outage-reason.
const BANNER_TEXTS = {
    [Ep.OutageReason.UNREACHABLE]:
        'The analytics server cannot be reached. Events are kept and sent later.',
    [Ep.OutageReason.HTTP_ERROR]:
        'The analytics server reports an error. Events are kept and sent later.',
    [Ep.OutageReason.CREDENTIALS]:
        'The analytics server refused the credentials. Events are kept until it accepts them.',
    [Ep.OutageReason.STORAGE]:
        'Analytics events cannot be saved (disk full or failing). New ones are dropped.',
    [Ep.OutageReason.OFFLINE]:
        'Offline. Analytics events are kept and sent when the network is back.',
};
const DEFAULT_BANNER_TEXT = 'Analytics are not being delivered. They are kept and sent later.';

const ExampleApp = GObject.registerClass(
class ExampleApp extends Adw.Application {
    _init() {
        super._init({application_id: APP_ID, flags: Gio.ApplicationFlags.DEFAULT_FLAGS});
        this._consumer = DEFAULT_CONSUMER;
        this._producer = null;     // null when analytics are off
        this._offReason = null;
        this._status = null;
        this._sent = 0;
        this.add_main_option('consumer', 0, GLib.OptionFlags.NONE, GLib.OptionArg.STRING,
            `The consumer's base URL (default ${DEFAULT_CONSUMER})`, 'URL');
    }

    vfunc_handle_local_options(options) {
        const consumer = options.lookup_value('consumer', new GLib.VariantType('s'));
        if (consumer !== null)
            this._consumer = consumer.get_string()[0];
        return -1;   // go on: register, startup (primary only), activate
    }

    vfunc_startup() {
        super.vfunc_startup();
        // Startup runs once, in the primary instance only. Construct
        // properties in the constructor's object, then init().
        try {
            const producer = new Ep.Producer({
                app_name: 'ep-gtk-example-gjs', app_version: '1.0',
                consumer_uri: `${this._consumer}/api/event-batch`,
                public_consumer_uri: `${this._consumer}/api/public/event-batch`,
            });
            producer.init(null);
            this._producer = producer;
            print(`analytics on: queue ${producer.queue_dir}`);
        } catch (e) {
            // Analytics off; the app itself works as before.
            this._offReason = e.message;
            print(`analytics off: ${e.message}`);
        }

        const actions = {
            'send-event': () => this._sendEvent(),
            'flush': () => this._flush(),
            'quit': () => this.quit(),
        };
        for (const [name, callback] of Object.entries(actions)) {
            const action = new Gio.SimpleAction({name});
            action.connect('activate', callback);
            this.add_action(action);
        }
        this.lookup_action('send-event').enabled = this._producer !== null;
        this.set_accels_for_action('app.quit', ['<Control>q']);
    }

    vfunc_shutdown() {
        // The queued events stay on disk; the next run delivers them.
        this._producer = null;
        super.vfunc_shutdown();
    }

    _setStatus(text) {
        if (this._status !== null)
            this._status.label = text;
        print(`status: ${text}`);
    }

    _sendEvent() {
        if (this._producer === null)
            return;
        const [result, id] = this._producer.send_event_full('button_pressed',
            Ep.ConsentCategory.NECESSARY, `{"button":"send","count":${this._sent + 1}}`, null);
        this._sent++;
        const name = Object.keys(Ep.SendResult).find(key => Ep.SendResult[key] === result);
        print(`sent: ${name.toLowerCase().replace(/_/g, '-')} ${id ?? '-'}`);
        this._setStatus(`Events sent: ${this._sent}`);
    }

    async _flush() {
        if (this._producer === null)
            return;
        this.hold();
        try {
            await this._producer.flush_async(null);
            print('flush: delivered');
        } catch (e) {
            // Not a failure of the app: the events stay queued and go later.
            // The banner shows the outage meanwhile.
            print(`flush: not delivered yet: ${e.message}`);
        } finally {
            this.release();
        }
    }

    _makeBanner() {
        const banner = new Gtk.Revealer({transition_type: Gtk.RevealerTransitionType.SLIDE_DOWN});
        const box = new Gtk.Box({spacing: 12, css_classes: ['toolbar']});
        const label = new Gtk.Label({
            label: DEFAULT_BANNER_TEXT, wrap: true, hexpand: true, xalign: 0,
            css_classes: ['warning'],
        });
        box.append(label);
        box.append(new Gtk.Button({label: 'Retry', action_name: 'app.flush'}));
        banner.child = box;
        banner.connect('notify::reveal-child',
            () => print(`banner: ${banner.reveal_child ? 'shown' : 'hidden'}`));
        if (this._producer !== null) {
            // outage-reason is notified before outage changes, so the text
            // is right when the banner slides in.
            this._producer.connect('notify::outage-reason', producer => this._onReason(producer, label));
            this._onReason(this._producer, label);
            this._producer.bind_property('outage', banner, 'reveal-child',
                GObject.BindingFlags.SYNC_CREATE);
        }
        return banner;
    }

    _onReason(producer, label) {
        const reason = producer.outage_reason, detail = producer.last_error;
        label.label = BANNER_TEXTS[reason] ?? DEFAULT_BANNER_TEXT;
        label.tooltip_text = detail;
        const name = Object.keys(Ep.OutageReason).find(key => Ep.OutageReason[key] === reason);
        print(`reason: ${name.toLowerCase().replace(/_/g, '-')} (${detail ?? 'no error'})`);
    }

    vfunc_activate() {
        let window = this.get_active_window();
        if (window !== null) {
            // A second launch of the app ends up here, in the first instance.
            window.present();
            print('window: presented again');
            return;
        }

        window = new Adw.ApplicationWindow({
            application: this, title: 'ep-glib GTK example (GJS)',
            default_width: 480, default_height: 300,
        });
        const content = new Gtk.Box({orientation: Gtk.Orientation.VERTICAL});
        content.append(new Adw.HeaderBar());
        content.append(this._makeBanner());
        const page = new Gtk.Box({
            orientation: Gtk.Orientation.VERTICAL, spacing: 18, vexpand: true,
            valign: Gtk.Align.CENTER, halign: Gtk.Align.CENTER,
        });
        this._status = this._producer !== null
            ? new Gtk.Label({label: 'No events sent yet'})
            : new Gtk.Label({label: `Analytics off: ${this._offReason}`, wrap: true});
        page.append(this._status);
        page.append(new Gtk.Button({
            label: 'Send event', action_name: 'app.send-event',
            css_classes: ['suggested-action', 'pill'],
        }));
        content.append(page);
        window.content = content;
        window.present();
        print('window: shown');
    }
});

const status = new ExampleApp().run([System.programInvocationName, ...ARGV]);
System.exit(status);
