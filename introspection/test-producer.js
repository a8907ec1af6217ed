// test-producer.js: the Ep-1.0 API from GJS, against the build tree
//
// SPDX-FileCopyrightText: 2026 The ep-glib authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Run by meson (suite "introspection") as `gjs -m test-producer.js` with
// GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the ep-glib build directory.
// The consumer is a small SoupServer inside this process that speaks SQS
// SendMessageBatch. No sleeps: every wait runs the main loop until a condition
// holds, with a timeout that fails the test. Prints TAP; exits 1 on failure.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Soup from 'gi://Soup?version=3.0';
import Ep from 'gi://Ep?version=1.0';
import System from 'system';

const SQS_NS = 'http://queue.amazonaws.com/doc/2012-11-05/';
const TIMEOUT_MS = 10000;

// Isolate the user directories before anything reads (and caches) them.
const TMP = GLib.dir_make_tmp('ep-glib-gjstest-XXXXXX');
for (const name of ['XDG_STATE_HOME', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME'])
    GLib.setenv(name, `${TMP}/${name.toLowerCase()}`, true);
// meson sets XDG_DATA_DIRS to an empty directory (GLib reads it before this
// runs): where GNOME's org.gnome.desktop.privacy is installed, its
// send-software-usage-stats default (false) would block PERFORMANCE and
// TARGETING (follow-desktop-privacy; test-privacy.js tests that).
GLib.setenv('GIO_USE_PROXY_RESOLVER', 'dummy', false);
GLib.setenv('GSETTINGS_BACKEND', 'memory', false);

Gio._promisify(Ep.Producer.prototype, 'flush_async', 'flush_finish');
Gio._promisify(Ep.Producer.prototype, 'purge_async', 'purge_finish');
Gio._promisify(Ep.Producer.prototype, 'close_async', 'close_finish');

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// A loopback SQS SendMessageBatch endpoint that confirms every entry, or
// fails every request with 503 while `failing` is set.
class FakeConsumer {
    constructor() {
        this.failing = false;
        this.events = [];
        this.encodings = []; // each request's Content-Encoding (null: none)
        this.server = new Soup.Server();
        for (const path of ['/api/event-batch', '/api/public/event-batch'])
            this.server.add_handler(path, this._handle.bind(this));
        this.server.listen_local(0, Soup.ServerListenOptions.IPV4_ONLY);
        this.base = `http://127.0.0.1:${this.server.get_uris()[0].get_port()}`;
        this.consumerUri = `${this.base}/api/event-batch`;
        this.publicConsumerUri = `${this.base}/api/public/event-batch`;
    }

    close() {
        this.server.disconnect();
    }

    appEvents() {
        return this.events.filter(e => e.name !== Ep.MONITORING_EVENT_NAME);
    }

    _reply(msg, status, body) {
        msg.set_status(status, null);
        msg.set_response('text/xml', Soup.MemoryUse.COPY, encoder.encode(body));
    }

    _handle(server, msg, path) {
        if (msg.get_method() !== 'POST')
            this._reply(msg, 405, errorXml('Sender', 'MethodNotAllowed'));
        else if (this.failing)
            this._reply(msg, 503, errorXml('Receiver', 'ServiceUnavailable'));
        else
            this._reply(msg, 200, this._confirm(msg, path));
    }

    _confirm(msg, path) {
        let bytes = msg.get_request_body().flatten();
        const encoding = msg.get_request_headers().get_one('Content-Encoding');
        this.encodings.push(encoding);
        if (encoding === 'gzip') {
            const decompressor = new Gio.ZlibDecompressor({format: Gio.ZlibCompressorFormat.GZIP});
            const stream = new Gio.ConverterInputStream({
                base_stream: Gio.MemoryInputStream.new_from_bytes(bytes),
                converter: decompressor,
            });
            const out = Gio.MemoryOutputStream.new_resizable();
            out.splice(stream, Gio.OutputStreamSpliceFlags.CLOSE_SOURCE |
                Gio.OutputStreamSpliceFlags.CLOSE_TARGET, null);
            bytes = out.steal_as_bytes();
        }
        const body = decoder.decode(bytes.get_data());
        const form = GLib.Uri.parse_params(body, -1, '&', GLib.UriParamsFlags.WWW_FORM);
        const entries = [];
        for (let n = 1; `SendMessageBatchRequestEntry.${n}.Id` in form; n++) {
            const p = `SendMessageBatchRequestEntry.${n}.`;
            const entry = {id: form[`${p}Id`], payload: form[`${p}MessageBody`], path};
            for (const a of [1, 2]) {
                const name = form[`${p}MessageAttribute.${a}.Name`].toLowerCase();
                entry[name] = form[`${p}MessageAttribute.${a}.Value.StringValue`];
            }
            entry.headers = JSON.parse(entry.headers);
            entries.push(entry);
        }
        this.events.push(...entries);
        const results = entries.map(e =>
            `<SendMessageBatchResultEntry><Id>${e.id}</Id>` +
            `<MessageId>${GLib.uuid_string_random()}</MessageId>` +
            `<MD5OfMessageBody>${GLib.compute_checksum_for_string(GLib.ChecksumType.MD5, e.payload, -1)}` +
            '</MD5OfMessageBody></SendMessageBatchResultEntry>').join('');
        return `<?xml version="1.0"?><SendMessageBatchResponse xmlns="${SQS_NS}">` +
            `<SendMessageBatchResult>${results}</SendMessageBatchResult>` +
            `<ResponseMetadata><RequestId>${GLib.uuid_string_random()}</RequestId>` +
            '</ResponseMetadata></SendMessageBatchResponse>';
    }
}

function errorXml(type, code) {
    return `<?xml version="1.0"?><ErrorResponse xmlns="${SQS_NS}"><Error><Type>${type}</Type>` +
        `<Code>${code}</Code><Message>injected by the test</Message><Detail/></Error>` +
        `<RequestId>${GLib.uuid_string_random()}</RequestId></ErrorResponse>`;
}

// Assertions ---------------------------------------------------------------

function assert(condition, message) {
    if (!condition)
        throw new Error(`assertion failed: ${message}`);
}

function assertEqual(actual, expected, what) {
    const a = JSON.stringify(actual), e = JSON.stringify(expected);
    if (a !== e)
        throw new Error(`${what}: expected ${e}, got ${a}`);
}

function assertEpError(error, code, what) {
    assert(error instanceof GLib.Error, `${what}: a GLib.Error, got ${error}`);
    assertEqual(error.domain, Ep.error_quark(), `${what}: error domain`);
    assertEqual(error.code, code, `${what}: error code (${error.message})`);
    assert(error.matches(Ep.error_quark(), code), `${what}: GError.matches`);
}

function assertThrowsEpError(func, code, what) {
    let caught = null;
    try {
        func();
    } catch (e) {
        caught = e;
    }
    assert(caught !== null, `${what}: no exception`);
    assertEpError(caught, code, what);
    return caught;
}

// Runs the main loop (the test's, already running) until condition() holds.
function runUntil(condition, what, timeoutMs = TIMEOUT_MS) {
    const deadline = GLib.get_monotonic_time() + timeoutMs * 1000;
    return new Promise((resolve, reject) => {
        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 5, () => {
            if (condition())
                resolve();
            else if (GLib.get_monotonic_time() >= deadline)
                reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
            else
                return GLib.SOURCE_CONTINUE;
            return GLib.SOURCE_REMOVE;
        });
    });
}

// Fixture ------------------------------------------------------------------

let consumer = null;
let queueDir = null;
let queueCount = 0;
let producers = [];

function newProducer(props = {}) {
    const producer = new Ep.Producer({
        app_name: 'ep-gjstest',
        app_version: '1.0',
        consumer_uri: consumer.consumerUri,
        public_consumer_uri: consumer.publicConsumerUri,
        queue_dir: queueDir,
        batch_interval: 100,
        request_timeout: 2000,
        monitoring_interval: 3600 * 1000,
        ...props,
    });
    producer.init(null);
    producers.push(producer);
    return producer;
}

async function flush(producer) {
    try {
        return [await producer.flush_async(null), null];
    } catch (e) {
        return [false, e];
    }
}

async function setUp() {
    consumer = new FakeConsumer();
    queueDir = `${TMP}/queue-${++queueCount}`;
    assertEqual(GLib.mkdir_with_parents(queueDir, 0o700), 0, `mkdir ${queueDir}`);
}

async function tearDown() {
    for (const producer of producers)
        assert(await producer.close_async(null), 'close_finish');
    producers = [];
    consumer.close();
}

// Tests --------------------------------------------------------------------

const tests = {
    async constructAndSend() {
        const producer = newProducer();
        assertEqual(producer.queue_length, 0, 'queue-length at start');
        assertEqual(producer.queueLength, 0, 'queueLength (camelCase) at start');
        assertEqual(producer.get_queue_dir(), queueDir, 'queue dir');
        assertEqual(producer.outage, false, 'outage at start');

        const lengths = [];
        producer.connect('notify::queue-length', p => lengths.push(p.queue_length));
        const result = producer.send_event('playback_session', Ep.ConsentCategory.NECESSARY,
            '{"trackId":42}', null);
        assertEqual(result, Ep.SendResult.STORED, 'send result');
        assertEqual(producer.get_queue_length(), 1, 'queue length after send');
        assert(producer.queue_bytes > 0, 'queue-bytes after send');
        await runUntil(() => lengths.includes(1), 'notify::queue-length');
    },

    async newUsesStateDir() {
        const producer = Ep.Producer.new('ep-gjstest-new', '2.0', consumer.consumerUri,
            consumer.publicConsumerUri);
        producers.push(producer);
        assertEqual(producer.get_queue_dir(), `${TMP}/xdg_state_home/ep-glib/ep-gjstest-new`,
            'default queue dir');
        assert(GLib.file_test(producer.get_queue_dir(), GLib.FileTest.IS_DIR), 'queue dir exists');
        assertEqual(producer.send_event('x', Ep.ConsentCategory.NECESSARY, '{}', null),
            Ep.SendResult.STORED, 'send result');
    },

    async consent() {
        const producer = newProducer();
        assertEqual(producer.get_consent_blocked(Ep.ConsentCategory.NECESSARY), false, 'NECESSARY blocked');
        assertEqual(producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE), true, 'PERFORMANCE blocked');
        assertEqual(producer.get_consent_blocked(Ep.ConsentCategory.TARGETING), true, 'TARGETING blocked');

        assertEqual(producer.send_event('perf', Ep.ConsentCategory.PERFORMANCE, '{}', null),
            Ep.SendResult.CONSENT_FILTERED, 'blocked send');
        assertEqual(producer.queue_length, 0, 'queue length after a blocked send');
        const counters = JSON.parse(producer.dup_counters_json());
        assertEqual(counters, {
            consentFilteredEvents: {perf: 1},
            validationFailedEvents: {},
            storingFailedEvents: {},
        }, 'counters');

        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, false);
        assertEqual(producer.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE), false, 'unblocked');
        assertEqual(producer.send_event('perf', Ep.ConsentCategory.PERFORMANCE, '{}', null),
            Ep.SendResult.STORED, 'unblocked send');
        assertEqual(producer.queue_length, 1, 'queue length after an unblocked send');

        const [consent] = producer.dup_counters().recursiveUnpack();
        assertEqual(consent, {perf: 1}, 'GVariant counters');
    },

    async persistConsent() {
        const first = newProducer({persist_consent: true});
        assertEqual(first.persist_consent, true, 'persist-consent');
        first.set_consent_blocked(Ep.ConsentCategory.TARGETING, false);
        consumer.failing = true;
        assertEqual(first.send_event('ad', Ep.ConsentCategory.TARGETING, '{}', null),
            Ep.SendResult.STORED, 'consented send');
        assert(await first.close_async(null), 'close_finish');
        producers.splice(producers.indexOf(first), 1);

        const second = newProducer({persist_consent: true});
        assertEqual(second.get_consent_blocked(Ep.ConsentCategory.TARGETING), false,
            'TARGETING restored unblocked');
        assertEqual(second.get_consent_blocked(Ep.ConsentCategory.PERFORMANCE), true,
            'PERFORMANCE still blocked');
        assertEqual(second.queue_length, 1, 'the consented event survived the restart');
        second.set_consent_blocked(Ep.ConsentCategory.TARGETING, true);
        assertEqual(second.queue_length, 0, 'revoked: deleted');
        assert(await second.close_async(null), 'close_finish');
        producers.splice(producers.indexOf(second), 1);

        const third = newProducer({persist_consent: true});
        assertEqual(third.get_consent_blocked(Ep.ConsentCategory.TARGETING), true,
            'TARGETING restored blocked');
    },

    async invalidConfig() {
        const error = assertThrowsEpError(() => newProducer({consumer_uri: 'api/event-batch'}),
            Ep.Error.INVALID_CONFIG, 'relative consumer-uri');
        assert(error.message.includes('consumer-uri'), `message names the property: ${error.message}`);
        assertThrowsEpError(() => Ep.Producer.new('ep-gjstest', '1.0', 'ftp://example.com/x',
            consumer.publicConsumerUri), Ep.Error.INVALID_CONFIG, 'ftp consumer-uri');
        assertThrowsEpError(() => newProducer({app_name: ''}), Ep.Error.INVALID_CONFIG,
            'empty app-name');
    },

    async queueLocked() {
        const first = newProducer();
        assertThrowsEpError(() => newProducer(), Ep.Error.QUEUE_LOCKED, 'second producer');
        producers = producers.filter(p => p !== first);
        assert(await first.close_async(null), 'close first');
        newProducer();
    },

    async compressRequests() {
        const producer = newProducer();
        assertEqual(producer.compress_requests, false, 'compress-requests default');
        producer.send_event('plain', Ep.ConsentCategory.NECESSARY, '{"n":1}', null);
        await flush(producer);
        assertEqual(JSON.stringify(consumer.encodings), '[null]', 'no Content-Encoding by default');
        producer.compress_requests = true;
        for (let n = 0; n < 10; n++)
            producer.send_event('zipped', Ep.ConsentCategory.NECESSARY, `{"n":${n}}`, null);
        await flush(producer);
        assert(consumer.encodings.slice(1).length > 0 &&
            consumer.encodings.slice(1).every(e => e === 'gzip'), `gzip: ${consumer.encodings}`);
        const got = consumer.appEvents().filter(e => e.name === 'zipped').map(e => JSON.parse(e.payload).n);
        assertEqual(JSON.stringify(got.sort((a, b) => a - b)), JSON.stringify([...Array(10).keys()]),
            'the ten gzip events');
    },

    async maxEventAge() {
        const unlimited = newProducer();
        assertEqual(unlimited.max_event_age, 0, 'max-event-age default');
        assert(!('expiredEvents' in JSON.parse(unlimited.dup_counters_json())),
            'no expiredEvents without max-event-age');
        producers = producers.filter(p => p !== unlimited);
        assert(await unlimited.close_async(null), 'close');
        const producer = newProducer({max_event_age: 30 * 24 * 3600});
        assertEqual(producer.max_event_age, 30 * 24 * 3600, 'max-event-age as constructed');
        assertEqual(JSON.stringify(JSON.parse(producer.dup_counters_json()).expiredEvents), '{}',
            'expiredEvents with max-event-age');
        producer.send_event('young', Ep.ConsentCategory.NECESSARY, '{}', null);
        const [ok, error] = await flush(producer);
        assert(ok, `flush: ${error}`);
        assertEqual(JSON.stringify(consumer.appEvents().map(e => e.name)), '["young"]',
            'a young event is delivered');
    },

    async headersAndDelivery() {
        const producer = newProducer();
        producer.set_consent_blocked(Ep.ConsentCategory.TARGETING, false);
        const payloads = [];
        for (let i = 0; i < 25; i++) {
            const payload = JSON.stringify({n: i});
            const category = i % 2 ? Ep.ConsentCategory.TARGETING : Ep.ConsentCategory.NECESSARY;
            payloads.push(payload);
            assertEqual(producer.send_event('seq', category, payload,
                {'x-seq': `${i}`, 'app-version': 'override'}), Ep.SendResult.STORED, `send ${i}`);
        }
        assertEqual(producer.queue_length, 25, 'queue length before flush');

        const [ok, error] = await flush(producer);
        assert(ok && error === null, `flush: ${error}`);
        assertEqual(producer.queue_length, 0, 'queue length after flush');
        assertEqual(producer.queue_bytes, 0, 'queue bytes after flush');

        const events = consumer.appEvents();
        assertEqual(events.map(e => e.payload).sort(), payloads.sort(), 'payloads delivered');
        assertEqual(new Set(events.map(e => e.id)).size, 25, 'distinct ids');
        for (const event of events) {
            assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(event.id),
                `a UUID v4 id: ${event.id}`);
            const n = JSON.parse(event.payload).n;
            assertEqual(event.path, '/api/public/event-batch', 'endpoint');
            assertEqual(event.name, 'seq', 'name');
            assertEqual(event.headers['x-seq'], `${n}`, 'caller header');
            assertEqual(event.headers['app-version'], 'override', 'caller header wins');
            assertEqual(event.headers['app-name'], 'ep-gjstest', 'default header');
            assertEqual(event.headers['consent-category'], n % 2 ? 'TARGETING' : 'NECESSARY',
                'consent-category header');
        }
    },

    async outage() {
        const producer = newProducer();
        const changes = [];
        const notified = [];
        producer.connect('outage-changed', (p, outage) => changes.push(outage));
        producer.connect('notify::outage', p => notified.push(p.outage));

        consumer.failing = true;
        for (let i = 0; i < 3; i++)
            producer.send_event('during-outage', Ep.ConsentCategory.NECESSARY, `{"i":${i}}`, null);
        let [ok, error] = await flush(producer);
        assert(!ok, 'flush fails while the consumer fails');
        assertEpError(error, Ep.Error.DELIVERY, 'failed flush');
        await runUntil(() => changes.length === 1, 'outage-changed(true)');
        assertEqual(changes, [true], 'outage-changed');
        assertEqual(producer.outage, true, 'outage property');
        assert(notified.includes(true), 'notify::outage');
        assertEqual(producer.queue_length, 3, 'events kept');
        assertEqual(producer.outage_reason, Ep.OutageReason.HTTP_ERROR, 'outage-reason');
        assertEqual(producer.get_outage_reason(), Ep.OutageReason.HTTP_ERROR, 'get_outage_reason');
        assert(producer.last_error.includes('HTTP'), `last-error: ${producer.last_error}`);
        assertEqual(producer.dup_last_error(), producer.last_error, 'dup_last_error');

        consumer.failing = false;
        [ok, error] = await flush(producer);
        assert(ok && error === null, `flush after recovery: ${error}`);
        await runUntil(() => changes.length === 2, 'outage-changed(false)');
        assertEqual(changes, [true, false], 'outage-changed');
        assertEqual(producer.outage, false, 'outage property');
        assertEqual(notified[notified.length - 1], false, 'notify::outage');
        assertEqual(producer.outage_reason, Ep.OutageReason.NONE, 'outage-reason after recovery');
        assertEqual(producer.last_error, null, 'last-error after recovery');
        assertEqual(producer.queue_length, 0, 'queue drained');
        assertEqual(consumer.appEvents().length, 3, 'events delivered');
    },

    async eventsSettled() {
        const producer = newProducer();
        const settled = new Map();
        producer.connect('events-settled', (p, ids, outcome) => {
            for (const id of ids)
                settled.set(id, outcome);
        });
        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, false);
        const delivered = [];
        for (let i = 0; i < 12; i++) {
            const [result, id] = producer.send_event_full('settled', Ep.ConsentCategory.NECESSARY,
                '{}', null);
            assertEqual(result, Ep.SendResult.STORED, 'send result');
            delivered.push(id);
        }
        const [, revoked] = producer.send_event_full('revoked', Ep.ConsentCategory.PERFORMANCE,
            '{}', null);
        producer.set_consent_blocked(Ep.ConsentCategory.PERFORMANCE, true);
        const [ok, error] = await flush(producer);
        assert(ok && error === null, `flush: ${error}`);
        await runUntil(() => settled.size === 13, 'events-settled for 13 events');
        for (const id of delivered)
            assertEqual(settled.get(id), Ep.EventOutcome.DELIVERED, `outcome of ${id}`);
        assertEqual(settled.get(revoked), Ep.EventOutcome.CONSENT_REVOKED, 'revoked outcome');
    },

    async purge() {
        const producer = newProducer();
        const purged = new Set();
        producer.connect('events-settled', (p, ids, outcome) => {
            if (outcome === Ep.EventOutcome.PURGED)
                ids.forEach(id => purged.add(id));
        });
        consumer.failing = true;
        const ids = [];
        for (let i = 0; i < 4; i++)
            ids.push(producer.send_event_full('purged', Ep.ConsentCategory.NECESSARY, '{}', null)[1]);
        assertEqual(await producer.purge_async(null), 4, 'purge_finish');
        assertEqual(producer.queue_length, 0, 'queue length after purge');
        await runUntil(() => ids.every(id => purged.has(id)), 'events-settled PURGED');
        consumer.failing = false;
        const [ok, error] = await flush(producer);
        assert(ok && error === null, `flush: ${error}`);
        assertEqual(consumer.appEvents().length, 0, 'nothing delivered');
    },

    async deliveryByTimer() {
        const producer = newProducer();
        producer.send_event('timed', Ep.ConsentCategory.NECESSARY, '{}', null);
        await runUntil(() => producer.queue_length === 0 && consumer.appEvents().length === 1,
            'the batch-interval timer to deliver');
    },
};

async function main() {
    const names = Object.keys(tests);
    let failed = 0;
    print(`1..${names.length}`);
    for (const [i, name] of names.entries()) {
        try {
            await setUp();
            try {
                await tests[name]();
            } finally {
                await tearDown();
            }
            print(`ok ${i + 1} - ${name}`);
        } catch (e) {
            failed++;
            print(`not ok ${i + 1} - ${name}`);
            for (const line of `${e}\n${e.stack ?? ''}`.trimEnd().split('\n'))
                print(`# ${line}`);
        }
    }
    return failed;
}

const loop = new GLib.MainLoop(null, false);
let status = 1;
GLib.timeout_add_seconds(GLib.PRIORITY_DEFAULT, 120, () => {
    print('Bail out! the whole test took over 120 s');
    System.exit(1);
});
main().then(failed => {
    status = failed ? 1 : 0;
}).catch(e => {
    print(`Bail out! ${e}`);
}).finally(() => loop.quit());
loop.run();
// Let the producers' wrappers go (each saves its counters on dispose) before
// their directories do.
producers = [];
System.gc();
GLib.spawn_sync(null, ['rm', '-rf', TMP], null, GLib.SpawnFlags.SEARCH_PATH, null);
System.exit(status);
