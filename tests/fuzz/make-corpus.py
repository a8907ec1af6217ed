#!/usr/bin/python3
# make-corpus.py: writes the seed corpora of the fuzz targets (tests/fuzz/corpus/*)
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run from anywhere: /usr/bin/python3 tests/fuzz/make-corpus.py
# The seeds are small, valid or nearly valid inputs of each format; the
# fuzzers grow the corpora from them (commit what they find with
# `fuzz-X -merge=1 corpus/X new-dir`).
import os
import struct
import sys

import gi
gi.require_version("GLib", "2.0")
from gi.repository import GLib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def record(n, name="playback_session", payload=None):
    if payload is None:
        payload = '{"n":%d}' % n
    v = GLib.Variant("(xssss)", (1700000000000000 + n, "6f1c1d2e-8a3b-4c5d-9e6f-%012d" % n,
                                 name, '{"app-name":"demo","consent-category":"NECESSARY"}',
                                 payload))
    return v.get_data_as_bytes().get_data()


def segment_header(base_seq, flags=0):
    h = b"EPGQJRNL" + struct.pack("<IIQI", 1, flags, base_seq, 0)
    return h + struct.pack("<I", crc32c(h))


def frame(kind, payload, seq=0, count=0):
    h = struct.pack("<IHBBIIQI", 0x52515045, 1, kind, 0, len(payload), count, seq, crc32c(payload))
    h += struct.pack("<I", crc32c(h))
    return h + payload + b"\0" * ((8 - len(payload) % 8) % 8)


def event_frame(seq):
    r = record(seq)
    return frame(1, r, seq=seq, count=len(r))


def tombstone(seqs):
    return frame(2, b"".join(struct.pack("<Q", s) for s in seqs), count=len(seqs))


def image(files):
    out = b""
    for kind, data in files:
        out += struct.pack("<BH", kind, len(data)) + data
    return out


def sqs_reply():
    sqs = os.path.join(ROOT, "data", "sqs")
    for name in sorted(os.listdir(sqs)):
        if name.endswith((".xml", ".html")):
            body = open(os.path.join(sqs, name), "rb").read()
            status = 400 if name.startswith("error") else 502 if name.startswith("proxy") else 200
            write("sqs-reply", name, struct.pack("<H", status - 100) + b"\n" + body)
    write("sqs-reply", "503-retry-after", struct.pack("<H", 403) + b"120\n")
    write("sqs-reply", "429-retry-after-date", struct.pack("<H", 329) + b"Wed, 21 Oct 2026 07:28:00 GMT\n")


def records():
    write("record", "event", record(1))
    write("record", "empty-payload", record(2, payload=""))
    write("record", "unicode", record(3, name="caf\u00e9", payload='{"t":"\u2603"}'))


def events():
    write("event", "plain", b"playback_session")
    write("event", "headers", b"x-trace\x0042\x00app-name\x00mine\x00consent-category\x00TARGETING")
    write("event", "utf8", "caf\u00e9 \U0001F600".encode())
    write("event", "bad-xml-char", b"a\x01b\x00k\x00\xef\xbf\xbe")


def consumer_requests():
    form = ("SendMessageBatchRequestEntry.1.Id=a1&SendMessageBatchRequestEntry.1.MessageBody=%7B%7D"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=Name"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=e"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.2.Name=Headers"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.StringValue=%7B%7D"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.DataType=String")
    write("consumer-request", "query", b"\0" + form.encode())
    write("consumer-request", "query-action", b"\0Action=SendMessageBatch&Version=2012-11-05&" + form.encode())
    json_batch = (b'{"QueueUrl":"q","Entries":[{"Id":"a1","MessageBody":"{}",'
                  b'"MessageAttributes":{"Name":{"DataType":"String","StringValue":"e"}}}]}')
    write("consumer-request", "json", b"\1" + json_batch)
    # Text after the value: json-glib 1.6 read the first value and leaked the rest.
    write("consumer-request", "json-trailing-object", b"\1" + json_batch + b'{"Entries":[]}')
    write("consumer-request", "json-trailing-scalar", b"\1" + b"1{}")


def json_scans():
    write("json-scan", "empty", b"{}")
    write("json-scan", "stamped", b'{"uuid":"mine","ts":1700000000000,"c":[1,2.5e-3,-0]}')
    write("json-scan", "nested", b' {"a":{"b":[true,false,null,{"ts":"x"}]},"s":"\\u00e9\\ud83c\\udfb5\\n"} ')
    write("json-scan", "escaped-key", b'{"u\\u0075id":1,"\\u0074s":2}')
    write("json-scan", "utf8", '{"caf\u00e9":"\U0001F600"}'.encode())
    write("json-scan", "json-glib-only", b"{'a':01} /*c*/")
    write("json-scan", "array", b' [1,"a",{"b":null}] ')
    write("json-scan", "trailing", b'{"a":1}{"b":2}')


def restores():
    seg0 = segment_header(1) + b"".join(event_frame(s) for s in range(1, 6))
    write("restore", "one-segment", image([(0, seg0)]))
    seg1 = segment_header(6) + event_frame(6) + tombstone([2, 3]) + event_frame(7)
    write("restore", "two-segments-tombstone", image([(0, seg0), (1, seg1)]))
    compacted = segment_header(1, flags=1) + event_frame(4) + event_frame(5)
    write("restore", "compacted", image([(0, seg0), (1, compacted), (8, seg1)]))
    write("restore", "torn-tail", image([(0, seg0[:-13])]))


if __name__ == "__main__":
    sqs_reply()
    records()
    events()
    consumer_requests()
    json_scans()
    restores()
    sys.exit(0)
