#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a hostile client can cost tools/ep-consumer: memory, time, connections.

Usage: test-consumer-limits.py PATH-TO-ep-consumer [unittest options]

Each test starts its own ep-consumer (test-consumer.py's Consumer) and reads
its peak resident size (VmHWM in /proc/PID/status), which must stay under
64 MiB whatever the client sends: 512 MiB bodies, declared or chunked; 2,000
idle connections; a client that sends a byte now and then.
"""

import gzip
import importlib.util
import os
import urllib.parse
import zlib
import resource
import select
import socket
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("test_consumer",
                                              os.path.join(HERE, "test-consumer.py"))
tc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tc)

MiB = 1024 * 1024
RSS_LIMIT_KB = 64 * 1024
STREAM_BYTES = 512 * MiB
IDLE_CONNECTIONS = 2000
FORM = "application/x-www-form-urlencoded"


def gzip_zeros(total):
    """gzip of `total` zero bytes, compressed by streaming (never held whole)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(total // MiB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def raise_nofile(wanted):
    """The soft limit on descriptors up to the hard limit, as far as wanted."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def read_reply(sock, timeout):
    """The bytes the server sends until it closes the connection."""
    deadline = time.monotonic() + timeout
    data = b""
    sock.setblocking(False)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the connection was not closed within %.0f s (read %r)"
                                 % (timeout, data[:200]))
        if not select.select([sock], [], [], left)[0]:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def stream_body(port, chunked, total=STREAM_BYTES, timeout=120.0):
    """POSTs a body of total bytes, declared or chunked, stopping as soon as
    the server answers. -> (bytes of body sent, the reply's bytes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = ("POST /api/event-batch HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\n"
            % (port, FORM)).encode()
    if chunked:
        head += b"Transfer-Encoding: chunked\r\n\r\n"
    else:
        head += b"Content-Length: %d\r\n\r\n" % total
    sock.sendall(head)
    block = b"x" * 65536
    piece = (b"%x\r\n" % len(block)) + block + b"\r\n" if chunked else block
    sent = 0
    pending = b""
    reply = b""
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    try:
        while sent < total:
            if time.monotonic() > deadline:
                raise AssertionError("streaming did not end within %.0f s (%d bytes sent)"
                                     % (timeout, sent))
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                chunk = sock.recv(65536)
                reply += chunk
                if not chunk or b"\r\n\r\n" in reply:
                    break
            if writable:
                if not pending:
                    pending = piece
                n = sock.send(pending)
                pending = pending[n:]
                if not pending:
                    sent += len(block)
        else:
            if chunked:
                sock.setblocking(True)
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        reply += read_reply(sock, 30.0)
    finally:
        sock.close()
    return sent, reply


def status_of(reply):
    line = reply.split(b"\r\n", 1)[0]
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise AssertionError("not an HTTP reply: %r" % reply[:200])
    return int(parts[1])


def stats(consumer):
    """/control/stats, waiting longer than test-consumer.py does: the request
    queues behind every connection accepted before it (slow under ASan)."""
    r = tc.http(consumer.url + "/control/stats", timeout=120)
    assert r.status == 200, r
    return r.json()


def is_asan(consumer):
    """ep-consumer built with AddressSanitizer: its memory is not comparable"""
    with open("/proc/%d/maps" % consumer.proc.pid) as f:
        return "libasan" in f.read()


def normal_batch(consumer, case):
    entries = [("a", "hello", {"Name": ("String", "e")}), ("b", "world", None)]
    ok, failed = case.batch_result(consumer.post(tc.batch_params(entries), timeout=120))
    case.assertEqual(sorted(ok), ["a", "b"])
    case.assertEqual(failed, {})


class LimitsTestCase(tc.ConsumerTestCase):
    def setUp(self):
        pass  # each test starts its consumer with its own options

    def assertRssBounded(self, consumer):
        hwm = proc_status_kb(consumer.proc.pid, "VmHWM")
        if is_asan(consumer):
            print("# AddressSanitizer build: peak RSS %d KiB not checked" % hwm,
                  file=sys.stderr)
            return hwm
        self.assertLess(hwm, RSS_LIMIT_KB, "ep-consumer's peak RSS was %d KiB" % hwm)
        return hwm


class TestBodies(LimitsTestCase):
    def check_stream(self, chunked):
        consumer = self.start()
        sent, reply = stream_body(consumer.port, chunked)
        self.assertEqual(status_of(reply), 413, reply[:400])
        self.assertIn(b"Connection: close", reply)
        self.assertIn(b"RequestEntityTooLarge", reply)
        # Refused when the headers arrived (declared) or soon after 4 MiB (chunked):
        # far from the 512 MiB the client meant to send
        self.assertLess(sent, 64 * MiB, "the client could send %d bytes first" % sent)
        hwm = self.assertRssBounded(consumer)
        counters = stats(consumer)
        self.assertEqual(counters["requests_too_large"], 1, counters)
        self.assertEqual(counters["body_bytes"], 0, counters)
        normal_batch(consumer, self)
        print("# %s: %d bytes sent before the 413, peak RSS %d KiB"
              % ("chunked" if chunked else "declared", sent, hwm), file=sys.stderr)

    def test_declared_512_mib(self):
        self.check_stream(chunked=False)

    def test_chunked_512_mib(self):
        self.check_stream(chunked=True)

    def test_declared_json_protocol(self):
        consumer = self.start()
        sock = socket.create_connection(("127.0.0.1", consumer.port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                     b"X-Amz-Target: AmazonSQS.SendMessageBatch\r\n"
                     b"Content-Length: 2147483648\r\n\r\n")
        reply = read_reply(sock, 10.0)
        sock.close()
        self.assertEqual(status_of(reply), 413, reply)
        self.assertIn(b"x-amzn-query-error: RequestEntityTooLarge;Sender", reply)
        self.assertIn(b'"__type"', reply)

    def test_body_at_the_limit_accepted(self):
        # 4 MiB exactly is read (and refused by SQS's own 256 KiB rule, not 413)
        consumer = self.start()
        body = ("Action=SendMessageBatch&Version=2012-11-05&x=" + "a" * (4 * MiB)).encode()
        body = body[:4 * MiB]
        r = tc.http(consumer.url + "/api/event-batch", body, headers={"Content-Type": FORM})
        self.assertNotEqual(r.status, 413, r)

    def test_gzip_body_accepted(self):
        # EpProducer:compress-requests: the events are decoded and written
        consumer = self.start()
        entries = [("a", "hello", {"Name": ("String", "zipped")}), ("b", "world", None)]
        body = gzip.compress(urllib.parse.urlencode(tc.batch_params(entries)).encode())
        r = tc.http(consumer.url + "/api/event-batch", body,
                    headers={"Content-Type": FORM, "Content-Encoding": "gzip"})
        ok, failed = self.batch_result(r)
        self.assertEqual(sorted(ok), ["a", "b"])
        self.assertEqual(failed, {})
        consumer.wait_for(lambda: len(consumer.events()) == 2, "two events written")
        self.assertEqual(sorted(e["payload"] for e in consumer.events()), ["hello", "world"])

    def test_gzip_bomb(self):
        # 1 GiB of zeros in about 1 MiB: under the 4 MiB body limit, so read;
        # decoding stops past 4 MiB decompressed: 413, RSS bounded
        consumer = self.start()
        bomb = gzip_zeros(1024 * MiB)
        self.assertLess(len(bomb), 4 * MiB)
        r = tc.http(consumer.url + "/api/event-batch", bomb,
                    headers={"Content-Type": FORM, "Content-Encoding": "gzip"}, timeout=120)
        self.assertEqual(r.status, 413, r)
        self.assertIn(b"RequestEntityTooLarge", r.body)
        hwm = self.assertRssBounded(consumer)
        normal_batch(consumer, self)
        print("# gzip bomb: 1 GiB of zeros in %d bytes: 413, peak RSS %d KiB"
              % (len(bomb), hwm), file=sys.stderr)

    def test_gzip_corrupt_and_unknown_encoding(self):
        consumer = self.start()
        r = tc.http(consumer.url + "/api/event-batch", b"\x1f\x8bnot gzip at all",
                    headers={"Content-Type": FORM, "Content-Encoding": "gzip"})
        self.assertEqual(r.status, 400, r)
        r = tc.http(consumer.url + "/api/event-batch", b"whatever",
                    headers={"Content-Type": FORM, "Content-Encoding": "br"})
        self.assertEqual(r.status, 415, r)
        normal_batch(consumer, self)

    def test_bodies_in_progress_share_a_budget(self):
        # Five declared 4 MiB bodies at once, none finished: the fifth passes
        # the 16 MiB budget and gets 503 with Retry-After
        consumer = self.start()
        socks = []
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", consumer.port), timeout=10)
            self.addCleanup(s.close)
            s.sendall(b"POST /api/event-batch HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                      b"Content-Length: %d\r\n\r\n" % (FORM.encode(), 4 * MiB - 1))
            socks.append(s)
            try:
                s.sendall(b"x" * (4 * MiB - 2))  # all but one byte
            except (BrokenPipeError, ConnectionResetError):
                pass  # this one was refused
        consumer.wait_for(lambda: stats(consumer)["requests_overloaded"] >= 1,
                          "a request refused for the budget", timeout=20)
        replies = []
        for s in socks:
            s.setblocking(False)
            try:
                replies.append(s.recv(4096))
            except (BlockingIOError, ConnectionResetError):
                replies.append(b"")
        refused = [r for r in replies if r]
        self.assertEqual(len(refused), 1, replies)
        self.assertEqual(status_of(refused[0]), 503, refused[0])
        self.assertIn(b"Retry-After: 1", refused[0])
        for s in socks:
            s.close()
        consumer.wait_for(lambda: stats(consumer)["body_bytes"] == 0,
                          "the bodies' memory released", timeout=20)
        normal_batch(consumer, self)
        self.assertRssBounded(consumer)


def open_idle(port, count):
    """count connections that send nothing, all established."""
    socks = []
    poller = select.poll()
    pending = {}
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, 115):  # EINPROGRESS
            raise AssertionError("connect: %s" % os.strerror(err))
        socks.append(s)
        pending[s.fileno()] = s
        poller.register(s, select.POLLOUT)
    deadline = time.monotonic() + 60
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError("%d connections not established" % len(pending))
        for fd, _ in poller.poll(1000):
            s = pending.pop(fd)
            poller.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise AssertionError("connect: %s" % os.strerror(err))
    return socks


def wait_all_closed(socks, timeout, at_least=None):
    """Waits until every socket (or at_least of them) reads end-of-file (or
    a reset), for at most timeout. -> when the first one did (monotonic)."""
    if at_least is None:
        at_least = len(socks)
    deadline = time.monotonic() + timeout
    poller = select.poll()
    open_ = {}
    first = None
    for s in socks:
        open_[s.fileno()] = s
        poller.register(s, select.POLLIN)
    while len(socks) - len(open_) < at_least:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("%d of %d idle connections still open after %.0f s"
                                 % (len(open_), len(socks), timeout))
        for fd, _ in poller.poll(int(left * 1000) + 1):
            s = open_.pop(fd)
            poller.unregister(fd)
            first = first or time.monotonic()
            try:
                if s.recv(1) != b"":
                    raise AssertionError("an idle connection received data")
            except ConnectionResetError:
                pass
    return first


class TestConnections(LimitsTestCase):
    def setUp(self):
        if raise_nofile(IDLE_CONNECTIONS + 1000) < IDLE_CONNECTIONS + 200:
            self.skipTest("RLIMIT_NOFILE's hard limit is under %d" % (IDLE_CONNECTIONS + 200))

    def close_all(self, socks):
        for s in socks:
            s.close()

    def test_idle_connections_time_out(self):
        # 2,000 connections that send nothing, all under the limit: a normal
        # batch is still answered while they are open, and the idle timeout
        # closes every one of them, none before it. (libsoup accepts one
        # connection per main-loop iteration, each costing more as sockets
        # pile up: 2 s of CPU for 2,000, more on a busy machine, hence the
        # 10 s timeout.)
        idle_timeout = 10
        consumer = self.start("--idle-timeout", str(idle_timeout), "--max-connections", "2500")
        count = 500 if is_asan(consumer) else IDLE_CONNECTIONS  # memory checks, not scale
        opened = time.monotonic()
        socks = open_idle(consumer.port, count)
        self.addCleanup(self.close_all, socks)
        entries = [("a", "hello", None)]
        ok, failed = self.batch_result(consumer.post(tc.batch_params(entries), timeout=120))
        self.assertEqual(list(ok), ["a"])
        counters = stats(consumer)
        print("# %d connections open when the batch was answered" % counters["connections"],
              file=sys.stderr)
        self.assertGreater(counters["connections"], count // 4, counters)
        self.assertEqual(counters["connections_refused"] + counters["connections_evicted"], 0,
                         counters)
        first = wait_all_closed(socks, timeout=120)
        elapsed = time.monotonic() - opened
        self.assertGreaterEqual(first - opened, idle_timeout - 0.5,
                                "an idle connection was closed before --idle-timeout")
        consumer.wait_for(lambda: stats(consumer)["connections"] <= 1,
                          "the consumer's count of open connections back to 1", timeout=30)
        hwm = self.assertRssBounded(consumer)
        print("# %d idle connections all closed %.1f s after they were opened "
              "(--idle-timeout %d), peak RSS %d KiB"
              % (count, elapsed, idle_timeout, hwm), file=sys.stderr)

    def test_connection_limit_evicts_idle(self):
        # Past --max-connections the oldest idle connection makes room: the
        # 2,000 idle ones cannot lock a client out
        consumer = self.start("--max-connections", "100")
        count = 500 if is_asan(consumer) else IDLE_CONNECTIONS
        socks = open_idle(consumer.port, count)
        self.addCleanup(self.close_all, socks)
        consumer.wait_for(lambda: stats(consumer)["connections_evicted"]
                          >= count - 100, "the oldest idle connections closed",
                          timeout=120)
        normal_batch(consumer, self)
        counters = stats(consumer)
        self.assertLessEqual(counters["connections"], 100, counters)
        # The client sees the evicted ones closed
        wait_all_closed(socks, timeout=60, at_least=count - 100)
        self.assertRssBounded(consumer)

    def test_keep_alive_closed_by_client_frees_its_descriptor(self):
        # libsoup 3.2.3 never closes the server side of a keep-alive connection
        # that the client closes between requests: 1,500 of them were 1,500
        # descriptors held for good (and, past RLIMIT_NOFILE, no more accepts)
        consumer = self.start()
        fd_dir = "/proc/%d/fd" % consumer.proc.pid
        before = len(os.listdir(fd_dir))
        request = (b"GET /control/stats HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                   % consumer.port)
        for _ in range(300 if is_asan(consumer) else 1500):
            s = socket.create_connection(("127.0.0.1", consumer.port), timeout=10)
            s.sendall(request)
            reply = b""
            while not reply.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                self.assertTrue(chunk, reply)
                reply += chunk
            s.close()
        consumer.wait_for(lambda: len(os.listdir(fd_dir)) <= before,
                          "ep-consumer's descriptors back to %d (%d now)"
                          % (before, len(os.listdir(fd_dir))), timeout=20)
        consumer.wait_for(lambda: stats(consumer)["connections"] <= 1,
                          "the closed connections forgotten", timeout=10)

    def test_many_connections_do_not_grow_memory(self):
        # libsoup 3.2.3 keeps ~0.5 KiB of every accepted connection and ~2 KiB
        # of every keep-alive connection closed between requests: 6,000 of
        # them grew the RSS by ~15 MiB. ep-consumer drops the first leak and
        # stops keep-alive after 1,024 of the second (~2 MiB)
        consumer = self.start()
        if is_asan(consumer):
            self.skipTest("RSS is not comparable under AddressSanitizer (and 7,000 requests slow)")
        count = 6000

        def keep_alive_requests(n):
            request = (b"GET /control/stats HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                       % consumer.port)
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", consumer.port), timeout=30)
                s.sendall(request)
                reply = b""
                while not reply.rstrip().endswith(b"}"):
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, reply)
                    reply += chunk
                s.close()

        keep_alive_requests(200)  # the allocator's arenas, warm
        consumer.wait_for(lambda: stats(consumer)["connections"] <= 1, "warm-up done",
                          timeout=30)
        before = proc_status_kb(consumer.proc.pid, "VmRSS")
        keep_alive_requests(count)
        consumer.wait_for(lambda: stats(consumer)["connections"] <= 1,
                          "the connections closed", timeout=60)
        after = proc_status_kb(consumer.proc.pid, "VmRSS")
        print("# %d keep-alive connections: RSS %d -> %d KiB" % (count, before, after),
              file=sys.stderr)
        self.assertLess(after - before, 6 * 1024,
                        "RSS grew by %d KiB over %d connections" % (after - before, count))
        counters = stats(consumer)
        self.assertGreaterEqual(counters["keep_alive_closed_idle"], 1024, counters)

    def test_idle_keep_alive_times_out(self):
        # After a request, a keep-alive connection that sends nothing more is
        # closed by --idle-timeout (libsoup 3.2.3 alone never closes it)
        consumer = self.start("--idle-timeout", "1")
        s = socket.create_connection(("127.0.0.1", consumer.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /control/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        reply = read_reply(s, 15.0)
        self.assertEqual(status_of(reply), 200, reply)
        self.assertGreater(time.monotonic() - started, 0.5)
        consumer.wait_for(lambda: stats(consumer)["connections"] <= 1,
                          "the idle connection forgotten", timeout=10)

    def test_slow_request_times_out(self):
        # A byte every 0.3 s keeps the idle timeout away; the request's own
        # deadline closes it
        consumer = self.start("--idle-timeout", "10", "--request-timeout", "1")
        sock = socket.create_connection(("127.0.0.1", consumer.port), timeout=10)
        self.addCleanup(sock.close)
        head = b"POST /api/event-batch HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        started = time.monotonic()
        closed = False
        for i in range(len(head)):
            sock.send(head[i:i + 1])
            if select.select([sock], [], [], 0.3)[0]:
                try:
                    closed = sock.recv(1) == b""
                except ConnectionResetError:
                    closed = True
                break
            if time.monotonic() - started > 20:
                break
        self.assertTrue(closed, "the slow request was not closed")
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(stats(consumer)["requests_timed_out"], 1)
        normal_batch(consumer, self)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit("usage: %s PATH-TO-ep-consumer [unittest options]" % sys.argv[0])
    tc.EP_CONSUMER = os.path.abspath(args.pop(0))
    unittest.main(argv=[sys.argv[0], "-v"] + args)
