// test-privacy.js: EpProducer:follow-desktop-privacy from GJS, against the build tree
//
// SPDX-FileCopyrightText: 2026 The ep-glib authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Run by meson (suite "introspection") as `gjs -m test-privacy.js` with
// GSETTINGS_SCHEMA_DIR pointing at the build tree's compiled copy of
// org.gnome.desktop.privacy and GSETTINGS_BACKEND=memory: real GSettings,
// changed by this process. The producers never reach a consumer. No sleeps:
// waits iterate the main context until a condition holds, with a timeout that
// fails the test. Prints TAP; exits 1 on failure.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Ep from 'gi://Ep?version=1.0';
import System from 'system';

const TMP = GLib.dir_make_tmp('ep-glib-gjsprivacy-XXXXXX');
for (const name of ['XDG_STATE_HOME', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME'])
    GLib.setenv(name, `${TMP}/${name.toLowerCase()}`, true);
GLib.setenv('GIO_USE_PROXY_RESOLVER', 'dummy', false);
GLib.setenv('GSETTINGS_BACKEND', 'memory', true);

const URI = 'http://127.0.0.1:9/api/event-batch'; // never contacted
const {PERFORMANCE, TARGETING, NECESSARY} = Ep.ConsentCategory;
const KEY = 'send-software-usage-stats';

function assert(condition, message) {
    if (!condition)
        throw new Error(`assertion failed: ${message}`);
}

function spinUntil(condition, what) {
    const deadline = GLib.get_monotonic_time() + 10 * 1000000;
    const context = GLib.MainContext.default();
    while (!condition()) {
        if (GLib.get_monotonic_time() > deadline)
            throw new Error(`timed out waiting for ${what}`);
        if (!context.iteration(false))
            GLib.usleep(1000);
    }
}

let n = 0;
function newProducer(props = {}) {
    const producer = new Ep.Producer({
        app_name: 'ep-gjsprivacy', app_version: '1.0',
        consumer_uri: URI, public_consumer_uri: URI,
        queue_dir: `${TMP}/queue-${n++}`,
        batch_interval: 3600 * 1000, monitoring_interval: 3600 * 1000,
        ...props,
    });
    producer.init(null);
    producer.set_consent_blocked(PERFORMANCE, false);
    producer.set_consent_blocked(TARGETING, false);
    return producer;
}

assert(GLib.getenv('GSETTINGS_SCHEMA_DIR') !== null, 'GSETTINGS_SCHEMA_DIR is set');
const settings = Gio.Settings.new('org.gnome.desktop.privacy');

const tests = {
    defaultFollowsLive() {
        settings.set_boolean(KEY, true);
        const producer = newProducer();
        assert(producer.follow_desktop_privacy === true, 'the default is TRUE');
        assert(producer.send_event('perf', PERFORMANCE, '{}', null) === Ep.SendResult.STORED, 'stored');
        assert(producer.send_event('need', NECESSARY, '{}', null) === Ep.SendResult.STORED, 'stored');
        settings.set_boolean(KEY, false);
        spinUntil(() => producer.get_consent_blocked(PERFORMANCE), 'PERFORMANCE blocked');
        assert(producer.get_consent_blocked(TARGETING), 'TARGETING blocked');
        assert(!producer.get_consent_blocked(NECESSARY), 'NECESSARY never');
        assert(producer.queue_length === 1, `queued PERFORMANCE deleted (${producer.queue_length})`);
        settings.set_boolean(KEY, true);
        spinUntil(() => !producer.get_consent_blocked(PERFORMANCE), 'PERFORMANCE unblocked');
    },
    appChoiceKept() {
        settings.set_boolean(KEY, true);
        const producer = newProducer();
        producer.set_consent_blocked(TARGETING, true);
        settings.set_boolean(KEY, false);
        spinUntil(() => producer.get_consent_blocked(PERFORMANCE), 'PERFORMANCE blocked');
        settings.set_boolean(KEY, true);
        spinUntil(() => !producer.get_consent_blocked(PERFORMANCE), 'PERFORMANCE unblocked');
        assert(producer.get_consent_blocked(TARGETING), 'the application\'s block stays');
    },
    notFollowed() {
        settings.set_boolean(KEY, true);
        const producer = newProducer({follow_desktop_privacy: false});
        const witness = newProducer();
        settings.set_boolean(KEY, false);
        spinUntil(() => witness.get_consent_blocked(PERFORMANCE), 'the witness blocked');
        assert(!producer.get_consent_blocked(PERFORMANCE), 'ignored with the property FALSE');
    },
};

const names = Object.keys(tests);
let failed = 0;
print(`1..${names.length}`);
for (const [i, name] of names.entries()) {
    try {
        tests[name]();
        print(`ok ${i + 1} - ${name}`);
    } catch (e) {
        failed++;
        print(`not ok ${i + 1} - ${name}`);
        for (const line of `${e}\n${e.stack ?? ''}`.trimEnd().split('\n'))
            print(`# ${line}`);
    }
}
System.gc();
GLib.spawn_sync(null, ['rm', '-rf', TMP], null, GLib.SpawnFlags.SEARCH_PATH, null);
System.exit(failed ? 1 : 0);
