/* test-producer.vala: ep-glib from Vala, through ep-glib-1.0.vapi
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A small Vala program against the generated bindings: the version
 * functions, a producer built from construct properties, events delivered
 * with an async flush to an SQS consumer in this process (a Soup.Server on
 * loopback), the outage-changed signal through an unreachable consumer, and
 * the Ep.Error domain. Exits 0 on success; a failed check aborts.
 */

const string SQS_NS = "http://queue.amazonaws.com/doc/2012-11-05/";

/* Confirms every entry of each SendMessageBatch request, as SQS does. */
class FakeConsumer : Object {
    public Soup.Server server = (Soup.Server) Object.new (typeof (Soup.Server));
    public GenericArray<string> ids = new GenericArray<string> ();
    public string uri;

    public FakeConsumer () throws Error {
        server.add_handler (null, handle);
        server.listen_local (0, Soup.ServerListenOptions.IPV4_ONLY);
        uri = server.get_uris ().data.to_string ();
    }

    void handle (Soup.Server srv, Soup.ServerMessage msg, string path, HashTable<string,string>? query) {
        var body = msg.get_request_body ().flatten ();
        var form = Soup.Form.decode ((string) body.get_data ());
        var reply = new StringBuilder ("<SendMessageBatchResponse xmlns=\"%s\"><SendMessageBatchResult>".printf (SQS_NS));

        for (int n = 1; form.contains ("SendMessageBatchRequestEntry.%d.Id".printf (n)); n++) {
            string id = form["SendMessageBatchRequestEntry.%d.Id".printf (n)];
            string message = form["SendMessageBatchRequestEntry.%d.MessageBody".printf (n)];
            ids.add (id);
            reply.append ("<SendMessageBatchResultEntry><Id>%s</Id><MessageId>%s</MessageId>".printf (id, Uuid.string_random ()));
            reply.append ("<MD5OfMessageBody>%s</MD5OfMessageBody></SendMessageBatchResultEntry>".printf (
                Checksum.compute_for_string (ChecksumType.MD5, message)));
        }
        reply.append ("</SendMessageBatchResult><ResponseMetadata><RequestId>%s</RequestId>".printf (Uuid.string_random ()));
        reply.append ("</ResponseMetadata></SendMessageBatchResponse>");
        msg.set_status (200, null);
        msg.set_response ("text/xml", Soup.MemoryUse.COPY, reply.str.data);
    }
}

void remove_tree (File dir) throws Error {
    var children = dir.enumerate_children (FileAttribute.STANDARD_NAME + "," + FileAttribute.STANDARD_TYPE,
                                           FileQueryInfoFlags.NOFOLLOW_SYMLINKS);
    FileInfo? info;
    while ((info = children.next_file ()) != null) {
        var child = dir.get_child (info.get_name ());
        if (info.get_file_type () == FileType.DIRECTORY)
            remove_tree (child);
        else
            child.delete ();
    }
    dir.delete ();
}

Ep.Producer new_producer (string consumer_uri, string queue_dir) throws Error {
    var producer = (Ep.Producer) Object.new (typeof (Ep.Producer),
        "app-name", "vala-test",
        "app-version", "1.0",
        "consumer-uri", consumer_uri,
        "public-consumer-uri", consumer_uri,
        "queue-dir", queue_dir,
        "batch-interval", 3600000u,
        "request-timeout", 5000u);
    producer.init (null);
    return producer;
}

void test_version () {
    assert (Ep.get_major_version () == Ep.MAJOR_VERSION);
    assert (Ep.get_minor_version () == Ep.MINOR_VERSION);
    assert (Ep.get_micro_version () == Ep.MICRO_VERSION);
    assert (Ep.check_version (0, 1, 0));
    assert (!Ep.check_version (Ep.MAJOR_VERSION + 1, 0, 0));
    assert ("%u.%u.%u".printf (Ep.get_major_version (), Ep.get_minor_version (),
                               Ep.get_micro_version ()) == Ep.VERSION_S);
}

async void test_delivery (string queue_dir) throws Error {
    var consumer = new FakeConsumer ();
    var producer = new_producer (consumer.uri + "api/event-batch", queue_dir);
    var headers = new HashTable<string,string> (str_hash, str_equal);
    headers["x-language"] = "vala";

    assert (producer.queue_dir == queue_dir);
    assert (producer.get_consent_blocked (Ep.ConsentCategory.PERFORMANCE));
    producer.set_consent_blocked (Ep.ConsentCategory.PERFORMANCE, false);

    string? id;
    assert (producer.send_event_full ("vala_event", Ep.ConsentCategory.NECESSARY, "{\"n\":1}", headers, out id)
            == Ep.SendResult.STORED);
    assert (id != null);
    assert (producer.send_event ("vala_event", Ep.ConsentCategory.PERFORMANCE, "{\"n\":2}", null)
            == Ep.SendResult.STORED);
    assert (producer.send_event ("vala_event", Ep.ConsentCategory.TARGETING, "{\"n\":3}", null)
            == Ep.SendResult.CONSENT_FILTERED);
    assert (producer.send_event ("", Ep.ConsentCategory.NECESSARY, "{}", null) == Ep.SendResult.VALIDATION_FAILED);
    assert (producer.queue_length == 2);

    /* A second producer on the same directory: the Ep.Error domain. */
    try {
        new_producer (consumer.uri, queue_dir);
        assert_not_reached ();
    } catch (Ep.Error.QUEUE_LOCKED e) {
        assert (e.domain == Ep.Error.quark ());
    }

    bool flushed = yield producer.flush_async (null);
    assert (flushed);
    assert (producer.queue_length == 0);
    assert (consumer.ids.length == 2);
    assert (consumer.ids[0] == id);

    /* The counters, as JSON: the filtered and the invalid event. */
    var counters = producer.dup_counters_json ();
    assert ("consentFilteredEvents" in counters && "vala_event" in counters);

    yield producer.close_async (null);
}

async void test_outage (string queue_dir) throws Error {
    /* A port nobody listens on: the flush fails and the outage starts. */
    var socket = new Socket (SocketFamily.IPV4, SocketType.STREAM, SocketProtocol.TCP);
    socket.bind (new InetSocketAddress (new InetAddress.loopback (SocketFamily.IPV4), 0), true);
    var address = (InetSocketAddress) socket.get_local_address ();
    var uri = "http://127.0.0.1:%u/api/event-batch".printf (address.get_port ());
    socket.close ();

    var producer = new_producer (uri, queue_dir);
    bool? outage = null;
    producer.outage_changed.connect ((p, value) => { outage = value; });
    producer.send_event ("vala_event", Ep.ConsentCategory.NECESSARY, "{}", null);
    try {
        yield producer.flush_async (null);
        assert_not_reached ();
    } catch (Error e) {
        /* The flush reports the failure; the event stays queued. */
    }
    assert (producer.queue_length == 1);
    while (outage == null)
        MainContext.default ().iteration (true);
    assert (outage == true && producer.outage);
    yield producer.close_async (null);
}

int main () {
    var loop = new MainLoop ();
    Error? failure = null;
    string tmp;

    test_version ();
    try {
        tmp = DirUtils.make_tmp ("ep-vala-XXXXXX");
    } catch (Error e) {
        error ("%s", e.message);
    }
    run.begin (tmp, (obj, res) => {
        try {
            run.end (res);
        } catch (Error e) {
            failure = e;
        }
        loop.quit ();
    });
    loop.run ();
    try {
        remove_tree (File.new_for_path (tmp));
    } catch (Error e) {
        warning ("cannot remove %s: %s", tmp, e.message);
    }
    if (failure != null) {
        printerr ("FAIL: %s\n", failure.message);
        return 1;
    }
    print ("ok: ep-glib %s from Vala\n", Ep.VERSION_S);
    return 0;
}

async void run (string tmp) throws Error {
    yield test_delivery (Path.build_filename (tmp, "delivery"));
    yield test_outage (Path.build_filename (tmp, "outage"));
}
