// example-app.js: an application sending a stream of events with ep-glib, in GJS
//
// SPDX-FileCopyrightText: 2026 The ep-glib authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The twin of example-app.c: sends --events events at --rate per second,
// cycling through the three consent categories, unblocks PERFORMANCE half way
// (TARGETING stays blocked), prints outage-changed and queue-length changes,
// then flushes and prints the totals. From the build tree:
//
//   GI_TYPELIB_PATH=_build/ep-glib LD_LIBRARY_PATH=_build/ep-glib \
//     gjs -m introspection/examples/example-app.js --consumer http://127.0.0.1:8080

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Ep from 'gi://Ep?version=1.0';
import System from 'system';

Gio._promisify(Ep.Producer.prototype, 'flush_async', 'flush_finish');
Gio._promisify(Ep.Producer.prototype, 'close_async', 'close_finish');

const QUEUE_PRINT_INTERVAL_MS = 500;
const CATEGORY_NAMES = ['NECESSARY', 'PERFORMANCE', 'TARGETING'];
// One event type per category, so the counters show each.
const EVENT_NAMES = ['playback_session', 'ui_timing', 'ad_impression'];

const USAGE = `Usage: gjs -m example-app.js --consumer URL [--queue-dir DIR] [--events N]
       [--rate R] [--batch-interval MS] [--drain-timeout S] [--stored-file FILE]`;

function parseArgs(argv) {
    const options = {
        consumer: null, queueDir: null, events: 100, rate: 20,
        batchInterval: 500, drainTimeout: 30, storedFile: null,
    };
    const names = {
        '--consumer': ['consumer', String], '--queue-dir': ['queueDir', String],
        '--events': ['events', Number], '--rate': ['rate', Number],
        '--batch-interval': ['batchInterval', Number], '--drain-timeout': ['drainTimeout', Number],
        '--stored-file': ['storedFile', String],
    };
    for (let i = 0; i < argv.length; i++) {
        let [flag, value] = argv[i].split(/=(.*)/s);
        if (!(flag in names))
            throw new Error(`unknown option ${flag}\n${USAGE}`);
        if (value === undefined)
            value = argv[++i];
        if (value === undefined)
            throw new Error(`${flag} needs a value\n${USAGE}`);
        const [key, type] = names[flag];
        options[key] = type(value);
    }
    if (!options.consumer || !(options.events >= 0) || !(options.rate > 0) ||
        !(options.batchInterval > 0))
        throw new Error(`--consumer URL is required; --events, --rate and --batch-interval must be positive\n${USAGE}`);
    return options;
}

class App {
    constructor(options) {
        this.options = options;
        this.sent = 0;
        this.results = new Map(Object.values(Ep.SendResult)
            .filter(v => typeof v === 'number').map(v => [v, 0]));
        this.storedIds = [];
        const base = options.consumer.replace(/\/+$/, '');
        // Properties, then init(): GJS's form of g_initable_new().
        this.producer = new Ep.Producer({
            app_name: 'ep-example-gjs',
            app_version: '1.0',
            consumer_uri: `${base}/api/event-batch`,
            public_consumer_uri: `${base}/api/public/event-batch`,
            queue_dir: options.queueDir,
            batch_interval: options.batchInterval,
            request_timeout: 2000,
        });
        this.producer.init(null); // throws GLib.Error (Ep.Error domain)
        this.initialLength = this.printedLength = this.producer.queue_length;
        this.producer.connect('outage-changed', (producer, outage) => {
            print(`outage-changed: ${outage ? 'TRUE' : 'FALSE'} (queue-length ${producer.queue_length})`);
        });
    }

    printQueueLength() {
        const length = this.producer.queue_length;
        if (length !== this.printedLength) {
            print(`queue-length: ${length}`);
            this.printedLength = length;
        }
        return GLib.SOURCE_CONTINUE;
    }

    sendOne() {
        const category = this.sent % 3;
        const payload = JSON.stringify({seq: this.sent, category: CATEGORY_NAMES[category]});
        const [result, id] = this.producer.send_event_full(EVENT_NAMES[category], category,
            payload, {'x-example-lang': 'gjs'});
        this.results.set(result, this.results.get(result) + 1);
        this.sent++;
        if (result === Ep.SendResult.STORED)
            this.storedIds.push(id);
        if (this.sent === Math.floor(this.options.events / 2)) {
            this.producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, false);
            if (this.producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE))
                print(`consent: the app unblocked PERFORMANCE after ${this.sent} events, but the desktop's ` +
                      'privacy setting (org.gnome.desktop.privacy send-software-usage-stats) keeps it ' +
                      'blocked: see follow-desktop-privacy');
            else
                print(`consent: PERFORMANCE unblocked after ${this.sent} events (TARGETING stays blocked)`);
        }
    }

    sendAll() {
        const start = GLib.get_monotonic_time();
        return new Promise(resolve => {
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, Math.max(1, Math.floor(1000 / this.options.rate)), () => {
                const elapsed = (GLib.get_monotonic_time() - start) / 1e6;
                const due = Math.min(this.options.events, Math.floor(elapsed * this.options.rate) + 1);
                while (this.sent < due)
                    this.sendOne();
                if (this.sent < this.options.events)
                    return GLib.SOURCE_CONTINUE;
                resolve();
                return GLib.SOURCE_REMOVE;
            });
        });
    }

    async drain() {
        const deadline = GLib.get_monotonic_time() + this.options.drainTimeout * 1e6;
        for (;;) {
            try {
                await this.producer.flush_async(null);
                print('flush: queue empty');
                return true;
            } catch (e) {
                if (GLib.get_monotonic_time() >= deadline) {
                    print(`flush: gave up after ${this.options.drainTimeout} s: ${e.message}`);
                    return false;
                }
                print(`flush: ${e.message}; retrying`);
                await new Promise(resolve => GLib.timeout_add(GLib.PRIORITY_DEFAULT, 500, () => {
                    resolve();
                    return GLib.SOURCE_REMOVE;
                }));
            }
        }
    }

    printTotals() {
        const left = this.producer.queue_length;
        const stored = this.results.get(Ep.SendResult.STORED);
        print(`totals: sent ${this.sent}, stored ${stored}, delivered ${this.initialLength + stored - left}, still queued ${left}`);
        print(`dropped: consent-filtered ${this.results.get(Ep.SendResult.CONSENT_FILTERED)}, ` +
            `validation-failed ${this.results.get(Ep.SendResult.VALIDATION_FAILED)}, ` +
            `storing-failed ${this.results.get(Ep.SendResult.STORING_FAILED)}`);
        print(`counters: ${this.producer.dup_counters_json()}`);
    }

    writeStoredRefs() {
        if (!this.options.storedFile || this.storedIds.length === 0)
            return;
        const file = Gio.File.new_for_path(this.options.storedFile);
        const stream = file.append_to(Gio.FileCreateFlags.NONE, null);
        stream.write_all(new TextEncoder().encode(this.storedIds.map(r => `${r}\n`).join('')), null);
        stream.close(null);
    }

    async run() {
        print(`example-app (GJS): ${this.options.events} events at ${this.options.rate}/s to ` +
            `${this.options.consumer}, queue ${this.producer.get_queue_dir()} ` +
            `(${this.initialLength} events left from before)`);
        const printer = GLib.timeout_add(GLib.PRIORITY_DEFAULT, QUEUE_PRINT_INTERVAL_MS,
            () => this.printQueueLength());
        await this.sendAll();
        this.writeStoredRefs();
        print(`sent all ${this.sent} events; flushing`);
        const drained = await this.drain();
        GLib.source_remove(printer);
        this.printQueueLength();
        this.printTotals();
        await this.producer.close_async(null);
        return drained ? 0 : 1;
    }
}

let status = 1;
const loop = new GLib.MainLoop(null, false);
try {
    const app = new App(parseArgs(ARGV));
    app.run().then(s => {
        status = s;
    }).catch(e => {
        printerr(`example-app: ${e.message}`);
    }).finally(() => loop.quit());
    loop.run();
} catch (e) {
    printerr(e instanceof GLib.Error ? `Cannot create the producer: ${e.message}` : e.message);
    status = e instanceof GLib.Error ? 1 : 2;
}
System.exit(status);
