#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""ep-consumer --sink nats://... against a real nats-server on loopback.

Usage: test-gateway.py EP-CONSUMER EP-STREAM [unittest options]
Exits 77 (skipped) when nats-server is not installed.
"""

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("test_consumer", os.path.join(HERE, "test-consumer.py"))
tc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tc)

EP_STREAM = None
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


class Nats:
    """One nats-server with JetStream, its store in a temporary directory."""

    def __init__(self, port=None):
        self.dir = tempfile.TemporaryDirectory(prefix="ep-gateway-nats-")
        self.port = port or free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir.name, "log"), "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                      "-sd", self.dir.name], stdout=self.log, stderr=self.log)
        wait_for(self.accepting, "nats-server on port %d" % self.port)

    def accepting(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stopped(self):
        """Every thread of nats-server in state T. kill (SIGSTOP) returns before that:
        one thread is woken to take the signal and stop the others, and until it runs
        (seconds on a loaded machine) the other threads can still store and acknowledge."""
        task = "/proc/%d/task" % self.proc.pid
        try:
            for tid in os.listdir(task):
                with open(os.path.join(task, tid, "stat")) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "T":
                        return False
        except FileNotFoundError:  # a thread that just ended
            return False
        return True

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)
        wait_for(self.stopped, "nats-server stopped by SIGSTOP")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stream(self, *args):
        return subprocess.run([EP_STREAM, "--server", self.url, "--timeout", "5000"] + list(args),
                              capture_output=True, text=True, timeout=60)


def entries(prefix, n):
    return [("%s-%08d-0000-4000-8000-000000000000" % (prefix, i), "payload %d" % i,
             tc.event_attributes("gw_event", '{"app-name":"test"}')) for i in range(n)]


def results(reply):
    root = reply.xml()
    ok = [e.findtext(tc.Q + "Id") for e in root.iter(tc.Q + "SendMessageBatchResultEntry")]
    failed = [(e.findtext(tc.Q + "Id"), e.findtext(tc.Q + "SenderFault"), e.findtext(tc.Q + "Code"))
              for e in root.iter(tc.Q + "BatchResultErrorEntry")]
    return ok, failed


class GatewayTest(unittest.TestCase):
    def setUp(self):
        self.nats = None
        self.consumers = []

    def tearDown(self):
        for c in self.consumers:
            c.stop(signal.SIGKILL)
        if self.nats is not None:
            self.nats.stop()

    def gateway(self, *args):
        c = tc.Consumer("--sink", self.nats.url if self.nats else "nats://127.0.0.1:%d" % free_port(),
                        "--create-stream", "-q", *args)
        self.consumers.append(c)
        return c

    def healthy(self, c):
        try:
            return tc.http(c.url + "/health").status == 200
        except OSError:  # a connection queued on a killed instance's socket
            return False

    def test_no_engine_503(self):
        c = self.gateway()
        r = tc.http(c.url + "/health")
        self.assertEqual(r.status, 503, r)
        r = c.post(tc.batch_params(entries("aaaaaaaa", 2)))
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.headers["Retry-After"], "1")
        self.assertEqual(c.stats()["accepted"], 0)

    def test_engine_comes_up(self):
        port = free_port()
        c = tc.Consumer("--sink", "127.0.0.1:%d" % port, "--create-stream", "-q")
        self.consumers.append(c)
        self.assertEqual(tc.http(c.url + "/health").status, 503)
        self.nats = Nats(port)
        wait_for(lambda: self.healthy(c), "the gateway's health once nats-server is up")
        r = c.post(tc.batch_params(entries("bbbbbbbb", 3)))
        self.assertEqual(r.status, 200, r)
        ok, failed = results(r)
        self.assertEqual((len(ok), failed), (3, []))

    def test_server_list(self):
        """A list of servers, the first one down: the gateway uses the next."""
        self.nats = Nats()
        c = tc.Consumer("--sink", "127.0.0.1:%d,%s" % (free_port(), self.nats.url),
                        "--create-stream", "-q")
        self.consumers.append(c)
        wait_for(lambda: self.healthy(c), "health through the second server")
        ok, failed = results(c.post(tc.batch_params(entries("abababab", 2))))
        self.assertEqual((len(ok), failed), (2, []))

    def test_confirmed_entries_are_in_the_stream(self):
        self.nats = Nats()
        c = self.gateway()
        wait_for(lambda: self.healthy(c), "health")
        batch = entries("cccccccc", 10)
        r = c.post(tc.batch_params(batch))
        ok, failed = results(r)
        self.assertEqual((r.status, len(ok), failed), (200, 10, []))
        # A retry of the same ids: confirmed, and deduplicated by the stream
        r = c.post(tc.batch_params(batch[:4]), endpoint="/api/public/event-batch")
        self.assertEqual(len(results(r)[0]), 4)
        ids = self.nats.stream("ids")
        self.assertEqual(ids.returncode, 0, ids.stderr)
        self.assertEqual(ids.stdout.split(), [e[0] for e in batch])
        dump = self.nats.stream("dump").stdout.splitlines()
        self.assertIn('"payload":"payload 3"', dump[3])
        self.assertIn('"endpoint":"/api/event-batch"', dump[3])
        self.assertIn('"name":"gw_event"', dump[3])
        with tempfile.NamedTemporaryFile("w", suffix=".ids") as f:
            f.write("\n".join(e[0] for e in batch) + "\nnot-sent\n")
            f.flush()
            check = self.nats.stream("check", f.name)
        self.assertEqual(check.returncode, 1, check.stdout)
        self.assertIn("missing not-sent", check.stdout)
        self.assertIn("1 missing, 0 duplicated", check.stdout)

    def test_no_ack_fails_entries_for_retry(self):
        """A frozen engine: no acknowledgement, so nothing is confirmed."""
        self.nats = Nats()
        c = self.gateway("--sink-timeout", "700")
        wait_for(lambda: self.healthy(c), "health")
        self.nats.freeze()
        start = time.monotonic()
        r = c.post(tc.batch_params(entries("dddddddd", 3)))
        elapsed = time.monotonic() - start
        self.nats.proc.send_signal(signal.SIGCONT)
        if r.status == 503:  # the client noticed the frozen server first
            return
        ok, failed = results(r)
        self.assertEqual(ok, [])
        self.assertEqual(len(failed), 3)
        for _, sender_fault, code in failed:
            self.assertEqual((sender_fault, code), ("false", "InternalError"))
        self.assertGreaterEqual(elapsed, 0.6)

    def test_confirm_before_ack_is_the_flaw(self):
        """The debug switch confirms what the frozen engine never stored."""
        self.nats = Nats()
        c = self.gateway("--sink-timeout", "700", "--confirm-before-ack")
        wait_for(lambda: self.healthy(c), "health")
        self.nats.freeze()
        r = c.post(tc.batch_params(entries("eeeeeeee", 3)))
        c.stop(signal.SIGKILL)
        self.nats.proc.send_signal(signal.SIGCONT)
        self.assertEqual((r.status, len(results(r)[0])), (200, 3))

    def test_client_gone_while_held(self):
        self.nats = Nats()
        c = self.gateway("--sink-timeout", "500")
        wait_for(lambda: self.healthy(c), "health")
        self.nats.freeze()
        body = "&".join("%s=%s" % kv for kv in tc.batch_params(entries("ffffffff", 2)))
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", c.port))
            s.sendall(("POST /api/event-batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
                       "application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(body), body)).encode())
            s.close()
        wait_for(lambda: c.stats()["requests"] == 3, "three held requests")
        self.nats.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: self.healthy(c), "health after the timeouts")
        self.assertIsNone(c.proc.poll())

    def test_stop_while_held(self):
        """SIGTERM with a request held: a clean exit, no confirmation, nothing counted."""
        import threading
        self.nats = Nats()
        c = self.gateway("--sink-timeout", "60000")
        wait_for(lambda: self.healthy(c), "health")
        self.nats.freeze()
        replies = []

        def post():
            try:
                replies.append(c.post(tc.batch_params(entries("abcdabcd", 2)), timeout=30))
            except OSError as e:
                replies.append(e)
        t = threading.Thread(target=post)
        t.start()
        wait_for(lambda: c.stats()["requests"] == 1, "the request, held")
        self.assertEqual(c.stop(signal.SIGTERM), 0)
        t.join()
        self.nats.proc.send_signal(signal.SIGCONT)
        self.assertIn("1 requests, 0 events accepted", c.stderr)
        self.assertNotIsInstance(replies[0], tc.Reply)  # no confirmation: the connection closed

    def test_reuse_port(self):
        self.nats = Nats()
        port = free_port()
        a = self.gateway("--reuse-port", "--port", str(port))
        b = self.gateway("--reuse-port", "--port", str(port))
        self.assertEqual((a.port, b.port), (port, port))
        wait_for(lambda: self.healthy(a), "health")
        a.stop(signal.SIGKILL)
        wait_for(lambda: self.healthy(b), "the second instance alone")

    def test_without_reuse_port_the_port_is_taken(self):
        port = free_port()
        a = tc.Consumer("--port", str(port), "-q")
        self.consumers.append(a)
        with self.assertRaises(AssertionError):
            self.consumers.append(tc.Consumer("--port", str(port), "-q"))

    def test_file_sink_health(self):
        c = tc.Consumer("-q")
        self.consumers.append(c)
        self.assertEqual(tc.http(c.url + "/health").status, 200)


def main():
    global EP_STREAM
    if len(sys.argv) < 3:
        sys.exit("usage: test-gateway.py EP-CONSUMER EP-STREAM [unittest options]")
    tc.EP_CONSUMER = sys.argv[1]
    EP_STREAM = sys.argv[2]
    if not os.access(NATS_SERVER, os.X_OK):
        print("SKIP: nats-server is not installed")
        sys.exit(77)
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
