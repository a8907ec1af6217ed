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


WITNESS_TYPE = "(ua(tt)aya(syuuuttxxau))"
NOW_US = 4102444800000000   # 2100: the seeds stay recent (records 30 days old are dropped at load)


def witness(ops, endpoints, refusals, records):
    """A refusal ledger (ep-witness.c) after a u8 count and that many operation bytes."""
    v = GLib.Variant(WITNESS_TYPE, (1, endpoints, bytes(refusals), records))
    return bytes([len(ops)]) + bytes(ops) + v.get_data_as_bytes().get_data()


def witness_record(id, endpoint=0, refusals=1, specific=0, solo=0, confirmed_at=0, wrong_at=0,
                   first_us=NOW_US, last_us=NOW_US, links=()):
    return (id, endpoint, refusals, specific, solo, confirmed_at, wrong_at, first_us, last_us,
            list(links))


def witnesses():
    write("witness", "empty", witness([], [(0, 0), (0, 0)], [], []))
    # "a" and "b" refused together, then "b", "c", "d": refusals 0 and 1
    # shared; "a" refused alone once more, on its own.
    shared = [witness_record("a", refusals=2, specific=1, solo=1, links=[0]),
              witness_record("b", refusals=2, links=[0, 1]),
              witness_record("c", refusals=1, links=[1]),
              witness_record("d", refusals=1, links=[1])]
    write("witness", "shared", witness([], [(7, 0), (3, 1)], [0, 0], shared))
    # Operations: confirm "b" and "c" (from the ids list), refuse groups,
    # forget, a run of confirmations, on both endpoints.
    write("witness", "shared-ops", witness([0x10, 0x20, 0x03, 0x04, 0x15, 0x06, 0x0e, 0x31, 0x41, 0x07],
                                           [(7, 0), (3, 1)], [0, 0], shared))
    # A poison that the rule proves: 5 of its own, 60 confirmations since.
    poison = [witness_record("poison", refusals=6, specific=5, solo=6, confirmed_at=40, wrong_at=2)]
    write("witness", "poison", witness([0x01, 0x00], [(100, 2), (0, 0)], [], poison))
    # Behind a flaky consumer: many refusals proven wrong since.
    write("witness", "flaky", witness([0x06, 0x01], [(100, 40), (0, 0)], [],
                                      [witness_record("e", refusals=9, specific=5, solo=5,
                                                      confirmed_at=10, wrong_at=1)]))
    # The authenticated endpoint, a refusal shared by records of both
    # kinds of refusal, a record older than 30 days and one dated ahead.
    write("witness", "endpoints-ages", witness(
        [0x09, 0x19, 0x0b, 0x00],
        [(5, 0), (20, 3)], [1, 1],
        [witness_record("f", endpoint=1, refusals=3, specific=1, solo=1, confirmed_at=4, links=[0, 1]),
         witness_record("g", endpoint=1, refusals=1, confirmed_at=18, wrong_at=3, links=[1]),
         witness_record("old", refusals=1, solo=1, first_us=10**15,
                        last_us=10**15),
         witness_record("ahead", refusals=1, specific=1, solo=1, first_us=NOW_US + 10**12,
                        last_us=NOW_US + 10**12)]))
    # An event refused in the most requests a record keeps (16 links).
    write("witness", "max-links", witness(
        [0x03, 0x13, 0x23], [(0, 0), (0, 0)], [0] * 16,
        [witness_record("h", refusals=16, links=range(16))] +
        [witness_record("h%d" % i, refusals=1, links=[i]) for i in range(16)]))


if __name__ == "__main__":
    sqs_reply()
    records()
    events()
    consumer_requests()
    json_scans()
    restores()
    witnesses()
    sys.exit(0)
